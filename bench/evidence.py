"""Alarm -> recorder told, alarm -> snapshot stored, and the relay beside them (#20).

``python -m bench.evidence [--alarms N] [--actions K]``: prints JSON with the figures
(not part of ``make bench``).

The real io process (:class:`~app.io.process.IoProcess`, simulated pins) runs in
this process, so the edge, the relay's change and the commit of each annotation
are read on one monotonic clock (:mod:`bench.pins`); the real network process
(``alarmbridge network``) runs beside it with a recorders file, and the peer (an
HTTP server in a thread of this process) notes when each request arrives, on the
same clock (CLOCK_MONOTONIC is system-wide).

1. **Edge -> relay, no network process** (the baseline).
2. With the network process and ``K`` generic HTTP actions plus two HTTP snapshot
   cameras linked to input 1 (one grab each, at 0 s), per alarm: **edge -> relay**,
   **edge -> the first action request at the peer**, **edge -> the K-th**, **edge ->
   action annotated** (its result committed in the log) and **edge -> snapshot stored**
   (its annotation committed: the image is on disk before that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.io.process import IoProcess
from app.io.protocol import Client
from app.network.client import NetworkClient, NetworkError
from app.settings import Settings
from bench.common import summary
from bench.pins import PinWatch, last_change

WAIT_S = 10.0


def _jpeg() -> bytes:
    import av

    from app.network.evidence.sources import _encode_jpeg

    return _encode_jpeg(av.VideoFrame(640, 360, "yuv420p"))


class Peer:
    """Records when each action request arrives; serves a snapshot."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        self.image = _jpeg()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # an action
                now = time.monotonic()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with peer.lock:
                    peer.arrivals.append(now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # a snapshot
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(peer.image)))
                self.end_headers()
                self.wfile.write(peer.image)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # 12 connections at once: the default 5 drops SYNs
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Rig:
    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, pins="mock", log_check_delay_s=3600)
        self.committed: list[tuple[float, dict[str, Any]]] = []
        self.cv = threading.Condition()
        self.io = IoProcess(self.settings, on_event=self._on_event)
        self.io.start()
        self.client = Client(self.settings.socket_path)
        config = self.client.request("config-get")
        for i, inp in enumerate(config["inputs"]):
            inp["response_ms"] = 0
            # alarms one after another would count as chattering (20 changes in 10 s), and
            # a chattering input's changes are not logged: nothing would reach the recorders
            inp["chatter_changes"] = 10_000
            inp["outputs"] = [1] if i == 0 else []
        self.client.request("config-set", config=config, user="bench")
        self.input_name = config["inputs"][0]["name"]
        factory = self.io.board.pin_factory
        self.input1 = factory.pin(self.io.board.inputs[0].pin)
        self.watch = PinWatch({r.pin: factory.pin(r.pin) for r in self.io.board.relays})

    def _on_event(self, event: dict[str, Any]) -> None:
        with self.cv:
            self.committed.append((time.monotonic(), event))
            self.cv.notify_all()

    def edge(self, closed: bool) -> tuple[float, float | None]:
        """Drive input 1; (edge time, relay change time or None)."""
        sim = self.io.sim
        assert sim is not None
        self.watch.arm()
        sim.set_contact(1, closed)
        edge = last_change(self.input1)
        got = self.watch.wait(WAIT_S)
        return edge, None if got is None else got[1]

    def wait_for(self, count: int, state: str, after: int) -> list[float]:
        """When the first ``count`` annotations ``state`` for events after ``after`` committed."""
        deadline = time.monotonic() + WAIT_S

        def found() -> list[float]:
            return [
                t
                for t, e in self.committed
                if e["state"] == state and (e.get("detail") or {}).get("event", 0) > after
            ]

        with self.cv:
            while len(found()) < count and time.monotonic() < deadline:
                self.cv.wait(0.2)
            return found()[:count]

    def close(self) -> None:
        self.watch.unwrap()
        self.io.stop()


def _wait_until_up(data: Path, network: subprocess.Popen[bytes]) -> None:
    """The network process answers its status and follows the io stream."""
    client = NetworkClient(data / "network.sock", timeout=2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if network.poll() is not None:
            raise SystemExit(f"the network process exited {network.returncode}")
        try:
            if client.status().stream:
                time.sleep(0.5)  # its runner has read the log's end
                return
        except NetworkError:
            pass
        time.sleep(0.1)
    raise SystemExit("the network process did not come up")


def _ms(values: list[float]) -> dict[str, Any]:
    return summary([v * 1000 for v in values], digits=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=40)
    parser.add_argument("--actions", type=int, default=10)
    args = parser.parse_args(argv)
    peer = Peer()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        rig = Rig(data)
        network: subprocess.Popen[bytes] | None = None
        try:
            baseline: list[float] = []
            for _ in range(args.alarms):
                edge, relay = rig.edge(True)
                if relay is not None:
                    baseline.append(relay - edge)
                rig.edge(False)
            doc = {
                "actions": [
                    {"kind": "http", "name": f"A{k}", "base_url": peer.url, "alarm_body": "$seq"}
                    for k in range(args.actions)
                ],
                "cameras": [
                    {"kind": "http", "camera": f"C{k}", "url": f"{peer.url}/snap.jpg"}
                    for k in range(2)
                ],
                "links": {
                    rig.input_name: {
                        "on_alarm": [f"A{k}" for k in range(args.actions)],
                        "cameras": ["C0", "C1"],
                        "offsets_s": [0],
                    }
                },
            }
            recorders = Path(tmp) / "recorders.json"
            recorders.write_text(json.dumps(doc))
            cli = Path(sys.executable).with_name("alarmbridge")
            network = subprocess.Popen(
                [str(cli), "network", "run", "--data-dir", str(data)],
                env={**os.environ, "ALARMBRIDGE_RECORDERS_FILE": str(recorders)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait_until_up(data, network)
            relay_with: list[float] = []
            first: list[float] = []
            last: list[float] = []
            told: list[float] = []
            stored: list[float] = []
            missed = 0
            for _ in range(args.alarms):
                after = max((e["seq"] for _, e in rig.committed), default=0)
                with peer.lock:
                    peer.arrivals.clear()
                edge, relay = rig.edge(True)
                annotated = rig.wait_for(args.actions, "network-action", after)
                shots = rig.wait_for(2, "snapshot", after)
                with peer.lock:
                    arrivals = sorted(peer.arrivals)
                if relay is None or len(annotated) < args.actions or len(shots) < 2:
                    missed += 1
                else:
                    relay_with.append(relay - edge)
                    first.append(arrivals[0] - edge)
                    last.append(arrivals[args.actions - 1] - edge)
                    told.append(annotated[-1] - edge)
                    stored.extend(t - edge for t in shots)
                rig.edge(False)
                time.sleep(0.4)  # 12 annotations per alarm: under io's 30 a second
        finally:
            if network is not None:
                network.terminate()
                network.wait(15)
            rig.close()
            peer.close()
    result = {
        "alarms": args.alarms,
        "actions_per_alarm": args.actions,
        "snapshots_per_alarm": 2,
        "missed": missed,
        "edge_to_relay_ms_without_network": _ms(baseline),
        "edge_to_relay_ms_with_recorders": _ms(relay_with),
        "edge_to_first_action_request_ms": _ms(first),
        "edge_to_last_action_request_ms": _ms(last),
        "edge_to_all_actions_annotated_ms": _ms(told),
        "edge_to_snapshot_stored_ms": _ms(stored),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
