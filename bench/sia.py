"""SIA DC-09 frame in -> relay, and the wired relay path under a frame flood (#21).

``python -m bench.sia [--frames N] [--flood-s S]``: prints JSON with the figures
(not yet part of ``make bench``'s report).

The real io process (:class:`~app.io.process.IoProcess`, simulated pins) runs in
this process, so the relay's change is read from the clock the mock pins record
with (:mod:`bench.pins`). The receiver (:class:`~app.network.sia.receiver.SiaReceiver`)
runs on its own asyncio thread, as the network process would, and hands its
signals to the io process over the io socket (:mod:`app.network.sia.bridge`).

1. **Frame in -> relay**: one ADM-CID frame at a time over TCP (alarm, then
   restore of zone 1, mapped to V1, linked to relay 1): from just before the
   frame is written to the relay's change; the ACK is waited for before the next.
2. **Wired edge -> relay during a flood**: wired input 2 (response time 0) is
   driven edge by edge while another connection sends frames as fast as ACKs
   come back (a zone not linked to any relay, so the flood only costs CPU, the
   io socket and the log); compared with the same edges without the flood.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.io.process import IoProcess
from app.io.protocol import Client
from app.network.sia.bridge import io_apply
from app.network.sia.content import cid_data
from app.network.sia.frame import ADM_CID, Frame
from app.network.sia.receiver import SiaReceiver
from app.network.sia.settings import ReceiverSettings
from app.settings import Settings
from bench.common import summary
from bench.pins import PinWatch, last_change

WAIT_S = 2.0


def _frame(seq: int, qualifier: int, zone: int) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    data = cid_data("1234", qualifier, 130, 1, zone)
    return Frame(ADM_CID, seq % 9999 + 1, "1234", "0", "0", data, timestamp=now).encode()


class Rig:
    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, pins="mock", log_check_delay_s=3600)
        self.io = IoProcess(self.settings)
        self.io.start()
        self.client = Client(self.settings.socket_path)
        config = self.client.request("config-get")
        for i, inp in enumerate(config["inputs"]):
            inp["response_ms"] = 0
            inp["outputs"] = [i + 1] if i == 1 else []
        config["virtual_inputs"] = [
            {"name": "Zone 1", "kind": "24h", "outputs": [1]},
            {"name": "Zone 2", "kind": "24h"},  # the flood's: drives nothing
        ]
        self.client.request("config-set", config=config, user="bench")
        factory = self.io.board.pin_factory
        self.relays = {r.pin: factory.pin(r.pin) for r in self.io.board.relays}
        self.input2 = factory.pin(self.io.board.inputs[1].pin)
        self.watch = PinWatch(self.relays)
        zones = [{"zone": 1, "virtual": 1}, {"zone": 2, "virtual": 2}]
        accounts = [{"account": "1234", "zones": zones}]
        receiver_settings = ReceiverSettings.model_validate(
            {"host": "127.0.0.1", "port": 0, "udp": False, "accounts": accounts}
        )
        self.receiver = SiaReceiver(receiver_settings, io_apply(Client(self.settings.socket_path)))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = self._call(self.receiver.start())[0]

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self._call(self.receiver.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.watch.unwrap()
        self.io.stop()


def frame_to_relay(rig: Rig, frames: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    missed = 0
    with socket.create_connection(("127.0.0.1", rig.port)) as sock:
        for k in range(frames):
            rig.watch.arm()
            start = time.monotonic()
            sock.sendall(_frame(k, 1 if k % 2 == 0 else 3, 1))
            got = rig.watch.wait(WAIT_S)
            sock.recv(1024)  # the ACK
            if got is None:
                missed += 1
            else:
                latencies.append(got[1] - start)
    return latencies, missed


def wired_edges(rig: Rig, edges: int) -> tuple[list[float], int]:
    sim = rig.io.sim
    assert sim is not None
    latencies: list[float] = []
    missed = 0
    for k in range(edges):
        rig.watch.arm()
        sim.set_contact(2, k % 2 == 0)
        edge = last_change(rig.input2)
        got = rig.watch.wait(WAIT_S)
        if got is None:
            missed += 1
        else:
            latencies.append(got[1] - edge)
        time.sleep(0.002)
    return latencies, missed


def flood(rig: Rig, stop: threading.Event, sent: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", rig.port)) as sock:
        k = 0
        while not stop.is_set():
            sock.sendall(_frame(10_000 + k, 1 if k % 2 == 0 else 3, 2))
            sock.recv(1024)
            k += 1
        sent.append(k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--edges", type=int, default=400)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp) / "data")
        try:
            frame_lat, frame_missed = frame_to_relay(rig, args.frames)
            quiet, quiet_missed = wired_edges(rig, args.edges)
            stop, sent = threading.Event(), list[int]()
            flooder = threading.Thread(target=flood, args=(rig, stop, sent))
            started = time.monotonic()
            flooder.start()
            busy, busy_missed = wired_edges(rig, args.edges)
            stop.set()
            flooder.join(30)
            flood_s = time.monotonic() - started
        finally:
            rig.close()
    result = {
        "frame_to_relay_ms": _in_ms(frame_lat) | {"missed": frame_missed},
        "wired_edge_to_relay_ms": _in_ms(quiet) | {"missed": quiet_missed},
        "wired_edge_to_relay_during_flood_ms": _in_ms(busy) | {"missed": busy_missed},
        "flood_frames_per_s": round(sent[0] / flood_s, 1) if sent else None,
    }
    print(json.dumps(result, indent=2))
    return 0


def _in_ms(values: list[float]) -> dict[str, Any]:
    return summary([v * 1000 for v in values], digits=3)


if __name__ == "__main__":
    raise SystemExit(main())
