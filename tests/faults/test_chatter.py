"""Chatter storm (requirement 9): IN3 toggled at about 1 kHz while IN1, IN2 and IN4
change every 50 ms or so. Their edge-to-relay latency, read from the recorded pins,
is compared with a quiet baseline; IN3's final state is right on the relay, in
status and in the log; its rows are rate-limited; a chatter fault is raised and
cleared.

IN3 keeps the default settings (50 ms response time, chatter at 20 changes in
10 s; 2 s in the short variant, so it calms down sooner). IN1, IN2 and IN4
respond at once (0 ms), so their latency is the io process's own time from the
pin's change to the relay's, nothing configured.
The storm comes in through the control socket's ``sim`` command on its own
connection, on a thread of the io process as lgpio's callbacks would.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.faults.harness import (
    INPUT_PINS,
    MEASURED,
    latencies,
    latency_change,
    now_ns,
    recording_io,
    rows,
    running,
    set_config,
    toggle,
    variants,
)
from tests.faults.pins import read_record
from tests.support import wait_for

CHATTER_HZ = 1000


@variants("storm_s, baseline_s, window_s", (10, 3, 2), (60, 15, 10))
def test_a_chattering_input_leaves_the_others_alone_and_is_logged_right(
    tmp_path: Path, storm_s: int, baseline_s: int, window_s: int, figures: dict[str, Any]
) -> None:
    record = tmp_path / "pins.record"
    io = recording_io(tmp_path / "data", record)
    db = io.data_dir / "alarmbridge.db"
    with running(io):
        calm_after = {"chatter_window_s": window_s}
        set_config(io, instant=MEASURED, edit=lambda c: c["inputs"][2].update(calm_after))

        quiet = now_ns()
        toggle(io, MEASURED, baseline_s * 20, 20, jitter=0.5)
        storm = now_ns()
        count = storm_s * CHATTER_HZ + 1  # odd: IN3 ends closed
        chatter = threading.Thread(target=toggle, args=(io, (3,), count, CHATTER_HZ, 0.5))
        chatter.start()
        toggle(io, MEASURED, storm_s * 20, 20, jitter=0.5)
        chatter.join(30)
        calm = now_ns()
        cleared = wait_for(
            lambda: rows(db, "kind = 'fault' AND channel = 'IN3' AND state = 'cleared'"),
            timeout=window_s + 5,
        )
        status = io.client.request("status")
        log = rows(db, "mono_ns >= ?", storm)

    # IN3 ends closed: in alarm, its relay energised, and the log says so last.
    in3 = status["inputs"][2]
    assert (in3["contact"], in3["alarm"], in3["chattering"]) == ("closed", True, False)
    assert status["outputs"][2]["energised"] is True
    assert not status["faults"]
    in3_rows = [r for r in log if r["kind"] == "input" and r["channel"] == "IN3"]
    assert in3_rows[-1]["state"] == "alarm", "the log does not end with IN3's state"
    assert in3_rows[-1]["detail"]["after_chatter"] is True
    # Rate-limited: a handful of rows for thousands of edges.
    pin = [x for x in read_record(record) if x.bcm == INPUT_PINS[2] and x.what == "set"]
    edges = len([x for x in pin if storm <= x.t_ns < calm])
    assert edges > storm_s * CHATTER_HZ * 0.5
    assert len(in3_rows) <= 2
    out3_rows = [r for r in log if r["kind"] == "output" and r["channel"] == "OUT3"]
    faults = [(r["state"], r["channel"]) for r in log if r["kind"] == "fault"]
    assert faults == [("raised", "IN3"), ("cleared", "IN3")]
    assert cleared[-1]["detail"]["unlogged_changes"] >= 1

    figures.update(
        storm_s=storm_s,
        in3_edges=edges,
        in3_rate_hz=round(edges / ((calm - storm) / 1e9)),
        in3_rows=len(in3_rows),
        out3_rows=len(out3_rows),
    )
    # The other inputs: latency with and without the storm.
    before, during = latencies(record, quiet, storm), latencies(record, storm, calm)
    figures["other_inputs_latency"] = latency_change(before, during)
