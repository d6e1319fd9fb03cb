"""Render docs/performance.md and its charts from the results JSON.

    python -m bench.report [--results bench/results] [--doc docs/performance.md]

Every figure in the document comes from a result file; nothing here is measured
or typed in. The charts are SVG written by hand (no plotting library).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bench.charts import percentile_chart, summary_chart
from bench.common import CHARTS, DOC, RESULTS, read_json
from bench.sections import (
    TIMES,
    doc_body,
    num,
    result_text,
    section_api,
    section_edge,
    section_eventlog,
    section_fanout,
    section_history,
    section_idle,
    section_memory,
    section_sia,
    section_startup,
    table,
    target_text,
    times,
)

ORDER = [
    "edge",
    "eventlog",
    "history",
    "history_slow",
    "api",
    "fanout",
    "memory",
    "memory_slow",
    "sia",
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
    9: "SIA DC-09 frame to relay",
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
    9: "sia",
}


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
    for metric in range(1, 10):
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
        elif name == "sia":
            out += section_sia(r)
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
