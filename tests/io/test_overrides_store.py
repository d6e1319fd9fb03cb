"""The operator's overrides in the io process: stored in the log's database when
set, and again when one ends by itself (off the engine thread), so a restart
neither revives an ended override nor logs its end twice. A real io process on
simulated pins, a real SQLite file, a manual clock."""

from __future__ import annotations

import time
from pathlib import Path

from app.clock import ManualClock
from app.eventlog.queries import newest
from app.events import Cause, Kind
from app.io.commands import BypassInput, OverrideArming
from app.io.overrides import load_overrides
from app.io.process import IoProcess
from app.settings import Settings


def wait_for_stored(process: IoProcess, want: object, timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while (found := load_overrides(process.db)) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"stored {found!r}, not {want!r}")
        time.sleep(0.02)
    return found


def test_an_override_that_ends_by_itself_is_stored_as_ended(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", pins="mock")
    clock = ManualClock()
    process = IoProcess(settings, clock=clock)
    process.start()
    try:
        handlers = process._handlers()
        handlers["bypass"](BypassInput(input=1, duration_s=3600, user="ann"))
        handlers["arming-override"](OverrideArming(armed=False, duration_s=7200, user="ann"))
        stored = load_overrides(process.db)
        assert isinstance(stored, dict) and list(stored["bypass"]) == ["IN1"]
        assert stored["arming"]["armed"] is False
        clock.advance(3601)  # the bypass's time is up; the engine ticks within a second
        wait_for_stored(process, {"bypass": {}, "arming": stored["arming"]})
        clock.advance(3600)
        wait_for_stored(process, {"bypass": {}, "arming": None})
    finally:
        process.stop()
    # A restart: nothing to restore, and no second "ended" row.
    again = IoProcess(settings, clock=clock)
    again.start()
    try:
        assert again.engine.override_status() == {"bypass": [], "arming_override": None}
        again.writer.flush(timeout=2.0)
        rows = newest(again.db, kinds=[Kind.OPERATOR], limit=100).events
        ended = sorted((e.state, e.cause, e.source) for e in rows if e.state.endswith("-ended"))
        assert ended == [
            ("arming-override-ended", Cause.SYSTEM, "ann"),
            ("bypass-ended", Cause.SYSTEM, "ann"),
        ]
    finally:
        again.stop()
