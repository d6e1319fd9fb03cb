"""Loading the SIA settings file, and running the receiver as the network process
will (#21): our own sender reports to it (siadc09 and pysiaalarm read the same
frames in test_frame.py), and a real io process switches the relay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.events import Cause, Event, Kind
from app.network.destination import Delivery
from app.network.sia.sender import SiaSender
from app.network.sia.service import SiaConfigError, load_sia, run_receiver, sia_destination
from app.network.sia.settings import SenderSettings
from tests.io.conftest import IoProc


@pytest.fixture
def io(tmp_path: Path) -> Iterator[IoProc]:
    proc = IoProc(tmp_path / "data")
    proc.start()
    config = proc.client.request("config-get")
    config["virtual_inputs"] = [{"name": "Zone 5", "kind": "24h", "outputs": [4]}]
    proc.client.request("config-set", config=config, user="ann")
    yield proc
    proc.stop()


def test_a_settings_file_is_checked_with_every_problem_named(tmp_path: Path) -> None:
    path = tmp_path / "sia.json"
    with pytest.raises(SiaConfigError, match="cannot be read"):
        load_sia(path)
    path.write_text("{")
    with pytest.raises(SiaConfigError, match="not valid JSON"):
        load_sia(path)
    path.write_text(json.dumps({"receiver": {"accounts": [{"account": "1234", "key": "x"}]}}))
    with pytest.raises(SiaConfigError, match=r"receiver\.accounts\.0\.key: .*16, 24 or 32"):
        load_sia(path)
    path.write_text(json.dumps({"sender": {"enabled": True}}))
    with pytest.raises(SiaConfigError, match="has no receiver"):
        sia_destination(load_sia(path))
    path.write_text("{}")
    assert sia_destination(load_sia(path)) is None  # off unless enabled


def test_the_receiver_runs_until_stopped_and_drives_the_relay(io: IoProc, tmp_path: Path) -> None:
    path = tmp_path / "sia.json"
    receiver = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": 0,
        "udp": False,
        "accounts": [{"account": "2468", "zones": [{"zone": 5, "virtual": 1}]}],
    }
    path.write_text(json.dumps({"receiver": receiver}))
    sia = load_sia(path)

    async def go() -> None:
        stop = asyncio.Event()
        ready: asyncio.Future[tuple[int, int | None]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_receiver(sia, io.client, stop, ready))
        port, _ = await asyncio.wait_for(ready, 10)
        peer = {"primary": {"host": "127.0.0.1", "port": port}, "account": "2468"}
        sender = SiaSender(SenderSettings.model_validate(peer))
        alarm = Event(
            kind=Kind.INPUT,
            state="alarm",
            cause=Cause.INPUT,
            utc_us=0,
            mono_ns=0,
            boot_id="boot",
            clock_synced=True,
            channel="Panel 5",  # zone 5, from its name
            detail={"kind": "24h"},
            seq=1,
        )
        await sender.deliver([Delivery("dev-1", alarm)])
        await sender.aclose()
        stop.set()
        await task

    asyncio.run(go())
    status = io.client.request("status")
    assert status["outputs"][3]["energised"] is True
    assert status["virtual_inputs"][0]["signalled_by"] == "sia:2468:137"
