"""``alarmbridge network``: run the network process (MQTT, webhooks), or ask it for its
status, a test message, or a replay (docs/integrations.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (annotations only: `alarmbridge io` imports this before pydantic)
    from app.settings import Settings


def _when(utc_us: int | None) -> str:
    if utc_us is None:
        return "never"
    return datetime.fromtimestamp(utc_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _sia_lines(sia: Any) -> list[str]:
    """SIA DC-09's part of ``alarmbridge network status`` (app/network/sia/status.py)."""
    lines = []
    if (r := sia.receiver) is not None:
        where = f"{r.host} TCP {r.tcp_port}" + (f" UDP {r.udp_port}" if r.udp_port else "")
        refused = ", ".join(f"{k} {n}" for k, n in sorted(r.refused.items())) or "none"
        lines.append(f"sia receiver: {where}; {r.acks} ACKs; refused: {refused}")
        for a in r.accounts:
            lines.append(
                f"  account {a.account}: last message {_when(a.last_message_utc_us)}, "
                f"supervision {a.supervision}" + (f" (poll {a.poll_s} s)" if a.poll_s else "")
            )
    if (t := sia.sender) is not None:
        peers = "; ".join(
            f"{p.role} {p.host}:{p.port} {p.state}"
            + (f" ({p.error})" if p.error else "")
            + (" (in use)" if t.in_use == p.role else "")
            for p in t.receivers
        )
        lines.append(f"sia sender: {peers}; {t.acks} ACKs, {t.naks} NAKs")
    return lines


def cmd_network(
    args: argparse.Namespace, settings: Callable[[argparse.Namespace], Settings]
) -> int:
    from app.network.client import NetworkClient

    s = settings(args)
    if args.action == "run":
        from app.network.process import run_network

        return run_network(s)
    slow = args.action in ("test", "recorders-test")
    client = NetworkClient(s.network_socket_path, timeout=130.0 if slow else 5.0)
    if args.action == "status":
        status = client.status()
        if args.json:
            print(json.dumps(status.model_dump(), indent=2))
            return 0
        stream = "live" if status.stream else f"down ({status.stream_error}); polling the log"
        print(f"device {status.device_id}; io stream {stream}")
        for d in status.destinations:
            print(
                f"{d.name}: {'connected' if d.connected else 'NOT connected'}, "
                f"last delivered {d.last_delivered_seq or '-'} "
                f"at {_when(d.last_delivered_utc_us)}, "
                f"backlog {d.backlog}"
                + (f" (oldest {_when(d.oldest_undelivered_utc_us)})" if d.backlog else "")
                + (f", last error: {d.last_error}" if d.last_error else "")
                + (f", LOST {d.lost['from']}..{d.lost['to']}" if d.lost else "")
            )
        if not status.destinations:
            print("no destination configured")
        if status.sia is not None:
            print(*_sia_lines(status.sia), sep="\n")
        if (r := status.recorders) is not None:
            failing = "; ".join(f"{n}: {why}" for n, why in r["failing"].items())
            print(
                f"recorders: done up to seq {r['cursor']}, {r['pending_events']} events in "
                f"progress, {r['skipped']} jobs skipped as too old"
                + (f", FAILING {failing}" if failing else "")
            )
        return 0
    if args.action == "settings":  # the stored settings, secrets masked (ADR 0016)
        print(json.dumps(client.settings(), indent=2))
        return 0
    if not args.name:
        raise ValueError(f"say which destination: alarmbridge network {args.action} NAME")
    if args.action == "recorders-test":
        result = client.recorders_test(args.name)
        if "snapshot" in result:
            print(f"{args.name}: snapshot {result['snapshot']} in {result['elapsed_ms']} ms")
            return 0
        failed = False
        for phase in ("alarm", "clear"):
            r = result[phase]
            if r["sent"]:
                failed = failed or not r["ok"]
                print(
                    f"{args.name} {phase}: {'done' if r['ok'] else 'FAILED'}: {r['summary']} "
                    f"({r['attempts']} attempts, {r['elapsed_ms']:.0f} ms)"
                )
        return 1 if failed else 0
    if args.action == "test":
        client.test(args.name)
        print(f"{args.name}: test sent")
        return 0
    if args.from_seq is None:
        raise ValueError("say from which seq: alarmbridge network replay NAME --from SEQ")
    client.replay(args.name, args.from_seq)
    print(f"{args.name}: sending again from seq {args.from_seq}")
    return 0


def add_parser(
    sub: Any, common: argparse.ArgumentParser, settings: Callable[[argparse.Namespace], Settings]
) -> None:
    network = sub.add_parser(
        "network",
        parents=[common],
        help="run the network process (MQTT, webhooks), or see and steer its delivery",
    )
    network.add_argument(
        "action",
        nargs="?",
        choices=["run", "status", "settings", "test", "replay", "recorders-test"],
        default="run",
        help="run (default), status, settings (the destinations' stored settings, secrets "
        "masked; change them on the Integrations page), test NAME, replay NAME --from SEQ, "
        "recorders-test NAME (a recorder action's alarm and clear, or a camera's snapshot)",
    )
    network.add_argument(
        "name", nargs="?", help="a destination (mqtt, webhook), or a recorder action or camera"
    )
    network.add_argument("--from", dest="from_seq", type=int, help="replay from this seq")
    network.add_argument(
        "--network-dir", type=Path, help="the network process's own files (default: the data dir)"
    )
    network.add_argument("--json", action="store_true", help="status as JSON")
    network.set_defaults(func=lambda args: cmd_network(args, settings))
