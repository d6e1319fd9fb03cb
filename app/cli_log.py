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
from app.timefmt import parse_moment


class UsageError(ValueError):
    """A command used wrongly: one line saying how to use it."""


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


def _parse_time(text: str | None, tz: tzinfo) -> int | None:
    """UTC microseconds; a time without an offset is in the appliance's time zone
    (``ALARMBRIDGE_TIMEZONE``), as the API and the web pages read it."""
    return None if text is None else parse_moment(text, tz)


def _no_such_channel(db: Any, channel: str) -> str | None:
    """A sentence if ``channel`` names nothing in the log or the configuration."""
    from app.eventlog.queries import newest
    from app.store import load_config

    if newest(db, channel=channel, limit=1).events:
        return None
    config = load_config(db)
    names = (
        [] if config is None else [c.name for c in config.inputs] + [c.name for c in config.outputs]
    )
    if channel in names:
        return None
    known = f": the channels are {', '.join(names)}" if names else ""
    return f"there is no channel named {channel!r} in the log or the configuration{known}"


def cmd_events(args: argparse.Namespace) -> int:
    """``alarmbridge events``: show the log (newest last), or verify its hash chain."""
    from sqlalchemy.exc import OperationalError

    from app.cli import _client, _settings
    from app.eventlog.database import make_engine
    from app.eventlog.queries import newest

    settings = _settings(args)
    if not settings.db_path.exists():
        raise UsageError(f"no event log at {settings.db_path}: start 'alarmbridge io' first")
    if args.action == "verify":
        if args.idle:
            idle_priority()
        return verify_log(settings.db_path)
    db = make_engine(settings.db_path, read_only=True)
    try:
        page = newest(
            db,
            channel=args.channel,
            kinds=args.kind or None,
            since_us=_parse_time(args.since, settings.tz),
            until_us=_parse_time(args.until, settings.tz),
            limit=args.limit,
        )
        if args.channel and not page.events and (problem := _no_such_channel(db, args.channel)):
            raise UsageError(problem)
    except OperationalError as exc:
        raise UsageError(f"cannot read the event log at {settings.db_path}: {exc.orig}") from exc
    finally:
        db.dispose()
    rows = [e.to_json() for e in reversed(page.events)]
    emit = emitter(args, settings.tz)
    for row in rows:
        emit(row)
    if args.follow:
        for event in _client(args).subscribe():
            emit(event)
    return 0
