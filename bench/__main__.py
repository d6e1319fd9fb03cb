"""``python -m bench``: run the benchmarks, write their JSON, render docs/performance.md.

    python -m bench                 # the default set (make bench), under 10 minutes
    python -m bench --full          # plus the slow variants (make bench-full)
    python -m bench --smoke --results /tmp/r --doc /tmp/p.md   # tiny counts (CI)
    python -m bench --only edge,api # some of them; the report uses every result file

Each bench writes ``<results>/<name>.json`` (figures, baselines, targets) and
``<results>/raw/<name>.json`` (every sample; not committed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    CACHE,
    CHARTS,
    DOC,
    MODES,
    REPO,
    RESULTS,
    WORK,
    Context,
    machine,
    now_iso,
    validate_results,
    write_json,
)
from bench.load import available_tool

#: name -> "module:function", in run order: start-up first, idle last (all else has stopped)
BENCHES = {
    "startup": "startup:run",
    "edge": "edge:run",
    "eventlog": "eventlog:run",
    "history": "history:run",
    "api": "api:run",
    "fanout": "fanout:run",
    "memory": "memory:run",
    "sia": "sia:run",
    "idle": "idle:run",
}
SLOW = {"history_slow": "history:run_slow", "memory_slow": "memory:run_slow"}  # bench-full
SCHEMA = 1
LONGEST = {
    "startup": 8, "api": 7, "memory": 6, "fanout": 5, "edge": 4, "idle": 3, "eventlog": 2, "sia": 1
}  # fmt: skip


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        rev = ""
    return rev or "unknown"


def run_one(name: str, ctx: Context, results: Path) -> bool:
    module_name, _, function = {**BENCHES, **SLOW}[name].partition(":")
    module = importlib.import_module(f"bench.{module_name}")
    started, clock = now_iso(), time.perf_counter()
    load_before = os.getloadavg()
    ctx.log(f"[{name}] {module.__doc__.splitlines()[0] if module.__doc__ else ''}")
    out: dict[str, Any] = {"bench": name, "schema": SCHEMA, "mode": ctx.mode.name}
    ok = True
    try:
        result = getattr(module, function)(ctx)
    except Exception:
        ok = False
        result = {"error": traceback.format_exc(), "checks": [], "details": {}}
        ctx.log(result["error"])
    raw = result.pop("raw", None)
    out.update(
        started=started,
        duration_s=round(time.perf_counter() - clock, 1),
        revision=git_revision(),
        load_tool=ctx.load_tool,
        loadavg_1min={"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        **result,
    )
    write_json(results / f"{name}.json", out)
    if raw is not None:
        write_json(results / "raw" / f"{name}.json", raw)
    ctx.log(f"[{name}] {out['duration_s']} s")
    return ok


def run_child(name: str, args: argparse.Namespace, log: Any) -> bool:
    """Run one bench in a process of its own (``--jobs``: Alembic's migration context
    is process-wide, so benches cannot share a process while they run)."""
    argv = [sys.executable, "-m", "bench", "--child", "--only", name, "--load", args.load]
    argv += ["--results", str(args.results), "--work", str(args.work), "--cache", str(args.cache)]
    argv += ["--full"] if args.full else ["--smoke"] if args.smoke else []
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    log("\n".join(part for part in (done.stdout.rstrip(), done.stderr.rstrip()) if part))
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="add the slow variants (10M events)")
    size.add_argument("--smoke", action="store_true", help="tiny counts: keeps the harness working")
    parser.add_argument("--only", help=f"comma-separated, from: {', '.join([*BENCHES, *SLOW])}")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC, help="the report to write")
    parser.add_argument("--charts", type=Path, default=CHARTS, help="where the report's SVGs go")
    parser.add_argument("--work", type=Path, default=WORK, help="scratch space (on a disk)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="event logs kept between runs")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--jobs", type=int, default=1, help="benches at once (figures are then worthless: CI only)"
    )
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    mode = MODES["full" if args.full else "smoke" if args.smoke else "default"]
    names = [*BENCHES, *(SLOW if mode.slow else ())]
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - {*BENCHES, *SLOW})
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(unknown)}")

    def log(message: str) -> None:
        print(message, flush=True)

    ctx = Context(mode, args.work, args.cache, available_tool(args.load), log)
    args.work.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    log(f"AlarmBridge benchmarks, mode {mode.name}, load by {ctx.load_tool}")
    if args.jobs > 1:
        names.sort(key=lambda n: -LONGEST.get(n, 0))  # the longest first: they finish sooner
        with ThreadPoolExecutor(args.jobs) as pool:
            ok = all(pool.map(lambda name: run_child(name, args, log), names))
    else:
        ok = all([run_one(name, ctx, args.results) for name in names])
    if args.child:
        return 0 if ok else 1
    problems = validate_results(args.results, names)
    for problem in problems:
        log(f"result problem: {problem}")
    ok = ok and not problems
    total = round(time.perf_counter() - clock, 1)
    run_info = {
        "schema": SCHEMA,
        "mode": mode.name,
        "jobs": args.jobs,
        "finished": now_iso(),
        "duration_s": total,
        "benches": names,
        "revision": git_revision(),
        "load_tool": ctx.load_tool,
        "machine": machine(),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    if args.only and (args.results / "run.json").exists():
        log("a partial run: run.json (the last complete run) is kept")
    else:
        write_json(args.results / "run.json", run_info)
    if not args.no_report:
        from bench.report import render

        render(args.results, args.doc, args.charts)
        log(f"wrote {args.doc}")
    log(f"done in {total} s" + ("" if ok else " (some benches failed: see above)"))
    log(json.dumps({"ok": ok, "seconds": total}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
