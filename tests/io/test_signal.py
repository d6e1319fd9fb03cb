"""Virtual inputs on the real io process (#21): the typed ``signal`` command drives
the relay it is linked to, is logged with who sent it, and a sender that stops
refreshing leaves a fault; stored configurations without virtual inputs load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.io.commands import Signal
from app.io.protocol import ControlError
from tests.io.conftest import IoProc, cli, wait_for


def _status(io: IoProc) -> dict[str, Any]:
    result: dict[str, Any] = io.client.request("status")
    return result


def _events(data_dir: Path) -> list[dict[str, Any]]:
    out = cli(data_dir, "events", "--json", "--limit", "1000").stdout
    return [json.loads(line) for line in out.splitlines()]


def _add_virtual(io: IoProc, *virtual: dict[str, Any]) -> None:
    config = io.client.request("config-get")
    assert config["virtual_inputs"] == []  # none by default: a stored config still loads
    config["virtual_inputs"] = list(virtual)
    assert io.client.request("config-set", config=config, user="ann") == {"changed": True}


def test_a_signal_drives_the_relay_and_is_logged_with_who(io_proc: IoProc) -> None:
    io_proc.start()
    _add_virtual(io_proc, {"name": "Yard camera", "outputs": [3]})
    client = io_proc.client
    assert client.send(Signal(virtual=1, action="active", user="token:frigate")).changed
    assert _status(io_proc)["outputs"][2]["energised"] is True
    assert not client.send(Signal(virtual=1, action="active", user="token:frigate")).changed
    virtual = _status(io_proc)["virtual_inputs"][0]
    assert (virtual["label"], virtual["alarm"], virtual["signalled_by"]) == (
        "V1",
        True,
        "token:frigate",
    )
    assert client.send(Signal(virtual=1, action="inactive", user="ann")).changed
    assert _status(io_proc)["outputs"][2]["energised"] is False
    rows = [e for e in _events(io_proc.data_dir) if e["channel"] == "Yard camera"]
    assert [(e["kind"], e["state"], e["source"]) for e in rows] == [
        ("input", "alarm", "token:frigate"),
        ("input", "normal", "ann"),
    ]
    outputs = [e for e in _events(io_proc.data_dir) if e["channel"] == "OUT3"]
    assert [(e["state"], e["source"]) for e in outputs] == [
        ("active", "Yard camera"),
        ("idle", "Yard camera"),
    ]


def test_a_pulse_and_a_lost_sender(io_proc: IoProc) -> None:
    io_proc.start()
    _add_virtual(
        io_proc,
        {"name": "Doorbell", "outputs": [1]},
        {"name": "Panel zone", "outputs": [2], "refresh_s": 1},
    )
    client = io_proc.client
    client.send(Signal(virtual=1, action="pulse", pulse_s=1, user="ann"))
    assert _status(io_proc)["outputs"][0]["energised"] is True
    wait_for(lambda: not _status(io_proc)["outputs"][0]["energised"], timeout=5)
    client.send(Signal(virtual=2, action="active", user="sia:1234"))
    assert _status(io_proc)["outputs"][1]["energised"] is True
    wait_for(lambda: not _status(io_proc)["outputs"][1]["energised"], timeout=5)
    faults = {f["key"]: f for f in _status(io_proc)["faults"]}
    assert faults["Panel zone:signal-lost"]["code"] == "signal-lost"
    client.send(Signal(virtual=2, action="inactive", user="sia:1234"))
    assert "Panel zone:signal-lost" not in {f["key"] for f in _status(io_proc)["faults"]}
    states = [e["state"] for e in _events(io_proc.data_dir) if e["kind"] == "fault"]
    # (a third, "raised" again, follows if the sender is silent for another second:
    # "inactive" must be refreshed too)
    assert states[:2] == ["raised", "cleared"]


def test_signals_are_refused_with_a_clear_message(io_proc: IoProc) -> None:
    io_proc.start()
    client = io_proc.client
    with pytest.raises(ControlError, match="no virtual input V1"):
        client.send(Signal(virtual=1, action="active"))
    with pytest.raises(ControlError, match="pulse needs its length"):
        client.request("signal", virtual=1, action="pulse")
    with pytest.raises(ControlError, match="virtual must be a whole number from 1 to 8"):
        client.request("signal", virtual=9, action="active")
