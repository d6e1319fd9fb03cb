"""SIA DC-09 frame in -> relay, and the wired relay path under a frame flood (#21).

Part of ``make bench`` (metric 9); ``python -m bench.sia [--frames N] [--edges N]``
runs it alone and prints its figures as JSON.

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
3. **The same during a flood of bad frames**: frames with a wrong CRC, each
   answered with a NAK; the refusals go to the event log summed up per address
   and reason (app/network/sia/refusals.py), so the rows they cost are counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.io.process import IoProcess
from app.io.protocol import Client
from app.network.sia.bridge import io_apply, io_refused
from app.network.sia.content import cid_data
from app.network.sia.frame import ADM_CID, Frame
from app.network.sia.receiver import SiaReceiver
from app.network.sia.refusals import RefusalReport
from app.network.sia.settings import ReceiverSettings
from app.settings import Settings
from bench.common import MS, Check, Context, Target, checks_json, quantile_curve, summary
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
        to_io = Client(self.settings.socket_path)
        report = RefusalReport(io_refused(to_io))
        self.receiver = SiaReceiver(receiver_settings, io_apply(to_io), report=report)
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


def flood(rig: Rig, stop: threading.Event, sent: list[int], bad: bool = False) -> None:
    with socket.create_connection(("127.0.0.1", rig.port)) as sock:
        k = 0
        while not stop.is_set():
            frame = _frame(10_000 + k, 1 if k % 2 == 0 else 3, 2)
            sock.sendall(frame[:1] + b"0000" + frame[5:] if bad else frame)  # bad: CRC 0000
            sock.recv(1024)
            k += 1
        sent.append(k)


def _during_flood(rig: Rig, edges: int, bad: bool) -> tuple[list[float], int, float | None]:
    stop, sent = threading.Event(), list[int]()
    flooder = threading.Thread(target=flood, args=(rig, stop, sent, bad))
    started = time.monotonic()
    flooder.start()
    try:
        latencies, missed = wired_edges(rig, edges)
    finally:
        stop.set()
        flooder.join(30)
    rate = round(sent[0] / (time.monotonic() - started), 1) if sent else None
    return latencies, missed, rate


def _refusal_rows(rig: Rig) -> int:
    rig.io.writer.flush(timeout=5.0)
    with rig.io.db.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT count(*) FROM events WHERE kind = 'security' AND state = 'sia-refused'"
        )
        return int(found.scalar_one())


def measure(data_dir: Path, frames: int, edges: int) -> dict[str, Any]:
    """Every phase, on one rig; latencies in seconds under ``_raw``."""
    logging.getLogger("alarmbridge.sia").setLevel(logging.ERROR)  # a line per bad frame
    rig = Rig(data_dir)
    try:
        frame_lat, frame_missed = frame_to_relay(rig, frames)
        quiet, quiet_missed = wired_edges(rig, edges)
        busy, busy_missed, rate = _during_flood(rig, edges, bad=False)
        refused, refused_missed, bad_rate = _during_flood(rig, edges, bad=True)
        refusals = rig.receiver.refused.get("crc", 0)
    finally:
        rig.close()  # the receiver's last refusal counts go to the log
    rows = _refusal_rows(rig)
    return {
        "frame_to_relay_ms": _in_ms(frame_lat) | {"missed": frame_missed},
        "wired_edge_to_relay_ms": _in_ms(quiet) | {"missed": quiet_missed},
        "wired_edge_to_relay_during_flood_ms": _in_ms(busy) | {"missed": busy_missed},
        "flood_frames_per_s": rate,
        "wired_edge_to_relay_during_bad_flood_ms": _in_ms(refused) | {"missed": refused_missed},
        "bad_flood_frames_per_s": bad_rate,
        "bad_frames_refused": refusals,
        "sia_refused_rows": rows,
        "_raw": {"frame": frame_lat, "quiet": quiet, "flood": busy, "bad_flood": refused},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--edges", type=int, default=400)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp) / "data", args.frames, args.edges)
    result.pop("_raw")
    print(json.dumps(result, indent=2))
    return 0


NOTES = {
    "sia.frame.p99": "A frame crosses a TCP socket, is parsed (and its CRC computed in "
    "Python), goes to the io process over its socket from a worker thread, and only then "
    "reaches the engine; each hop can wait for the GIL or a busy core.",
    "sia.flood": "The flood's frames are handled by another thread of the same process as "
    "the io process here (in the appliance: another process), so the wired path waits for "
    "the GIL as well as for the CPU the flood takes; bad frames come fastest (no io round "
    "trip: several thousand a second). The quiet p99 it is compared with is well under a "
    "millisecond, so a few slow edges move the ratio a lot; the absolute p99 stays within "
    "the 5 ms metric 1 holds an edge under load to.",
}
REMEDIES = {
    "sia.flood": "Measure as the appliance runs: the receiver in a process of its own (the "
    "network process), so the flood competes with the io process for a core only, not for "
    "its GIL; and drop a connection that sends more than a few bad frames a second (a panel "
    "never does), which bounds the flood's CPU as the summing bounds its rows.",
}
PI_NOTE = (
    "A Pi 4 runs CPython roughly 3-5 times slower per core (a rule of thumb, not measured "
    "here): expect frame-to-relay several times higher, still far below a panel's own "
    "reporting delay (seconds). In the appliance the receiver is in the network process, "
    "so a flood costs the io process only the io socket's commands and the log's rows."
)


def run(ctx: Context) -> dict[str, Any]:
    """``make bench``'s metric 9 (bench/__main__.py)."""
    mode = ctx.mode
    ctx.log(f"  {mode.sia_frames} frames, {mode.sia_edges} wired edges per phase")
    m = measure(ctx.scratch("sia") / "data", mode.sia_frames, mode.sia_edges)
    raw = {k: [round(x * MS, 5) for x in v] for k, v in m.pop("_raw").items()}
    frame, quiet = m["frame_to_relay_ms"], m["wired_edge_to_relay_ms"]
    busy = m["wired_edge_to_relay_during_flood_ms"]
    bad = m["wired_edge_to_relay_during_bad_flood_ms"]
    wired = "a wired edge, same io process"
    checks = [
        Check("sia.frame.p50", 9, "DC-09 frame to relay p50", frame.get("p50"), "ms",
              baseline=quiet.get("p50"), baseline_label=wired, ratio_label="frame / wired p50"),
        Check("sia.frame.p99", 9, "DC-09 frame to relay p99", frame.get("p99"), "ms",
              Target("<=", 20), baseline=quiet.get("p99"), baseline_label=wired),
        Check("sia.flood.p99", 9, "wired edge to relay p99 during a frame flood",
              busy.get("p99"), "ms", Target("<=", 3, on="ratio"), baseline=quiet.get("p99"),
              baseline_label="same, no flood", ratio_label="flood p99 / quiet p99"),
        Check("sia.flood.bad.p99", 9, "wired edge to relay p99 during a flood of bad frames",
              bad.get("p99"), "ms", Target("<=", 3, on="ratio"), baseline=quiet.get("p99"),
              baseline_label="same, no flood", ratio_label="flood p99 / quiet p99"),
    ]  # fmt: skip
    m["curves_ms"] = {name: quantile_curve(values) for name, values in raw.items()}
    return {
        "checks": checks_json(checks, NOTES),
        "details": m | {"frames": mode.sia_frames, "edges": mode.sia_edges},
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
        "raw": raw,
    }


def _in_ms(values: list[float]) -> dict[str, Any]:
    return summary([v * 1000 for v in values], digits=3)


if __name__ == "__main__":
    raise SystemExit(main())
