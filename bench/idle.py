"""Metric 7: idle cost: wake-ups per second over all threads, and CPU, with 16 channels.

The real processes (``alarmbridge io`` on a 16-input board, ``alarmbridge web``)
with nothing happening: no edges, no requests, no browser. After they settle,
every thread's context switches (``/proc/PID/task/TID/status``) and the process's
CPU time are read, then read again after 60 seconds. A voluntary switch is a
thread going to sleep, so each is one wake-up; involuntary switches are counted
too (a thread preempted while running).

Baseline: the bare gpiozero script with the same 16 inputs, idle over the same
window (mock pins have no polling thread: its figure is the interpreter's floor).
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Check, Context, Target, checks_json, cpu_seconds, thread_switches
from bench.data import cached, copy_into
from bench.procs import PYTHON, Proc, Stack

CHANNELS = 16

NOTES = {
    "idle.wakeups": "Where the wake-ups come from is in the per-thread figures: uvicorn's "
    "main loop ticks every 0.1 s (about 10 a second in the web process, whatever it "
    "serves); in the io process the engine loop wakes at least once a second (MAX_WAIT_S, "
    "the watchdog heartbeat and the once-a-second re-read of every input), and the "
    "writer, the control socket's selector (0.5 s poll) and the web process's 2 s status "
    "poll add their share.",
}

PI_NOTE = (
    "Wake-ups cost the same count on a Pi and keep its CPU out of its deeper idle states; "
    "CPU time scales with the slower core (3-5 times, a rule of thumb), so an idle "
    "appliance's share of a Pi 4 core stays small but measurable."
)


def _snapshot(pid: int) -> tuple[dict[int, tuple[int, int]], float]:
    return thread_switches(pid), cpu_seconds(pid)


def _rates(
    before: tuple[dict[int, tuple[int, int]], float],
    after: tuple[dict[int, tuple[int, int]], float],
    seconds: float,
) -> dict[str, Any]:
    threads = []
    for tid, (vol, invol) in after[0].items():
        vol0, invol0 = before[0].get(tid, (0, 0))
        threads.append(
            {
                "tid": tid,
                "voluntary_per_s": round((vol - vol0) / seconds, 2),
                "involuntary_per_s": round((invol - invol0) / seconds, 2),
            }
        )
    threads.sort(key=lambda t: -(t["voluntary_per_s"] + t["involuntary_per_s"]))
    voluntary = sum(t["voluntary_per_s"] for t in threads)
    involuntary = sum(t["involuntary_per_s"] for t in threads)
    cpu = after[1] - before[1]
    return {
        "threads": len(threads),
        "wakeups_per_s": round(voluntary + involuntary, 2),
        "voluntary_per_s": round(voluntary, 2),
        "involuntary_per_s": round(involuntary, 2),
        "cpu_s": round(cpu, 3),
        "cpu_percent_of_a_core": round(100 * cpu / seconds, 3),
        "per_thread": threads,
    }


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    directory = ctx.scratch("idle")
    copy_into(cached(ctx.cache, mode.db_events, log=ctx.log), directory / "data")
    stack = Stack(directory / "data", channels=CHANNELS)
    baseline: Proc | None = None
    try:
        stack.start()
        assert stack.io is not None and stack.web is not None
        argv = [PYTHON, "-m", "bench.baselines", "gpiozero", "--channels", str(CHANNELS)]
        baseline = Proc("baseline-gpiozero", argv, directory / "gpiozero.log").start()
        time.sleep(0.5 if mode.name == "smoke" else 5.0)  # start-up work settles
        pids = {"io": stack.io.pid, "web": stack.web.pid, "baseline": baseline.pid}
        ctx.log(f"  {mode.idle_seconds:g} s of nothing")
        before = {name: _snapshot(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(mode.idle_seconds)
        after = {name: _snapshot(pid) for name, pid in pids.items()}
        seconds = time.monotonic() - started
    finally:
        if baseline is not None:
            baseline.stop()
        stack.stop()
    rates = {name: _rates(before[name], after[name], seconds) for name in pids}
    total = rates["io"]["wakeups_per_s"] + rates["web"]["wakeups_per_s"]
    base = rates["baseline"]["wakeups_per_s"]
    checks = [
        Check(
            "idle.wakeups",
            7,
            f"wake-ups/s, io + web, all threads, {CHANNELS} channels",
            round(total, 2),
            "/s",
            Target("<=", 20),
            baseline=base,
            baseline_label="bare gpiozero script, 16 inputs",
        ),
        Check(
            "idle.wakeups.io",
            7,
            "of which the io process",
            rates["io"]["wakeups_per_s"],
            "/s",
            baseline=base,
            baseline_label="bare gpiozero script, 16 inputs",
        ),
        Check(
            "idle.wakeups.web",
            7,
            "of which the web process",
            rates["web"]["wakeups_per_s"],
            "/s",
        ),
        Check(
            "idle.cpu",
            7,
            f"CPU over {mode.idle_seconds:g} s, io + web, % of one core",
            round(rates["io"]["cpu_percent_of_a_core"] + rates["web"]["cpu_percent_of_a_core"], 3),
            "%",
            baseline=rates["baseline"]["cpu_percent_of_a_core"],
            baseline_label="bare gpiozero script, 16 inputs",
        ),
    ]
    details = {"seconds": round(seconds, 2), "channels": CHANNELS, "processes": rates}
    return {"checks": checks_json(checks, NOTES), "details": details, "pi_note": PI_NOTE}
