"""What ``alarmbridge events`` prints: events as lines, JSON or CSV, and the report of
``alarmbridge events verify`` (the log's hash chain)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any

from app.exports import csv_header, csv_line, event_line


def print_event(event: dict[str, Any]) -> None:
    print(event_line(event), flush=True)


def idle_priority() -> None:
    """Run only when the CPU has nothing else to do: SCHED_IDLE, which also leaves a
    real-time policy inherited from the io process (else the lowest nice level)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def verify_log(path: Path) -> int:
    """``alarmbridge events verify``: check the hash chain, and its newest link
    against the copy kept beside the log. 0 if it holds, 3 and the first broken
    link if not (1 for any other error)."""
    from app.eventlog.chain import verify
    from app.eventlog.database import make_engine
    from app.eventlog.seqstate import read_state, state_path

    db = make_engine(path, read_only=True)
    try:
        with db.connect() as connection:
            found = verify(connection)
    finally:
        db.dispose()
    if not found.ok:
        print(f"alarmbridge: the event log's chain is broken: {found.problem}", file=sys.stderr)
        if found.last_seq is not None:
            print(f"  events {found.first_seq} to {found.last_seq} check out", file=sys.stderr)
        return 3
    if not found.checked:
        print("no event in the log carries a hash yet: nothing to check")
        return 0
    state, problem = read_state(state_path(path))
    outside = "no copy of the newest hash is kept beside the log"
    if state is not None and state.hash and state.acked == found.last_seq:
        assert found.last_hash is not None
        if state.hash != found.last_hash.hex():
            print(
                f"alarmbridge: event {found.last_seq}'s hash differs from the copy kept beside "
                "the log: the log was rewritten",
                file=sys.stderr,
            )
            return 3
        outside = "the same as the copy kept beside the log"
    elif state is not None and state.hash:
        outside = f"the copy beside the log is of event {state.acked} (the log is in use)"
    elif problem:
        outside = problem
    assert found.last_hash is not None
    print(
        f"chain ok: {found.checked} events, {found.first_seq} to {found.last_seq}; newest hash "
        f"{found.last_hash.hex()} ({outside})"
    )
    return 0


def emitter(args: argparse.Namespace, tz: tzinfo) -> Callable[[dict[str, Any]], None]:
    if args.json:
        return lambda e: print(json.dumps(e), flush=True)
    if args.csv:
        sys.stdout.write(csv_header())

        def row(e: dict[str, Any]) -> None:
            sys.stdout.write(csv_line(e, tz))
            sys.stdout.flush()

        return row
    return print_event
