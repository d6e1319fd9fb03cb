"""What every bench shares: modes, statistics, checks, /proc readings, results files.

A bench is a function ``run(ctx) -> dict`` (see :mod:`bench.__main__`). Its
result holds ``checks`` (each figure beside its baseline and its target) and
``details`` (everything else worth keeping); :mod:`bench.report` turns the
results into docs/performance.md.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / ".work"
CACHE = REPO / "bench" / ".cache"
DOC = REPO / "docs" / "performance.md"
CHARTS = REPO / "docs" / "img" / "perf"

#: the API token every AlarmBridge web process of this run accepts (see
#: bench.procs.claim); in the environment so load generators started as
#: subprocesses send it too
TOKEN = os.environ.setdefault("AB_BENCH_TOKEN", "abt_" + secrets.token_urlsafe(32))
AUTH = f"Authorization: Bearer {TOKEN}"

MS = 1e3  # seconds -> milliseconds
Tool = Literal["wrk", "python"]  # what makes HTTP load
MIB = 1024 * 1024


# ----------------------------------------------------------------------- modes


@dataclass(frozen=True)
class Mode:
    """The counts one run uses. ``default`` is ``make bench``; ``full`` adds the
    slow variants (``make bench-full``); ``smoke`` keeps the harness working in CI."""

    name: Literal["smoke", "default", "full"]
    edges: int = 10_000  # per channel count, idle and loaded
    channels: tuple[int, ...] = (4, 8, 16)
    edges_debounced: int = 200  # with the default 50 ms response time
    writer_events: int = 200_000
    writer_paced_s: float = 4.0
    sqlite_baseline_s: float = 3.0
    history_sizes: tuple[int, ...] = (100_000, 1_000_000)
    history_queries: int = 2_000
    api_seconds: float = 10.0
    api_single_seconds: float = 5.0
    fanout_edges: int = 100
    fanout_clients: int = 20
    memory_first: int = 10_000
    memory_total: int = 100_000
    idle_seconds: float = 60.0
    startup_reps: int = 5
    db_events: int = 100_000  # the event log the API, fan-out and memory benches run on
    sia_frames: int = 1_000  # SIA DC-09 frames to the relay, one at a time
    sia_edges: int = 1_000  # wired edges per phase of the SIA bench (quiet, floods)

    @property
    def slow(self) -> bool:
        return self.name == "full"


MODES: dict[str, Mode] = {
    "default": Mode("default"),
    "full": Mode("full", history_sizes=(100_000, 1_000_000, 10_000_000)),
    "smoke": Mode(
        "smoke",
        edges=40,
        channels=(16,),
        edges_debounced=4,
        writer_events=2_000,
        writer_paced_s=0.3,
        sqlite_baseline_s=0.2,
        history_sizes=(2_000, 20_000),
        history_queries=20,
        api_seconds=0.5,
        api_single_seconds=0.5,
        fanout_edges=4,
        fanout_clients=3,
        memory_first=100,
        memory_total=300,
        idle_seconds=0.5,
        startup_reps=1,
        db_events=5_000,
        sia_frames=10,
        sia_edges=10,
    ),
}


@dataclass
class Context:
    """What a bench gets: the mode, where to put scratch files, the load tool."""

    mode: Mode
    work: Path
    cache: Path
    load_tool: Tool
    log: Any = print

    def scratch(self, name: str) -> Path:
        """A fresh, empty directory under the work directory (on disk, not tmpfs)."""
        path = self.work / name
        if path.exists():
            remove_tree(path)
        path.mkdir(parents=True)
        return path


def remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ statistics


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of already sorted values, linearly interpolated.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(sorted_values[lo])
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo))


def summary(values: Iterable[float], *, digits: int = 4) -> dict[str, Any]:
    """n, mean, min, p50, p90, p99, p99.9, max of ``values`` (same unit as given).

    >>> summary([1, 2, 3])["p50"]
    2.0
    """
    data = sorted(values)
    if not data:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(data), "mean": sum(data) / len(data), "min": data[0]}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        out[name] = percentile(data, p)
    out["max"] = data[-1]
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in out.items()}


#: the percentiles a latency curve keeps (the tail in detail, for a percentile plot)
CURVE_PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.8, 99.9, 100)


def quantile_curve(values: Iterable[float], *, digits: int = 4) -> list[list[float]]:
    """``[percentile, value]`` pairs at :data:`CURVE_PERCENTILES`: a latency curve for charts.

    >>> quantile_curve([1.0, 2.0, 3.0])[0]
    [0, 1.0]
    """
    data = sorted(values)
    if not data:
        return []
    return [[p, round(percentile(data, p), digits)] for p in CURVE_PERCENTILES]


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


# --------------------------------------------------------------------- checks


@dataclass
class Target:
    op: Literal["<=", ">="]
    value: float
    on: Literal["value", "ratio"] = "value"

    def met(self, value: float | None, ratio_: float | None) -> bool | None:
        x = value if self.on == "value" else ratio_
        if x is None or math.isnan(x):
            return None
        return x <= self.value if self.op == "<=" else x >= self.value


@dataclass
class Check:
    """One figure: measured, its baseline, their ratio, and the target it is held to.

    ``ratio`` is ``value / baseline`` unless the bench sets it (throughputs are
    compared the other way round where that reads better; the label says so).
    """

    id: str
    metric: int  # 1-8, the numbering (#17); 9: SIA DC-09 (#21)
    label: str
    value: float | None
    unit: str
    target: Target | None = None
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    ratio_label: str = "measured / baseline"
    note: str = ""  # why a target was missed (filled in by the bench)
    passed: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None:
            self.ratio = ratio(self.value, self.baseline)
        if self.target is not None:
            self.passed = self.target.met(self.value, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "baseline", "ratio"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 6)
        return data


def checks_json(checks: Iterable[Check], notes: dict[str, str]) -> list[dict[str, Any]]:
    """Checks as JSON; a missed check gets the note whose key its id starts with."""
    out = []
    for check in checks:
        if check.passed is False and not check.note:
            for prefix, note in notes.items():
                if check.id.startswith(prefix):
                    check.note = note
                    break
        out.append(check.as_dict())
    return out


# ---------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    import sqlite3

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "machine": platform.machine(),
        "filesystem": _filesystem(WORK),
    }


def _filesystem(path: Path) -> str:
    """The file system type of ``path`` (from /proc/mounts), e.g. ``ext4``."""
    try:
        path = path.resolve()
        best, kind = "", "unknown"
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
        return kind
    except OSError:
        return "unknown"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------- /proc readings


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU time of a process (all its threads)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def thread_switches(pid: int | str) -> dict[int, tuple[int, int]]:
    """Voluntary and involuntary context switches of every thread of ``pid``.

    A voluntary switch is a thread going to sleep; every one is paired with a
    wake-up, so their rate is the thread's wake-up rate.
    """
    out: dict[int, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            voluntary = involuntary = 0
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary = int(line.split()[1])
            out[int(task.name)] = (voluntary, involuntary)
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return out


def proc_io(pid: int | str = "self") -> dict[str, int]:
    """``/proc/PID/io``: wchar (bytes handed to write calls), write_bytes (bytes sent
    to the storage layer), syscw (write calls), and the read side."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key.strip()] = int(value)
    except OSError:
        pass
    return out


# ----------------------------------------------------------------- networking


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- results files


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class Stopwatch:
    """Seconds since it was made: ``elapsed()``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# ------------------------------------------------------------------ validation

#: every figure the issue asks for, by the start of its check id
REQUIRED_CHECKS = (
    "edge.p50.", "edge.p99.idle.", "edge.p99.loaded.", "edge.loaded_ratio.", "edge.commit.p99.",
    "eventlog.rate", "eventlog.bytes", "eventlog.latency.",
    "history.p99.", "history.scaling", "history.plan",
    "api.rps", "api.p99", "api.single.p50",
    "fanout.idle.p99", "fanout.loaded.p99",
    "memory.web", "memory.io", "memory.growth",
    "idle.wakeups", "idle.cpu",
    "startup.safe", "startup.http",
    "sia.frame.p50", "sia.frame.p99", "sia.flood.p99",
)  # fmt: skip

_RESULT_KEYS = ("bench", "schema", "mode", "started", "duration_s", "checks", "details", "pi_note")
_CHECK_KEYS = ("id", "metric", "label", "value", "unit", "target", "baseline", "ratio", "passed")


def validate_result(data: Any) -> list[str]:
    """Problems with one bench's result file (empty when it has the expected shape)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    name = data.get("bench", "?")
    problems = [f"{name}: no {key!r}" for key in _RESULT_KEYS if key not in data]
    if data.get("error"):
        problems.append(f"{name}: failed: {str(data['error']).strip().splitlines()[-1]}")
    for check in data.get("checks", []):
        ident = check.get("id", "?")
        problems += [f"{name}/{ident}: no {key!r}" for key in _CHECK_KEYS if key not in check]
        if not isinstance(check.get("metric"), int) or not 1 <= check["metric"] <= 9:
            problems.append(f"{name}/{ident}: metric must be 1-9")
        if not isinstance(check.get("value"), int | float):
            problems.append(f"{name}/{ident}: no figure")
        if check.get("target") and check.get("passed") not in (True, False):
            problems.append(f"{name}/{ident}: a target but no pass/miss")
        if check.get("passed") is False and not check.get("note"):
            problems.append(f"{name}/{ident}: missed without a note")
    return problems


def validate_results(results: Path, benches: Iterable[str]) -> list[str]:
    """Problems with a results directory: each bench's file, and every figure the
    issue asks for from the benches that ran."""
    benches = list(benches)
    problems: list[str] = []
    ids: list[str] = []
    for name in benches:
        path = results / f"{name}.json"
        if not path.exists():
            problems.append(f"{name}: no result file")
            continue
        data = read_json(path)
        problems += validate_result(data)
        ids += [c.get("id", "") for c in data.get("checks", [])]
    for prefix in REQUIRED_CHECKS:
        if prefix.split(".")[0] not in benches:
            continue
        if not any(i.startswith(prefix) for i in ids):
            problems.append(f"no figure for {prefix.rstrip('.')}")
    return problems
