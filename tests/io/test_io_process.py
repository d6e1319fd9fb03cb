"""The io process end to end: CLI, control socket, live stream, event log, SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.io.conftest import IoProc, cli
from tests.support import wait_for


def _status(io: IoProc) -> dict[str, Any]:
    result: dict[str, Any] = io.client.request("status")
    return result


def _events(data_dir: Path, *args: str) -> list[dict[str, Any]]:
    out = cli(data_dir, "events", "--json", "--limit", "1000", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_sim_close_switches_the_relay_and_is_logged(io_proc: IoProc) -> None:
    io_proc.start()
    data = io_proc.data_dir
    cli(data, "sim", "close", "1")
    wait_for(lambda: _status(io_proc)["outputs"][0]["energised"])
    status = _status(io_proc)
    assert status["simulated"] is True
    assert status["inputs"][0]["alarm"] is True
    assert [o["active"] for o in status["outputs"]] == [True, False, False, False]

    def logged() -> list[tuple[str, str | None, str]]:
        return [(e["kind"], e["channel"], e["state"]) for e in _events(data)]

    wait_for(lambda: ("output", "OUT1", "active") in logged())
    rows = logged()
    assert rows.index(("input", "IN1", "alarm")) < rows.index(("output", "OUT1", "active"))
    output = next(e for e in _events(data, "--channel", "OUT1") if e["state"] == "active")
    assert (output["dvr_channel"], output["cause"], output["source"]) == ("CH1", "input", "IN1")
    text = cli(data, "events").stdout
    assert "OUT1 active (input: IN1) -> DVR CH1" in text
    csv_lines = cli(data, "events", "--csv").stdout.splitlines()
    assert csv_lines[0].startswith("seq,utc,local,kind,channel,state")
    cli(data, "sim", "open", "1")
    wait_for(lambda: not _status(io_proc)["outputs"][0]["energised"])


def test_live_stream_sends_only_committed_events_in_order(io_proc: IoProc) -> None:
    io_proc.start()
    received: list[dict[str, Any]] = []

    def listen() -> None:
        for event in io_proc.client.subscribe():
            received.append(event)
            if event["kind"] == "output" and event["state"] == "idle":
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.2)
    io_proc.client.request("sim", action="close", input=2)
    time.sleep(0.1)
    io_proc.client.request("sim", action="open", input=2)
    listener.join(10)
    assert [(e["channel"], e["state"]) for e in received if e["kind"] != "system"] == [
        ("IN2", "alarm"),
        ("OUT2", "active"),
        ("IN2", "normal"),
        ("OUT2", "idle"),
    ]
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs)
    with sqlite3.connect(io_proc.data_dir / "alarmbridge.db") as db:
        stored = {row[0] for row in db.execute("SELECT seq FROM events")}
    assert set(seqs) <= stored


def test_manual_latch_survives_a_restart(io_proc: IoProc) -> None:
    io_proc.start()
    cli(io_proc.data_dir, "start", "3", "--user", "ann")
    cli(io_proc.data_dir, "start", "4", "--for", "0.5")
    assert _status(io_proc)["outputs"][2]["latched"] is True
    assert io_proc.signal(signal.SIGTERM) == 0
    io_proc.start()
    outputs = _status(io_proc)["outputs"]
    assert [o["active"] for o in outputs] == [False, False, True, False]
    assert outputs[2]["cause"] == "restart"
    cli(io_proc.data_dir, "stop", "3")
    assert _status(io_proc)["outputs"][2]["active"] is False
    assert io_proc.signal(signal.SIGTERM) == 0
    io_proc.start()
    assert _status(io_proc)["outputs"][2]["active"] is False


def test_sigterm_logs_a_safe_stop(io_proc: IoProc) -> None:
    io_proc.start()
    cli(io_proc.data_dir, "start", "1")
    started = time.monotonic()
    assert io_proc.signal(signal.SIGTERM) == 0
    assert time.monotonic() - started < 1.0
    last = _events(io_proc.data_dir)[-1]
    assert (last["kind"], last["state"]) == ("system", "stopped")
    assert last["detail"] == {"reason": "SIGTERM", "relays": "safe"}
    assert not (io_proc.data_dir / "io.sock").exists()


def test_button_and_trigger_are_logged_as_manual_triggers(io_proc: IoProc) -> None:
    io_proc.start()
    cli(io_proc.data_dir, "sim", "press")
    wait_for(lambda: all(o["active"] for o in _status(io_proc)["outputs"]))
    cli(io_proc.data_dir, "sim", "release")
    cli(io_proc.data_dir, "trigger", "--user", "bob")
    wait_for(lambda: len([e for e in _events(io_proc.data_dir, "--kind", "operator")]) == 2)
    ops = _events(io_proc.data_dir, "--kind", "operator")
    assert [(e["state"], e["cause"], e["source"]) for e in ops] == [
        ("manual-trigger", "button", "cli (simulated)"),  # a simulated press names who
        ("manual-trigger", "user", "bob"),
    ]


def test_config_export_import_round_trip(io_proc: IoProc, tmp_path: Path) -> None:
    io_proc.start()
    exported = tmp_path / "config.json"
    cli(io_proc.data_dir, "config", "export", str(exported))
    config = json.loads(exported.read_text())
    config["inputs"][0]["contact"] = "NC"
    exported.write_text(json.dumps(config))
    cli(io_proc.data_dir, "config", "import", str(exported), "--user", "ann")
    # IN1 is open, so NC now reads as alarm: relay 1 closes without a restart.
    wait_for(lambda: _status(io_proc)["outputs"][0]["energised"])
    (change,) = _events(io_proc.data_dir, "--kind", "config")
    assert change["source"] == "ann"
    assert change["detail"]["old"]["inputs"][0]["contact"] == "NO"
    assert change["detail"]["new"]["inputs"][0]["contact"] == "NC"


def test_cli_errors_are_one_clear_line(io_proc: IoProc, tmp_path: Path) -> None:
    data = io_proc.data_dir
    done = cli(data, "sim", "close", "1", check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("alarmbridge: the io process is not running")
    assert "Traceback" not in done.stderr
    io_proc.start()
    for args, message in [
        (("sim", "close", "9"), "there is no input 9: this board has inputs 1 to 4"),
        (("start", "7"), "there is no output 7"),
        (("start", "1", "--for", "0.001"), "--for is in seconds: from 0.025 to 86400 (24 h)"),
        (("start", "1", "--for", "90000"), "not 90000; leave it out for until stopped"),
        (("events", "--since", "yesterday"), "cannot read the time 'yesterday'"),
        (("config", "import", str(tmp_path / "missing.json")), "cannot read"),
    ]:
        done = cli(data, *args, check=False)
        assert done.returncode == 1, args
        assert message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"inputs": [], "outputs": [], "colour": 1}))
    done = cli(data, "config", "import", str(bad), check=False)
    assert "invalid configuration" in done.stderr
    assert "colour" in done.stderr


def _logged(data_dir: Path, after: int = 0) -> list[tuple[Any, ...]]:
    """The rows of the real SQLite log after sequence number ``after``, in order."""
    with sqlite3.connect(data_dir / "alarmbridge.db") as db:
        return db.execute(
            "SELECT seq, kind, channel, state, cause, source, detail FROM events"
            " WHERE seq > ? ORDER BY seq",
            (after,),
        ).fetchall()


def test_a_config_change_is_logged_before_what_it_does(io_proc: IoProc) -> None:
    io_proc.start()
    data, client = io_proc.data_dir, io_proc.client
    wait_for(lambda: _status(io_proc)["eventlog"]["pending"] == 0)  # the start is logged
    mark = _logged(data)[-1][0]
    config = client.request("config-get")
    config["inputs"][0]["contact"] = "NC"  # IN1's contact rests open: now an alarm
    config["outputs"][1]["valid_signal"] = "open"  # OUT2 idle: its relay now energised
    reply = client.request("config-set", config=config, user="ann")
    wait_for(lambda: _status(io_proc)["eventlog"]["pending"] == 0)  # all it did is committed
    rows = _logged(data, mark)
    assert [row[1:6] for row in rows] == [
        ("config", None, "changed", "user", "ann"),
        ("input", "IN1", "alarm", "config", "ann"),
        ("output", "OUT1", "active", "config", "ann"),
        ("output", "OUT2", "idle", "config", "ann"),
    ]
    assert [json.loads(row[6]) for row in rows[2:]] == [{"relay": "energised"}] * 2
    assert reply == {"changed": True}


def test_the_same_config_again_and_a_stop_of_an_idle_output_log_nothing(
    io_proc: IoProc, tmp_path: Path
) -> None:
    io_proc.start()
    data, client = io_proc.data_dir, io_proc.client
    wait_for(lambda: _status(io_proc)["eventlog"]["pending"] == 0)  # the start is logged
    mark = _logged(data)[-1][0]
    config = client.request("config-get")
    replies = [
        client.request("config-set", config=config, user="ann"),
        client.request("stop", output=3, user="ann"),
    ]
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(config))
    imported = cli(data, "config", "import", str(saved), "--user", "ann").stdout
    stop = cli(data, "stop", "3").stdout
    client.request("start", output=3, duration_ms=60_000, user="bob")  # the next rows
    replies.append(client.request("stop", output=3, user="bob"))
    wait_for(lambda: _status(io_proc)["eventlog"]["pending"] == 0)
    assert [row[1:6] for row in _logged(data, mark)] == [
        ("operator", "OUT3", "manual-start", "user", "bob"),
        ("output", "OUT3", "active", "user", "bob"),
        ("operator", "OUT3", "manual-stop", "user", "bob"),
        ("output", "OUT3", "idle", "user", "bob"),
    ]
    # Each still succeeds, and says whether it changed anything.
    assert replies == [{"changed": False}, {"changed": False}, {"changed": True}]
    assert imported == f"{saved} is the running configuration: nothing changed\n"
    assert stop == "output 3 was not active: nothing to stop\n"
