"""SIA DC-09 in the running appliance (#21): ``alarmbridge network`` with
ALARMBRIDGE_SIA_FILE beside a real io process. A panel's frame (built by siadc09)
reaches the receiver, the virtual input switches its relay, and the event that
records it goes on to a receiving centre (pysiaalarm's receiver in a process of
its own) as Contact ID: panel -> appliance -> DVR relay and receiving centre."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from siadc09 import message as dc09_message

from tests.io.conftest import CLI, IoProc
from tests.network.conftest import NetworkProc, wait_until
from tests.network.sia.test_receiver import _frame
from tests.network.sia.test_sender import Peer, _free_port

KEY = "0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[tuple[IoProc, NetworkProc, Peer, int]]:
    io = IoProc(tmp_path / "data")
    io.start()
    config = io.client.request("config-get")
    config["virtual_inputs"] = [{"name": "Zone 3", "kind": "24h", "outputs": [2]}]
    io.client.request("config-set", config=config, user="ann")
    centre = Peer(_free_port())
    centre.start()
    port = _free_port()
    sia = {
        "receiver": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
            "accounts": [{"account": "1234", "key": KEY, "zones": [{"zone": 3, "virtual": 1}]}],
        },
        "sender": {
            "enabled": True,
            "primary": {"host": "127.0.0.1", "port": centre.port},
            "account": "1234",
            "null_s": 0,
        },
    }
    sia_file = tmp_path / "sia.json"
    sia_file.write_text(json.dumps(sia))
    network = NetworkProc(io.data_dir, {"ALARMBRIDGE_SIA_FILE": str(sia_file)})
    try:
        network.start()
        yield io, network, centre, port
    finally:
        network.stop()
        network.close()
        centre.kill()
        io.stop()


def _send(port: int, frame: bytes) -> bytes:
    deadline_s = 20.0
    with socket.create_connection(("127.0.0.1", port), timeout=deadline_s) as conn:
        conn.sendall(frame)
        answer = b""
        while not answer.endswith(b"\r"):
            answer += conn.recv(1024)
    return answer


def test_a_panel_drives_the_relay_and_the_centre_hears_of_it(
    appliance: tuple[IoProc, NetworkProc, Peer, int],
) -> None:
    io, network, centre, port = appliance
    wait_until(lambda: _listening(port), 20, "the SIA receiver listening")
    alarm = _frame("ADM-CID", b"#1234|1130 01 003", key=KEY, seq=7)
    ack = dc09_message.parse_frame(_send(port, alarm), KEY.encode())
    assert (type(ack).__name__, ack.seq) == ("AckMessage", 7)
    wait_until(lambda: io.client.request("status")["outputs"][1]["energised"], 10, "relay 2")
    # The virtual input's alarm (24 h: 137 tamper, zone 3 from its name) reaches the centre.
    heard = centre.got(1, timeout=20)
    while heard[-1]["code"] != "TA":  # what the log held before (a start: YW) may come first
        heard += centre.got(1, timeout=20)
    assert (heard[-1]["zone"], heard[-1]["account"]) == ("003", "1234")
    assert [d.name for d in network.status().destinations] == ["sia"]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_wrong_sia_file_stops_the_network_process_only(tmp_path: Path) -> None:
    io = IoProc(tmp_path / "data")
    io.start()
    try:
        bad = tmp_path / "sia.json"
        bad.write_text(json.dumps({"receiver": {"accounts": [{"account": "1234", "key": "x"}]}}))
        env = {**os.environ, "ALARMBRIDGE_SIA_FILE": str(bad)}
        done = subprocess.run(
            [*CLI, "network", "run", "--data-dir", str(io.data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert "receiver.accounts.0.key" in done.stderr
        assert "16, 24 or 32" in done.stderr
        assert io.client.request("status")["running"] is True  # io carries on
    finally:
        io.stop()
