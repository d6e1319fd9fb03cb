"""Recorders that fail: refused, hung, answering 500, or an alarm too old when its
turn comes. Real io and network processes and recorder peers (issue #20)."""

from __future__ import annotations

import functools
import time
from pathlib import Path

from app.io.commands import Simulate
from tests.actions.peer import Peer, Reply, running_peer
from tests.io.conftest import IoProc
from tests.network.conftest import NetworkProc, wait_until
from tests.recorders.conftest import (
    DIGEST,
    ISAPI_OK,
    START,
    annotated,
    annotations_in,
    faults,
    free_port,
    input_name,
    log_events,
    seen,
    the_alarm,
    write_recorders,
)


def test_a_peer_that_is_down_is_annotated_and_delays_nothing_else(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    dead = free_port()  # nothing listens: every attempt is refused
    doc = {
        "actions": [
            {
                "kind": "dahua-output",
                "name": "Dead DVR",
                "base_url": f"http://127.0.0.1:{dead}",
                "retries": 2,
            },
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            },
        ],
        "links": {input_name(io_proc): {"on_alarm": ["Dead DVR", "NVR CH3"]}},
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: len(annotations_in(io_proc)) >= 2, 30, "both annotations")
        seq = the_alarm(io_proc)
        rows = annotations_in(io_proc, seq)
        assert [e.source for e in rows] == ["NVR CH3", "Dead DVR"]  # the good one first
        good, bad = (e.detail or {} for e in rows)
        assert good["ok"] and good["attempts"] == 1
        assert not bad["ok"] and bad["attempts"] == 3
        assert f"could not reach http://127.0.0.1:{dead}" in bad["summary"]
        assert good["elapsed_ms"] < bad["elapsed_ms"]
        # the relay the input drives was not held back either: logged before any annotation
        outputs = [e for e in log_events(io_proc) if e.kind == "output" and e.seq > seq]
        assert outputs and outputs[0].seq < rows[0].seq
        # failing three times in a row is a fault (on the LED, in the status), named
        assert "network:recorders-failing" not in faults(io_proc)
        for action in ("open", "close", "open", "close"):
            io_proc.client.send(Simulate(action=action, input=1))
            time.sleep(0.3)
        wait_until(lambda: "network:recorders-failing" in faults(io_proc), 30, "the fault")
        assert faults(io_proc)["network:recorders-failing"].startswith("Dead DVR: could not reach")
    finally:
        network.close()


def test_an_alarm_too_old_when_its_turn_comes_is_skipped_not_sent(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    doc = {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            }
        ],
        "links": {input_name(io_proc): {"on_alarm": ["NVR CH3"]}},
        "max_age_s": 10,
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()  # makes the cursor at the log's end
        network.stop()
        io_proc.client.send(Simulate(action="close", input=1))  # while the process is down
        time.sleep(11)
        network.start()
        wait_until(lambda: annotations_in(io_proc), 20, "the skipped annotation")
        (row,) = annotations_in(io_proc, the_alarm(io_proc))
        assert row.state == "recorders-skipped" and row.source == "NVR CH3"
        assert "s old when its turn came" in (row.detail or {})["summary"]
        assert not seen(nvr, "PUT", START)
    finally:
        network.close()


def test_a_recorder_that_hangs_holds_back_only_its_own_requests(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    with running_peer() as hung:
        trigger = "/ISAPI/System/IO/outputs/1/trigger"
        hung.answer("PUT", trigger, Reply(200, ISAPI_OK, "application/xml", delay_s=10))
        doc = {
            "actions": [
                {
                    "kind": "hikvision-output",
                    "name": "Hung NVR",
                    "base_url": hung.url,
                    "timeout_s": 2,
                    "retries": 1,
                },
                {
                    "kind": "hikvision-record",
                    "name": "NVR CH3",
                    "base_url": nvr.url,
                    "channel": 3,
                    "auth": DIGEST,
                },
            ],
            "links": {input_name(io_proc): {"on_alarm": ["Hung NVR", "NVR CH3"]}},
        }
        file = write_recorders(tmp_path / "recorders.json", doc)
        network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
        try:
            network.start()
            for action in ("close", "open", "close"):  # two alarms, half a second apart
                io_proc.client.send(Simulate(action=action, input=1))
                time.sleep(0.5)
            wait_until(lambda: len(annotations_in(io_proc)) >= 4, 40, "four annotations")
            name = input_name(io_proc)
            alarms = [
                e.seq for e in log_events(io_proc) if e.channel == name and e.state == "alarm"
            ]
            assert len(alarms) == 2
            rows = annotations_in(io_proc)
            order = [(e.source, (e.detail or {})["event"]) for e in rows]
            # the good recorder heard of both alarms before the hung one's first timed out
            assert order.index(("NVR CH3", alarms[1])) < order.index(("Hung NVR", alarms[0]))
            hung_rows = [e.detail or {} for e in rows if e.source == "Hung NVR"]
            assert hung_rows[0]["ok"] is False and hung_rows[0]["attempts"] == 2
            assert "no answer within 2 s" in hung_rows[0]["summary"]
        finally:
            network.close()


def test_the_failing_fault_clears_when_the_recorder_answers_again(
    io_proc: IoProc, tmp_path: Path
) -> None:
    with running_peer() as dvr:  # Dahua HTTP API: AlarmOut mode; 500 three times per alarm
        target = "/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=1"
        dvr.answer("GET", target, *[Reply(500, b"Error")] * 9, Reply(200, b"OK"))
        action = {"kind": "dahua-output", "name": "DVR out", "base_url": dvr.url}
        doc = {"actions": [action], "links": {input_name(io_proc): {"on_alarm": ["DVR out"]}}}
        file = write_recorders(tmp_path / "recorders.json", doc)
        network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
        try:
            network.start()
            for n in range(1, 5):  # three failing alarms, then one that gets through
                io_proc.client.send(Simulate(action="close", input=1))
                wait_until(functools.partial(annotated, io_proc, n), 30, f"alarm {n}")
                if n == 3:
                    wait_until(lambda: "network:recorders-failing" in faults(io_proc), 10)
                io_proc.client.send(Simulate(action="open", input=1))
                time.sleep(0.3)
            assert [(e.detail or {})["ok"] for e in annotations_in(io_proc)] == [False] * 3 + [True]
            wait_until(lambda: "network:recorders-failing" not in faults(io_proc), 10, "cleared")
        finally:
            network.close()
