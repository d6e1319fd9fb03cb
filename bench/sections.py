"""docs/performance.md's building blocks: number formatting, tables, and one
section per metric, each from its result JSON."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

TIMES = "\u00d7"  # the multiplication sign

# ------------------------------------------------------------------ formatting


def num(value: float | None, unit: str = "") -> str:
    """A figure with a sensible number of digits, and its unit.

    >>> num(0.01234, "ms"), num(39252.0, "events/s"), num(3.0, "%"), num(None)
    ('0.0123 ms', '39,252 events/s', '3%', 'n/a')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "yes/no":
        return "yes" if value >= 1 else "no"
    size = abs(value)
    if size < 1000 and value == int(value):
        text = str(int(value))
    elif size >= 1000:
        text = f"{value:,.0f}"
    elif size >= 100:
        text = f"{value:.0f}"
    elif size >= 10:
        text = f"{value:.1f}"
    elif size >= 1:
        text = f"{value:.2f}"
    elif size >= 0.1:
        text = f"{value:.3f}"
    elif size == 0:
        text = "0"
    else:
        text = f"{value:.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", TIMES, "/s") else f"{text} {unit}"


def times(value: float | None) -> str:
    return "—" if value is None else f"{num(value)}{TIMES}"


def target_text(check: dict[str, Any]) -> str:
    target = check.get("target")
    if not target:
        return "—"
    op = "≤" if target["op"] == "<=" else "≥"
    if target["on"] == "ratio":
        return f"{check['ratio_label'].split(' (')[0]} {op} {num(target['value'])}{TIMES}"
    if check["unit"] == "yes/no":
        return "yes"
    return f"{op} {num(target['value'], check['unit'])}"


def result_text(check: dict[str, Any]) -> str:
    if check.get("passed") is None:
        return "—" if not check.get("target") else "n/a"
    return "pass" if check["passed"] else "**MISS**"


def rst_to_md(text: str) -> str:
    """A module docstring's reST roles and literals as Markdown."""
    text = re.sub(r":\w+:`~?([^`<]+?)(?: <[^>]+>)?`", lambda m: f"`{m.group(1)}`", text)
    return text.replace("``", "`")


def doc_body(module: str) -> str:
    """The docstring of ``bench.<module>`` without its first line, as Markdown."""
    import importlib

    doc = importlib.import_module(f"bench.{module}").__doc__ or ""
    lines = doc.strip().splitlines()[1:]
    return rst_to_md("\n".join(lines).strip())


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ------------------------------------------------------------------ SVG charts


def _lat(s: dict[str, Any], *keys: str) -> str:
    return " / ".join(num(s.get(k)) for k in keys)


def section_edge(r: dict[str, Any], chart: str | None) -> list[str]:
    d = r["details"]
    rows = []
    for channels, run in d["runs"].items():
        load = run["loaded"].get("load", {})
        rows.append(
            [
                channels,
                _lat(run["baseline_idle"]["latency_ms"], "p50", "p99"),
                _lat(run.get("baseline_hop_idle", {}).get("latency_ms", {}), "p50", "p99"),
                _lat(run["idle"]["latency_ms"], "p50", "p99", "p999", "max"),
                _lat(run["loaded"]["latency_ms"], "p50", "p99", "p999", "max"),
                _lat(run["baseline_loaded"]["latency_ms"], "p50", "p99"),
                f"{num(load.get('rps'))} req/s",
                str(run["idle"]["missed"] + run["loaded"]["missed"]),
            ]
        )
    out = [
        table(
            [
                "channels",
                "bare gpiozero p50 / p99",
                "with a queue hop p50 / p99",
                "idle p50 / p99 / p99.9 / max",
                "loaded p50 / p99 / p99.9 / max",
                "bare gpiozero loaded p50 / p99",
                "load achieved",
                "missed edges",
            ],
            rows,
        ),
        "",
        f"All in milliseconds; {r['details']['runs'][next(iter(d['runs']))]['idle']['edges']:,} "
        f"edges per cell. Load: {d['connections']} connections on `{d.get('heaviest')}` "
        f"({d['load_tool']}), the slowest GET endpoint in the survey below.",
    ]
    deb = d.get("debounced_50ms")
    if deb:
        s = deb["latency_minus_50ms_ms"]
        out += [
            "",
            f"With the default 50 ms response time (4 channels, {deb['edges']} edges), "
            f"edge to relay minus 50 ms: p50 {num(s.get('p50'), 'ms')}, p99 "
            f"{num(s.get('p99'), 'ms')}, max {num(s.get('max'), 'ms')}: the engine's "
            "timed wake-up for the end of the debounce.",
        ]
    if chart:
        out += ["", f"![edge-to-relay latency percentiles]({chart})"]
    survey = d.get("survey_ms")
    if survey:
        out += [
            "",
            "Survey for the heaviest endpoint (median of one request at a time, ms): "
            + ", ".join(f"`{p}` {num(v)}" for p, v in sorted(survey.items(), key=lambda kv: -kv[1]))
            + ".",
        ]
    return out


def section_eventlog(r: dict[str, Any], edge: dict[str, Any] | None) -> list[str]:
    d = r["details"]
    rows = []
    for label, key in (
        ("the writer (group commit)", "writer"),
        ("sqlite3, 1 insert per transaction (baseline)", "sqlite_one_per_transaction"),
        ("sqlite3, 500 rows per transaction (reference)", "sqlite_500_per_transaction"),
    ):
        x = d[key]
        rows.append(
            [
                label,
                num(x["events_per_s"]),
                num(x["write_bytes_per_event"]),
                num(x["wchar_per_event"]),
                num(x["write_calls_per_event"]),
            ]
        )
    out = [table(["", "events/s", "write_bytes / event", "wchar / event", "write() / event"], rows)]
    w = d["writer"]
    out += [
        "",
        f"The writer ran {w['events']:,} events in {w['commits']} commits "
        f"({num(w['rows_per_commit'])} rows each), dropped {w['dropped']}; the file grew "
        f"{num(w['file_bytes_per_event'])} bytes per event.",
        "",
    ]
    rows = [
        [name, str(x["events"]), _lat(x["latency_ms"], "p50", "p99", "max")]
        for name, x in d["paced"].items()
    ]
    out.append(table(["submitted at", "events", "submit to committed p50 / p99 / max (ms)"], rows))
    if edge:
        runs = edge["details"]["runs"]
        rows = [
            [c, "idle", _lat(run["idle"]["commit_ms"], "p50", "p99", "max")]
            for c, run in runs.items()
        ]
        rows += [
            [c, "loaded", _lat(run["loaded"]["commit_ms"], "p50", "p99", "max")]
            for c, run in runs.items()
        ]
        out += [
            "",
            "Edge to committed through the whole io process (the edge bench, about "
            "a thousand edges a second):",
            "",
            table(["channels", "", "p50 / p99 / max (ms)"], rows),
        ]
    return out


def section_history(r: dict[str, Any], slow: dict[str, Any] | None) -> list[str]:
    rows = []
    sizes = dict(r["details"]["sizes"])
    if slow:
        for n, x in slow["details"]["sizes"].items():
            sizes.setdefault(n, x | {"slow": True})
    for n, x in sorted(sizes.items(), key=lambda kv: int(kv[0])):
        tag = " (bench-full)" if x.get("slow") else ""
        rows.append(
            [
                f"{int(n):,}{tag}",
                _lat(x["latency_ms"], "p50", "p99", "max"),
                _lat(x["plain_sqlite_ms"], "p50", "p99"),
                str(x["queries"]),
                "yes" if x["uses_index"] else "**no**",
            ]
        )
    first = next(iter(r["details"]["sizes"].values()))
    out = [
        table(
            [
                "events",
                "newest() p50 / p99 / max (ms)",
                "plain sqlite3 p50 / p99 (ms)",
                "queries",
                "index used",
            ],
            rows,
        ),
        "",
        f"The SQL (SQLAlchemy's SQLite dialect adds `OFFSET ?` to every `LIMIT`; it is 0 "
        f"here, the paging is by keyset): `{first['sql']}`",
        "",
        "Its plan: " + "; ".join(f"`{line}`" for line in first["plan"]),
    ]
    if not slow:
        out += ["", "The 10M-event run is in `make bench-full`; no result from it is present."]
    return out


def section_api(r: dict[str, Any]) -> list[str]:
    d = r["details"]
    rows = []
    for label, key in (("AlarmBridge", "alarmbridge"), ("bare FastAPI, same body", "baseline")):
        many, one = d[key]["50"], d[key]["1"]
        rows.append(
            [
                label,
                num(many["rps"]),
                _lat(many["latency_ms"], "p50", "p90", "p99"),
                f"{many['errors']} / {many['non2xx']}",
                num(one["rps"]),
                _lat(one["latency_ms"], "p50", "p99"),
            ]
        )
    out = [
        table(
            [
                "",
                "req/s, 50 conn.",
                "p50 / p90 / p99 (ms)",
                "errors / non-2xx",
                "req/s, 1 conn.",
                "1 conn. p50 / p99 (ms)",
            ],
            rows,
        ),
        "",
        f"`GET {d['path']}`: {d['body_bytes']:,} bytes, {d['events_in_log']:,} events in the "
        f"log; load by {d['load_tool']}.",
    ]
    if d.get("endpoints_p50_ms"):
        out += [
            "",
            "Every GET endpoint, one request at a time (median, ms): "
            + ", ".join(f"`{p}` {num(v)}" for p, v in d["endpoints_p50_ms"].items())
            + ".",
        ]
    return out


def section_fanout(r: dict[str, Any], chart: str | None) -> list[str]:
    d = r["details"]
    rows = []
    for name, x in d["phases"].items():
        load = x.get("load")
        rows.append(
            [
                name,
                _lat(x["sse_ms"], "p50", "p99", "max"),
                _lat(x["direct_ms"], "p50", "p99", "max"),
                f"{x['receipts']:,} of {x['expected']:,}",
                f"{num(load['rps'])} req/s" if load else "—",
            ]
        )
    out = [
        table(
            [
                "",
                "SSE clients p50 / p99 / max (ms)",
                "direct subscription p50 / p99 / max",
                "receipts",
                "API load achieved",
            ],
            rows,
        )
    ]
    if chart:
        out += ["", f"![fan-out latency percentiles]({chart})"]
    return out


def section_memory(r: dict[str, Any], slow: dict[str, Any] | None) -> list[str]:
    out = []
    for label, res in (("make bench", r), ("make bench-full", slow)):
        if res is None:
            continue
        d = res["details"]
        rows = [
            [k if not k.isdigit() else f"{int(k):,}", num(v["web"]), num(v["io"])]
            for k, v in d["rss_mib"].items()
        ]
        out += [
            f"{label} ({res['started'][:10]}):",
            "",
            table(["requests", "web RSS (MiB)", "io RSS (MiB)"], rows),
            "",
            f"Bare FastAPI baseline: {num(d['baseline_web_rss_mib']['start'])} MiB at "
            "start, "
            + ", ".join(
                f"{num(v)} MiB after {int(k):,} requests"
                for k, v in d["baseline_web_rss_mib"].items()
                if k != "start"
            )
            + f"; bare gpiozero script: {num(d['baseline_gpiozero_rss_mib'])} MiB. Request "
            f"mix: " + ", ".join(f"`{p}`" for p in d["paths"]) + ".",
            "",
        ]
    if slow is None:
        out += ["The 100,000-request run is in `make bench-full`; no result from it is present."]
    return out


def section_idle(r: dict[str, Any]) -> list[str]:
    d = r["details"]
    rows = []
    for name, x in d["processes"].items():
        busiest = ", ".join(
            num(t["voluntary_per_s"] + t["involuntary_per_s"]) for t in x["per_thread"][:4]
        )
        rows.append(
            [
                name,
                str(x["threads"]),
                num(x["wakeups_per_s"]),
                busiest,
                num(x["cpu_s"], "s"),
                num(x["cpu_percent_of_a_core"], "%"),
            ]
        )
    return [
        table(
            ["process", "threads", "wake-ups/s", "busiest threads (/s)", "CPU", "of one core"], rows
        ),
        "",
        f"Measured over {num(d['seconds'], 's')}, {d['channels']} inputs.",
    ]


def section_startup(r: dict[str, Any]) -> list[str]:
    d = r["details"]

    def stats(values: list[float]) -> list[str]:
        ordered = sorted(values)
        return [num(ordered[len(ordered) // 2]), num(ordered[0]), num(ordered[-1])]

    rows = [
        ["io, restart (100k events): relays safe", *stats(d["io_restart_100k"]["relays_safe_ms"])],
        ["io, restart: socket answers", *stats(d["io_restart_100k"]["socket_ready_ms"])],
        ["io, first boot: relays safe", *stats(d["io_first_boot"]["relays_safe_ms"])],
        ["io, first boot: socket answers", *stats(d["io_first_boot"]["socket_ready_ms"])],
        ["alarmbridge run: first HTTP 200", *stats(d["run_first_http_200_ms"])],
        ["baseline: bare gpiozero, outputs claimed", *stats(d["baseline_gpiozero_safe_ms"])],
        ["baseline: interpreter start", *stats(d["baseline_interpreter_ms"])],
        ["baseline: bare FastAPI, first HTTP 200", *stats(d["baseline_fastapi_first_200_ms"])],
    ]
    imports = d["imports"]
    return [
        table(["from process start to", "median (ms)", "min", "max"], rows),
        "",
        f"{d['reps']} starts of each. Imports of the io process before it builds the board: "
        f"{num(imports['total_ms'], 'ms')} in all; each package's own share: "
        + ", ".join(f"{name} {num(ms, 'ms')}" for name, ms in imports["own_ms_by_package"].items())
        + ".",
    ]


def section_sia(r: dict[str, Any]) -> list[str]:
    d = r["details"]
    keys = ("p50", "p99", "p999", "max")
    rows = [
        ["DC-09 frame to relay", _lat(d["frame_to_relay_ms"], *keys),
         str(d["frame_to_relay_ms"].get("missed", 0)), "—"],
        ["wired edge to relay, quiet", _lat(d["wired_edge_to_relay_ms"], *keys),
         str(d["wired_edge_to_relay_ms"].get("missed", 0)), "—"],
        ["wired edge to relay, flood of good frames",
         _lat(d["wired_edge_to_relay_during_flood_ms"], *keys),
         str(d["wired_edge_to_relay_during_flood_ms"].get("missed", 0)),
         num(d.get("flood_frames_per_s"))],
        ["wired edge to relay, flood of bad frames (NAK)",
         _lat(d["wired_edge_to_relay_during_bad_flood_ms"], *keys),
         str(d["wired_edge_to_relay_during_bad_flood_ms"].get("missed", 0)),
         num(d.get("bad_flood_frames_per_s"))],
    ]  # fmt: skip
    return [
        table(["what", "p50 / p99 / p99.9 / max (ms)", "missed", "frames/s"], rows),
        "",
        f"{d['frames']:,} frames, {d['edges']:,} wired edges per phase. The bad frames' "
        f"{d.get('bad_frames_refused', 0):,} refusals cost {d.get('sia_refused_rows', 0)} "
        "rows in the event log (`sia-refused`, summed per address and reason).",
    ]


# ------------------------------------------------------------------ the report
