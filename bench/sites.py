"""Many sites on one broker: N appliances (io + network processes, simulated pins)
publishing to one Mosquitto; edge -> MQTT subscriber latency, and a broker outage
under load drained in order with nothing lost (issue #18, "Many sites").

    python -m bench.sites                         # 50 sites, a 60 s outage
    python -m bench.sites --sites 10 --outage-s 20

Not part of ``make bench`` (it starts 2N processes). It writes
``bench/results/sites.json``; docs/integrations.md quotes the figures.

On a small machine: the sites start one after the other (a site's io process must
answer and its network process must have connected before the next one starts, with
``--stagger-s`` between them), so their imports never all compete for the CPU at
once; each io process runs without its chain check and the web process. After the
first site is up, its memory (the io and network processes' resident sets) times N
is checked against what the machine has available: the bench stops with a sentence
rather than push the machine into swap or the OOM killer. The result records the
memory of all sites and the machine's 1-minute load when the bench began.

Latency: an input edge's ``mono_ns`` (the engine stamps the edge; every input's
response time is 0, so that is the pin edge) to the moment the bench's own MQTT
subscriber (aiomqtt, QoS 1, in this process) receives the event, on the same
monotonic clock. Edges are driven one at a time, round the sites, on idle
appliances. Then the outage: every site keeps making edges (about 2 a second
each), the broker is stopped for ``--outage-s`` and started again; the bench
waits until every site's cursor has reached its log's end and the subscriber has
every key. Every site's events must arrive in seq order (first seen), none missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiomqtt

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.io.commands import GetConfig, SetConfig, Simulate
from app.io.protocol import Client, ControlError
from app.network.client import NetworkClient, NetworkError
from bench.common import REPO, free_port, rss_bytes, summary, write_json
from bench.procs import CLI, Proc, bench_config, wait_io


class Broker:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\nlistener {self.port} 127.0.0.1\n"
            f"allow_anonymous true\npersistence true\npersistence_location {directory}/\n"
            "max_queued_messages 1000000\nmax_inflight_messages 100\n"
        )
        self.proc = Proc("mosquitto", [binary, "-c", str(self.config)], directory / "mqtt.log")

    def start(self) -> None:
        self.proc.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.stop()


class Site:
    def __init__(self, n: int, root: Path, broker_url: str) -> None:
        self.n = n
        self.data = root / f"site{n:03d}"
        self.io = Proc(f"io{n}", [*CLI, "io", "--pins", "mock", "--data-dir", str(self.data)],
                       self.data / "io.log")  # fmt: skip
        self.network = Proc(f"net{n}", [*CLI, "network", "run", "--data-dir", str(self.data)],
                            self.data / "network.log")  # fmt: skip
        self.env = {"ALARMBRIDGE_MQTT_URL": broker_url, "ALARMBRIDGE_MQTT_DISCOVERY": "false",
                    "ALARMBRIDGE_LOG_CHECK_DELAY_S": "86400"}  # fmt: skip
        self.client = Client(self.data / "io.sock", timeout=10)
        self.status = NetworkClient(self.data / "network.sock", timeout=10)
        self.device = ""
        self.contact = False

    def start(self) -> None:
        self.data.mkdir(parents=True)
        self.io.start(self.env)
        wait_io(self.data / "io.sock", proc=self.io, timeout=120)
        config = self.client.send(GetConfig())
        self.client.send(SetConfig.model_validate({"config": bench_config(config, response_ms=0)}))
        self.network.start(self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.network.check_alive()
            with contextlib.suppress(NetworkError):
                status = self.status.status()
                if status.destinations and status.destinations[0].connected:
                    self.device = status.device_id
                    return
            time.sleep(0.1)
        raise RuntimeError(f"site {self.n}: the network process did not connect")

    def edge(self) -> None:
        self.contact = not self.contact
        self.client.send(Simulate(action="close" if self.contact else "open", input=1))

    def caught_up(self) -> bool:
        with contextlib.suppress(NetworkError):
            d = self.status.status().destinations[0]
            return d.backlog == 0
        return False

    def log_seqs(self, after: int = 0) -> list[int]:
        engine = make_engine(self.data / "alarmbridge.db", read_only=True)
        try:
            return [e.seq for e in events_after(engine, after, limit=10_000_000)]
        finally:
            engine.dispose()

    def rss(self) -> tuple[int, int]:
        """The io and network processes' resident sets (bytes)."""
        found = []
        for proc in (self.io, self.network):
            try:
                found.append(rss_bytes(proc.pid) if proc.alive() else 0)
            except OSError:
                found.append(0)
        return found[0], found[1]

    def stop(self) -> None:
        self.network.stop()
        self.io.stop()


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (what can be used without swapping)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def memory(sites: list[Site]) -> dict[str, Any]:
    sets = [site.rss() for site in sites]
    mib = 1024 * 1024
    return {
        "io_rss_mib_mean": round(sum(io for io, _ in sets) / len(sets) / mib, 1),
        "network_rss_mib_mean": round(sum(net for _, net in sets) / len(sets) / mib, 1),
        "total_rss_mib": round(sum(io + net for io, net in sets) / mib, 1),
        "available_mib": round(available_bytes() / mib),
    }


def check_room(first: Site, sites_n: int, available: int) -> None:
    """Stop before starting N sites the machine has no memory for."""
    io, net = first.rss()
    need = (io + net) * sites_n * 1.25  # room for growth under load
    if need > available * 0.8:
        mib = 1024 * 1024
        raise SystemExit(
            f"{sites_n} sites need about {need / mib:.0f} MiB ({(io + net) / mib:.0f} MiB each, "
            f"plus a quarter), and {available / mib:.0f} MiB is available: "
            f"run fewer with --sites {max(1, int(available * 0.8 / ((io + net) * 1.25)))}"
        )


class Subscriber:
    """aiomqtt on ``alarmbridge/+/event`` with a persistent session, in a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[int, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),),
                                        daemon=True)  # fmt: skip
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the bench's subscriber did not connect")

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="bench-sites",
                                          clean_session=False) as client:  # fmt: skip
                    await client.subscribe("alarmbridge/+/event", qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        now = time.monotonic_ns()
                        self.received.append((now, json.loads(bytes(message.payload or b""))))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def keys(self) -> set[str]:
        return {p["key"] for _, p in list(self.received)}


def run(
    sites_n: int, outage_s: float, edges: int, results: Path, stagger_s: float = 0.0
) -> dict[str, Any]:
    load_1min = os.getloadavg()[0]
    available = available_bytes()
    root = Path(tempfile.mkdtemp(prefix="bench-sites-", dir=REPO / "test-artifacts"))
    broker = Broker(root)
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    sites: list[Site] = []  # those started (or starting): the ones to stop
    started = time.monotonic()
    try:
        for n in range(1, sites_n + 1):
            site = Site(n, root, url)
            sites.append(site)
            site.start()
            if n == 1:
                check_room(site, sites_n, available)
            print(f"site {site.n} up after {time.monotonic() - started:.1f} s", file=sys.stderr)
            time.sleep(stagger_s)
        startup_s = time.monotonic() - started
        rss = memory(sites)
        sub = Subscriber(broker.port)
        # 1. idle latency, one edge at a time round the sites
        for i in range(edges):
            sites[i % sites_n].edge()
            time.sleep(0.05)
        time.sleep(2)
        latencies = [(now - p["mono_ns"]) / 1e6 for now, p in sub.received if p["kind"] == "input"]
        # 2. the outage under load
        marks = {s.device: s.log_seqs()[-1] for s in sites}
        stop = threading.Event()

        def load(site: Site) -> None:
            while not stop.is_set():
                with contextlib.suppress(ControlError):
                    site.edge()
                stop.wait(0.5)

        threads = [threading.Thread(target=load, args=(s,), daemon=True) for s in sites]
        for t in threads:
            t.start()
        time.sleep(2)
        broker.stop()
        time.sleep(outage_s)
        broker.start()
        back = time.monotonic()
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 600
        while not all(s.caught_up() for s in sites) and time.monotonic() < deadline:
            time.sleep(0.2)
        expected = {s.device: s.log_seqs(marks[s.device]) for s in sites}
        wanted = {f"{d}-{seq}" for d, seqs in expected.items() for seq in seqs}
        while not wanted <= sub.keys() and time.monotonic() < deadline:
            time.sleep(0.2)
        drained_s = time.monotonic() - back
        lost = len(wanted - sub.keys())
        order_ok = True
        repeats = 0
        for device, seqs in expected.items():
            got = [int(p["seq"]) for _, p in sub.received if p["device_id"] == device]
            got = [s for s in got if s > marks[device]]
            first = list(dict.fromkeys(got))
            repeats += len(got) - len(first)
            order_ok = order_ok and first == seqs
        result = {
            "sites": sites_n,
            "startup_s": round(startup_s, 1),
            "memory": rss,
            "memory_after_outage": memory(sites),
            "available_mib_before": round(available / 1024 / 1024),
            "load_1min_at_start": round(load_1min, 2),
            "edge_to_subscriber_ms": summary(latencies),
            "outage_s": outage_s,
            "outage_events": len(wanted),
            "drained_s_after_broker_back": round(drained_s, 1),
            "lost": lost,
            "in_order": order_ok,
            "repeats": repeats,
            "cpus": os.cpu_count(),
        }
        write_json(results, result)
        return result
    finally:
        for site in sites:
            site.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sites", description=__doc__)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--edges", type=int, default=500, help="idle edges for the latency")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "sites.json")
    parser.add_argument("--stagger-s", type=float, default=0.0, help="a pause between sites")
    args = parser.parse_args(argv)
    if args.sites < 1:
        parser.error("--sites must be 1 or more")
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    result = run(args.sites, args.outage_s, args.edges, args.results, args.stagger_s)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0 if result["lost"] == 0 and result["in_order"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
