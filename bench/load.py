"""HTTP load: wrk where it is installed (Debian package ``wrk``), else :mod:`bench.loadgen`.

Both report the same shape: requests, errors, non-2xx, requests per second and
latency percentiles in milliseconds (wrk gives p50, p75, p90 and p99 only).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bench.common import AUTH, Tool

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def available_tool(prefer: str = "auto") -> Tool:
    """``wrk`` if it is on the PATH (or asked for and there), else ``python``."""
    if prefer == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if prefer == "wrk":
        raise SystemExit("--load wrk: wrk is not installed (apt-get install wrk)")
    return "python"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, connections: int) -> dict[str, Any]:
    """The figures of a ``wrk --latency`` report.

    >>> parse_wrk('''  Latency Distribution
    ...      50%  620.70ms
    ...      99%    1.81s
    ...   297 requests in 5.22s, 9.96MB read
    ... Requests/sec:     56.94''', 50)["latency_ms"]
    {'p50': 620.7, 'p99': 1810.0}
    """
    latency: dict[str, float] = {}
    for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE):
        latency[f"p{pct}"] = round(_ms(value), 3)
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "tool": "wrk",
        "connections": connections,
        "seconds": round(_ms(done.group(2) + done.group(3)) / 1e3, 3) if done else None,
        "requests": int(done.group(1)) if done else 0,
        "errors": sum(int(x) for x in errors.groups()) if errors else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "latency_ms": latency,
    }


def _wrk_argv(port: int, path: str, connections: int, seconds: float) -> list[str]:
    threads = max(1, min(2, connections))
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        AUTH,
        f"http://127.0.0.1:{port}{path}",
    ]


def _python_argv(
    port: int, paths: Sequence[str], connections: int, seconds: float | None, requests: int | None
) -> list[str]:
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port)]
    for path in paths:
        argv += ["--path", path]
    argv += ["--connections", str(connections)]
    if requests is not None:
        argv += ["--requests", str(requests)]
    else:
        argv += ["--seconds", str(seconds)]
    return argv


def run(tool: Tool, port: int, path: str, *, connections: int, seconds: float) -> dict[str, Any]:
    """Load ``path`` with ``connections`` connections for ``seconds``; the figures."""
    if tool == "wrk":
        argv = _wrk_argv(port, path, connections, seconds)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        result = parse_wrk(done.stdout, connections)
        result["path"] = path
        return result
    argv = _python_argv(port, [path], connections, seconds, None)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    result = json.loads(done.stdout)
    result["path"] = path
    return dict(result)


def count(port: int, paths: Sequence[str], *, requests: int, connections: int) -> dict[str, Any]:
    """Exactly ``requests`` requests over ``paths`` in turn (the Python generator)."""
    argv = _python_argv(port, paths, connections, None, requests)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=True)
    return dict(json.loads(done.stdout))


class Background:
    """Load that runs while something else is measured: :meth:`start`, then :meth:`stop`
    (which returns what the load achieved)."""

    def __init__(self, tool: Tool, port: int, path: str, *, connections: int) -> None:
        self.tool = tool
        self.path = path
        self.connections = connections
        if tool == "wrk":
            self.argv = _wrk_argv(port, path, connections, 3600)
        else:
            self.argv = _python_argv(port, [path], connections, 3600, None)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Background:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        return self

    def stop(self) -> dict[str, Any]:
        """Stop the load (SIGINT to its pid: both tools then print their report)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        if self.tool == "wrk":
            result = parse_wrk(out, self.connections)
        else:
            try:
                result = json.loads(out)
            except ValueError:
                result = {"tool": "python", "requests": 0, "rps": 0.0}
        result["path"] = self.path
        return dict(result)

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
