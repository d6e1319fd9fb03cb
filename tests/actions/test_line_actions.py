"""ZoneMinder's zmtrigger and generic (Milestone XProtect) events over TCP and UDP (issue #20).

The zmtrigger peer follows ZoneMinder's scripts/zmtrigger.pl: it splits each line
on ``|`` into ``id|action|score|cause|text|showtext``, ignores ``on`` with a score of 0,
and reports ``<id>|on|<time>|<event id>`` to every connected client when the monitor
goes into alarm.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.network.actions.model import GenericEvent, ZoneMinderTrigger
from app.network.actions.send import run_action
from tests.actions.test_http_actions import alarm_event


@dataclass
class ZmPeer:
    port: int = 0
    lines: list[str] = field(default_factory=list)
    next_event: int = 1041
    report: bool = True


def _serve_zm(server: socket.socket, peer: ZmPeer, stop: threading.Event) -> None:
    server.settimeout(0.05)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        conn.settimeout(None)
        with conn, conn.makefile("rwb") as stream:
            for raw in stream:
                line = raw.decode().strip()
                peer.lines.append(line)
                monitor, action, *rest = line.split("|")
                score = int(rest[0]) if rest else 0
                if action.startswith("on") and score > 0 and peer.report:
                    stream.write(f"{monitor}|on|{int(time.time())}|{peer.next_event}\n".encode())
                    stream.flush()
                    peer.next_event += 1


def wait_for_lines(peer: ZmPeer, count: int) -> None:
    """The client may close before the peer has read its line: wait for the peer."""
    deadline = time.monotonic() + 5
    while len(peer.lines) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@contextmanager
def zm_peer() -> Iterator[ZmPeer]:
    peer = ZmPeer()
    server = socket.create_server(("127.0.0.1", 0))
    peer.port = server.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=_serve_zm, args=(server, peer, stop), daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        stop.set()
        thread.join(2)
        server.close()


def test_zoneminder_trigger_keeps_the_event_id_it_reports() -> None:
    with zm_peer() as peer:
        action = ZoneMinderTrigger(name="zm", host="127.0.0.1", port=peer.port, monitor=3)
        event = alarm_event()
        on = asyncio.run(run_action(action, "alarm", event, "dev1-42"))
        off = asyncio.run(run_action(action, "clear", event, "dev1-42"))
        wait_for_lines(peer, 2)
    assert on.ok and on.ref == "1041" and on.summary == "event 1041"
    assert off.ok and off.summary == "cancel sent"
    assert peer.lines == ["3|on|100|AlarmBridge IN1|IN1 alarm seq 42", "3|cancel"]


def test_zoneminder_without_a_report_is_sent_but_has_no_link() -> None:
    with zm_peer() as peer:
        peer.report = False
        action = ZoneMinderTrigger(
            name="zm", host="127.0.0.1", port=peer.port, monitor=3, duration_s=30, timeout_s=0.3
        )
        result = asyncio.run(run_action(action, "alarm", alarm_event(), "dev1-42"))
        wait_for_lines(peer, 1)
    assert result.ok and result.ref is None
    assert result.summary == "sent; no event id reported within 0.3 s"
    assert peer.lines == ["3|on+30|100|AlarmBridge IN1|IN1 alarm seq 42"]


def test_zoneminder_down_is_a_failure_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    action = ZoneMinderTrigger(name="zm", host="127.0.0.1", port=port, monitor=1, retries=1)
    result = asyncio.run(run_action(action, "alarm", alarm_event(), "dev1-42"))
    assert not result.ok and result.attempts == 2
    assert result.summary.startswith(f"could not reach zmtrigger at 127.0.0.1:{port}")


def test_generic_event_over_tcp_and_udp() -> None:
    # Milestone XProtect generic events: the VMS matches the received text; no answer.
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = tcp.accept()
        with conn:
            chunks = []
            while chunk := conn.recv(4096):
                chunks.append(chunk)
            received.append(b"".join(chunks))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        over_tcp = GenericEvent(
            name="xprotect",
            host="127.0.0.1",
            port=tcp.getsockname()[1],
            alarm_text="ALARM $channel $dvr_channel #$seq",
        )
        over_udp = over_tcp.model_copy(
            update={
                "transport": "udp",
                "port": udp.getsockname()[1],
                "clear_text": "CLEAR $channel",
            }
        )
        event = alarm_event()
        assert asyncio.run(run_action(over_tcp, "alarm", event, "k")).ok
        quiet = asyncio.run(run_action(over_tcp, "clear", event, "k"))
        assert quiet.ok and not quiet.sent
        assert asyncio.run(run_action(over_udp, "clear", event, "k")).ok
        datagram = udp.recv(4096)
        thread.join(5)
    finally:
        tcp.close()
        udp.close()
    assert received == [b"ALARM IN1 CH1 #42"]
    assert datagram == b"CLEAR IN1"
