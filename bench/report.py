"""Render docs/performance.md and its charts from the results JSON.

    python -m bench.report [--results bench/results] [--doc docs/performance.md]

Every figure in the document comes from a result file; nothing here is measured
or typed in. The charts are SVG written by hand (no plotting library).
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench.common import CHARTS, DOC, RESULTS, read_json

ORDER = [
    "edge",
    "eventlog",
    "history",
    "history_slow",
    "api",
    "fanout",
    "memory",
    "memory_slow",
    "idle",
    "startup",
]
TITLES = {
    1: "Edge to relay",
    2: "Durable event log",
    3: "History query",
    4: "API",
    5: "Live fan-out",
    6: "Memory",
    7: "Idle cost",
    8: "Start-up",
}
SECTION = {
    1: "edge",
    2: "eventlog",
    3: "history",
    4: "api",
    5: "fanout",
    6: "memory",
    7: "idle",
    8: "startup",
}
GREEN, RED, GREY, INK = "#2e7d32", "#c62828", "#9e9e9e", "#212121"
TIMES = "\u00d7"  # the multiplication sign
SERIES = ["#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#c62828", "#00838f"]


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


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        f"<title>{escape(title)}</title>\n"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def _text(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def summary_chart(checks: list[dict[str, Any]]) -> str:
    """One bar per target: how far the figure is from it (log scale; left of the line
    is inside the target)."""
    rows = [c for c in checks if c.get("target") and c.get("passed") is not None]
    left, right, row_h, top = 450, 150, 22, 40
    plot_w = 420
    width, height = left + plot_w + right, top + row_h * len(rows) + 40
    lo, hi = -2.0, 2.0  # 0.01x .. 100x of the target

    def x_of(share: float) -> float:
        v = min(max(math.log10(max(share, 1e-9)), lo), hi)
        return left + (v - lo) / (hi - lo) * plot_w

    body = [
        _text(
            10,
            20,
            "Each figure against its target (log scale): left of the line is within it",
            font_weight="bold",
        ),
    ]
    for tick, label in (
        (0.01, "1/100"),
        (0.1, "1/10"),
        (1, "target"),
        (10, "10" + TIMES),
        (100, "100" + TIMES),
    ):
        x = x_of(tick)
        colour = INK if tick == 1 else "#e0e0e0"
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" '
            f'y2="{top + row_h * len(rows)}" stroke="{colour}"/>'
        )
        body.append(_text(x, top + row_h * len(rows) + 16, label, text_anchor="middle", fill=GREY))
    for i, check in enumerate(rows):
        target = check["target"]
        value = check["value"] if target["on"] == "value" else check["ratio"]
        if value is None:
            continue
        if check["unit"] == "yes/no":
            share = 0.5 if value >= 1 else 2.0
        elif target["op"] == "<=":
            share = value / target["value"] if target["value"] else math.inf
        else:
            share = target["value"] / value if value else math.inf
        y = top + i * row_h
        colour = GREEN if check["passed"] else RED
        x0, x1 = x_of(1e-9), x_of(share)
        body.append(
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{row_h - 8}" fill="{colour}" opacity="0.8"/>'
        )
        slow = " (bench-full)" if check.get("bench", "").endswith("_slow") else ""
        label = f"{check['metric']}. {check['label']}{slow}"
        if len(label) > 70:
            label = label[:69] + "…"
        body.append(_text(left - 8, y + row_h / 2 + 4, label, text_anchor="end"))
        shown = num(value, TIMES if target["on"] == "ratio" else check["unit"])
        body.append(_text(left + plot_w + 8, y + row_h / 2 + 4, shown, fill=colour))
    return _svg(width, height, body, "AlarmBridge: every figure against its target")


def percentile_chart(
    panels: list[tuple[str, dict[str, list[list[float]]]]], title: str, x_label: str
) -> str:
    """Latency percentile plots, one panel per entry: x = latency (log), y = percentile
    on a tail scale (50, 90, 99, 99.9 %, max evenly spaced)."""
    panel_w, panel_h, margin_l, margin_t, gap = 300, 240, 60, 50, 30
    width = margin_l + len(panels) * (panel_w + gap) + 20
    height = margin_t + panel_h + 90
    all_values = [v for _, series in panels for curve in series.values() for _, v in curve if v > 0]
    if not all_values:
        return _svg(width, height, [_text(10, 20, "no data")], title)
    x_lo = math.floor(math.log10(min(all_values)))
    x_hi = math.ceil(math.log10(max(all_values)))
    if x_hi == x_lo:
        x_hi += 1

    def y_of(p: float) -> float:
        tail = -math.log10(max(1 - p / 100, 1e-4)) if p < 100 else 3.3
        return margin_t + panel_h - min(tail, 3.3) / 3.3 * panel_h

    body = [_text(10, 20, title, font_weight="bold")]
    names: list[str] = []
    for _, series in panels:
        for name in series:
            if name not in names:
                names.append(name)
    for k, (panel_title, series) in enumerate(panels):
        ox = margin_l + k * (panel_w + gap)

        def x_of(v: float, ox: float = ox) -> float:
            lv = math.log10(max(v, 10.0**x_lo))
            return ox + (lv - x_lo) / (x_hi - x_lo) * panel_w

        body.append(
            f'<rect x="{ox}" y="{margin_t}" width="{panel_w}" height="{panel_h}" '
            f'fill="none" stroke="#bdbdbd"/>'
        )
        body.append(
            _text(
                ox + panel_w / 2,
                margin_t - 8,
                panel_title,
                text_anchor="middle",
                font_weight="bold",
            )
        )
        for e in range(x_lo, x_hi + 1):
            x = x_of(10.0**e)
            body.append(
                f'<line x1="{x:.1f}" y1="{margin_t}" x2="{x:.1f}" '
                f'y2="{margin_t + panel_h}" stroke="#eeeeee"/>'
            )
            body.append(
                _text(x, margin_t + panel_h + 14, num(10.0**e), text_anchor="middle", fill=GREY)
            )
        for p, label in ((50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9"), (100, "max")):
            y = y_of(p)
            body.append(
                f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + panel_w}" y2="{y:.1f}" stroke="#eeeeee"/>'
            )
            if k == 0:
                body.append(_text(ox - 6, y + 4, label, text_anchor="end", fill=GREY))
        for name, curve in series.items():
            colour = SERIES[names.index(name) % len(SERIES)]
            points = " ".join(f"{x_of(v):.1f},{y_of(p):.1f}" for p, v in curve if p >= 50)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        body.append(
            _text(
                ox + panel_w / 2, margin_t + panel_h + 32, x_label, text_anchor="middle", fill=GREY
            )
        )
    legend_y = margin_t + panel_h + 56
    x = margin_l
    for i, name in enumerate(names):
        colour = SERIES[i % len(SERIES)]
        step = 40 + 7 * len(name)
        if x + step > width - 10 and x > margin_l:  # wrap the legend
            x, legend_y = margin_l, legend_y + 20
        body.append(
            f'<line x1="{x}" y1="{legend_y}" x2="{x + 24}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        body.append(_text(x + 30, legend_y + 4, name))
        x += step
    height = legend_y + 20
    return _svg(width, height, body, title)


# ------------------------------------------------------------------- sections


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


# ------------------------------------------------------------------ the report


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def render(results: Path = RESULTS, doc: Path = DOC, charts: Path = CHARTS) -> None:
    benches: dict[str, dict[str, Any]] = {}
    for name in ORDER:
        path = results / f"{name}.json"
        if path.exists():
            benches[name] = read_json(path)
    run = read_json(results / "run.json") if (results / "run.json").exists() else {}
    charts.mkdir(parents=True, exist_ok=True)
    checks = [dict(c, bench=name) for name, r in benches.items() for c in r.get("checks", [])]
    checks.sort(key=lambda c: c["metric"])
    (charts / "summary.svg").write_text(summary_chart(checks))
    chart_paths: dict[str, str] = {"summary": _rel(charts / "summary.svg", doc.parent)}
    if "edge" in benches:
        curves = benches["edge"]["details"].get("curves_ms", {})
        panels = []
        for channels in benches["edge"]["details"]["runs"]:
            series = {
                "bare gpiozero": curves.get(f"{channels}/baseline_idle", []),
                "bare gpiozero + queue hop": curves.get(f"{channels}/baseline_hop_idle", []),
                "AlarmBridge, idle": curves.get(f"{channels}/idle", []),
                "AlarmBridge, loaded": curves.get(f"{channels}/loaded", []),
            }
            panels.append((f"{channels} channels", series))
        (charts / "edge-latency.svg").write_text(
            percentile_chart(panels, "Edge to relay: latency percentiles", "milliseconds (log)")
        )
        chart_paths["edge"] = _rel(charts / "edge-latency.svg", doc.parent)
    if "fanout" in benches:
        curves = benches["fanout"]["details"].get("curves_ms", {})
        panels = [
            (
                phase,
                {
                    "SSE clients": curves.get(f"{phase}/sse", []),
                    "direct io-socket subscription": curves.get(f"{phase}/direct", []),
                },
            )
            for phase in benches["fanout"]["details"]["phases"]
        ]
        (charts / "fanout-latency.svg").write_text(
            percentile_chart(panels, "Live fan-out: edge to receipt", "milliseconds (log)")
        )
        chart_paths["fanout"] = _rel(charts / "fanout-latency.svg", doc.parent)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(_markdown(benches, run, checks, chart_paths))


def _machine(run: dict[str, Any], benches: dict[str, dict[str, Any]]) -> list[str]:
    m = run.get("machine", {})
    loads = [
        f"{name} {r['loadavg_1min']['before']}-{r['loadavg_1min']['after']}"
        for name, r in benches.items()
        if "loadavg_1min" in r
    ]
    rows = [
        [
            "CPU",
            f"{m.get('cpus', '?')} {TIMES} {m.get('cpu_model', '?')} ({m.get('machine', '?')})",
        ],
        ["memory", f"{m.get('memory_gib', '?')} GiB"],
        ["Python", f"{m.get('implementation', '')} {m.get('python', '?')}"],
        ["SQLite", str(m.get("sqlite", "?"))],
        ["kernel, file system", f"Linux {m.get('kernel', '?')}, {m.get('filesystem', '?')}"],
        ["load generator", str(run.get("load_tool", "?"))],
        ["code", f"git {run.get('revision', '?')}"],
        [
            "run",
            f"`{' '.join(['python -m bench', *run.get('argv', [])])}` (mode "
            f"{run.get('mode', '?')}), finished {run.get('finished', '?')}, "
            f"{num(run.get('duration_s'), 's')}",
        ],
        ["1-min load average before-after each bench", ", ".join(loads)],
    ]
    notes = [
        "",
        f"A load average near or above {m.get('cpus', '?')} means other work shared the "
        "machine while the bench ran: read the figures beside their baselines, which ran "
        "in the same conditions.",
    ]
    if str(run.get("revision", "")).endswith("-dirty"):
        notes[-1] += " `-dirty`: the working tree had uncommitted changes when measured."
    return [table(["", ""], rows), *notes]


def _markdown(
    benches: dict[str, dict[str, Any]],
    run: dict[str, Any],
    checks: list[dict[str, Any]],
    charts: dict[str, str],
) -> str:
    cpus = int(run.get("machine", {}).get("cpus") or os.cpu_count() or 1)
    out = [
        "# Performance",
        "",
        "<!-- Generated by bench/report.py from bench/results/*.json: edit the bench, not "
        "this file. -->",
        "",
        "What users care about, measured through the real code paths on simulated pins, each "
        "figure beside a baseline run in the same invocation (these machines are noisy: the "
        "ratio is the steadier figure). `make bench` runs the default set (under 10 minutes) "
        "and rewrites this page; `make bench-full` adds the slow modes (a 10-million-event "
        "log, 100,000 requests for the memory growth); `make bench-smoke` runs everything at "
        "tiny counts, and `make test` does that too, to keep the harness working. Raw "
        "figures: `bench/results/*.json` (every sample: `bench/results/raw/`, not "
        "committed). The targets are for a 2-core x86 machine; each section says what its "
        "figures imply for a Raspberry Pi.",
        "",
        "## Where and when",
        "",
        *_machine(run, benches),
        "",
        "## Summary",
        "",
        f"![every figure against its target]({charts['summary']})",
        "",
    ]
    rows = []
    for c in checks:
        slow = " (bench-full)" if c["bench"].endswith("_slow") else ""
        rows.append(
            [
                f"{c['metric']}. {TITLES[c['metric']]}",
                c["label"] + slow,
                num(c["value"], c["unit"]),
                (num(c["baseline"], c["unit"]) + f" ({c['baseline_label']})")
                if c.get("baseline") is not None
                else "—",
                times(c.get("ratio")),
                target_text(c),
                result_text(c),
            ]
        )
    out.append(
        table(["metric", "figure", "measured", "baseline", "ratio", "target", "result"], rows)
    )
    misses = [c for c in checks if c.get("passed") is False]
    out += ["", "## Targets missed, and why", ""]
    if not misses:
        out.append("None: every target was met in this run.")
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in misses:  # misses that share their explanation are listed together
        groups.setdefault(c.get("note") or c["id"], []).append(c)
    for group in groups.values():
        figures = "; ".join(_missed(c) for c in group)
        note = group[0].get("note") or "No explanation recorded."
        warnings = dict.fromkeys(
            w for w in (busy(benches.get(c["bench"], {}), cpus) for c in group) if w
        )
        if warnings:
            note += (
                f" *Also: {'; '.join(warnings)}; the baseline beside it ran in the same "
                "conditions.*"
            )
        out.append(f"- {figures}. {note}")
        remedy = _remedy(benches.get(group[0]["bench"], {}), group[0]["id"])
        if remedy:
            out.append(f"  *What would meet it:* {remedy}")
    errors = [name for name, r in benches.items() if r.get("error")]
    if errors:
        out += [
            "",
            "**Benches that failed in this run** (their figures are missing): "
            + ", ".join(errors)
            + ".",
        ]
    for metric in range(1, 9):
        name = SECTION[metric]
        r = benches.get(name)
        out += ["", f"## {metric}. {TITLES[metric]}", ""]
        if r is None or r.get("error"):
            out.append("Not measured in this run" + (": the bench failed." if r else "."))
            continue
        out += [f"*Measured {r['started']}, mode {r['mode']}, {num(r['duration_s'], 's')}.*", ""]
        warning = busy(r, cpus)
        if warning:
            out += [
                f"**Caution:** {warning}. Latency and throughput figures suffer from that "
                "(memory figures do not); the baselines ran in the same conditions, so "
                "compare with them.",
                "",
            ]
        out += [doc_body(name), ""]
        if name == "edge":
            out += section_edge(r, charts.get("edge"))
        elif name == "eventlog":
            out += section_eventlog(r, benches.get("edge"))
        elif name == "history":
            out += section_history(r, benches.get("history_slow"))
        elif name == "api":
            out += section_api(r)
        elif name == "fanout":
            out += section_fanout(r, charts.get("fanout"))
        elif name == "memory":
            out += section_memory(r, benches.get("memory_slow"))
        elif name == "idle":
            out += section_idle(r)
        elif name == "startup":
            out += section_startup(r)
        out += ["", f"**On a Raspberry Pi.** {r.get('pi_note', '')}"]
    return "\n".join(out).rstrip() + "\n"


def busy(result: dict[str, Any], cpus: int) -> str:
    """A warning when other work loaded the machine while ``result`` was measured
    (its 1-min load average reached the number of CPUs), else ''."""
    load = result.get("loadavg_1min")
    if not load or max(load["before"], load["after"]) < cpus:
        return ""
    return (
        f"measured while other work loaded the machine (1-min load average "
        f"{load['before']}-{load['after']} on {cpus} CPUs)"
    )


def _missed(check: dict[str, Any]) -> str:
    """A missed check's figure, as it is compared with its target."""
    on_value = check["target"]["on"] == "value"
    shown = num(
        check["value"] if on_value else check["ratio"], check["unit"] if on_value else TIMES
    )
    slow = " (bench-full)" if check.get("bench", "").endswith("_slow") else ""
    label = f"{check['metric']}. {check['label']}{slow}"
    return f"**{label}**: {shown}, target {target_text(check)}"


def _remedy(result: dict[str, Any], check_id: str) -> str:
    for prefix, text in result.get("remedies", {}).items():
        if check_id.startswith(prefix):
            return str(text)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--charts", type=Path, default=CHARTS)
    args = parser.parse_args(argv)
    render(args.results, args.doc, args.charts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
