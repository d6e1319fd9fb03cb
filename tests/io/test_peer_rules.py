"""Who may send the network side's commands on the io socket (#21): ``network-fault``,
``sia-refused`` and ``annotate`` (#20) only from the network process's user, ``signal`` from the
network or web process's user, ``security`` from the web process's user, and all of
them from the io process's own user. A refusal is a clear error and a
``command-refused`` security row (one per user, command and minute).

The rule with other users is checked on its own (owners given by a table); the io
process is checked as it runs, from its own user, and (as root, as CI runs) from a
client running as another user, with the network and web directories owned by it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.io.audit import Refusals
from app.io.commands import SiaRefused
from app.io.peer import peer_rules
from app.io.process import IoProcess
from app.io.protocol import Client
from app.settings import Settings
from tests.io import other_user
from tests.io.other_user import OTHER_UID, run_as_other_user

IO_UID, WEB_UID, NET_UID, OTHER = 990, 991, 992, 993
WEB, NET = Path("/web"), Path("/net")


def test_each_restricted_command_takes_only_its_senders() -> None:
    owners = {WEB: WEB_UID, NET: NET_UID}
    rules = peer_rules(WEB, NET, own_uid=IO_UID, owner_of=owners.get)
    allowed = {
        cmd: sorted(uid for uid in (IO_UID, WEB_UID, NET_UID, OTHER) if rule.allows(uid))
        for cmd, rule in rules.items()
    }
    assert allowed == {
        "security": [IO_UID, WEB_UID],
        "network-fault": [IO_UID, NET_UID],
        "sia-refused": [IO_UID, NET_UID],
        "annotate": [IO_UID, NET_UID],
        "signal": [IO_UID, WEB_UID, NET_UID],
    }
    assert not any(rule.allows(None) for rule in rules.values())  # an unknown peer
    assert rules["network-fault"].refusal("network-fault") == (
        "'network-fault' is accepted only from the network process's user"
    )
    # a directory that is not there (yet): only the io process's own user
    missing = peer_rules(WEB, NET, own_uid=IO_UID, owner_of=lambda _: None)
    assert [r.allows(NET_UID) for r in missing.values()] == [False] * 5
    assert all(r.allows(IO_UID) for r in missing.values())


def test_refusals_are_logged_once_per_user_command_and_period() -> None:
    rows: list[tuple[str, int | None, int]] = []
    now = [100.0]
    refusals = Refusals(lambda cmd, uid, n, why: rows.append((cmd, uid, n)), 60, lambda: now[0])
    for _ in range(5):
        refusals.refused("signal", OTHER, "no")
    refusals.refused("network-fault", OTHER, "no")
    assert rows == [("signal", OTHER, 1), ("network-fault", OTHER, 1)]
    now[0] += 61
    refusals.refused("signal", OTHER, "no")
    assert rows[-1] == ("signal", OTHER, 5)  # this one and the four not logged before


def _rows(process: IoProcess, state: str) -> list[dict[str, Any]]:
    process.writer.flush(timeout=2.0)
    with process.db.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT source, detail FROM events WHERE kind = 'security' AND state = ?", (state,)
        )
        return [{"source": s, "detail": json.loads(d or "null")} for s, d in found]


@pytest.fixture
def own_io(tmp_path: Path) -> Iterator[IoProcess]:
    settings = Settings(data_dir=tmp_path / "data", pins="mock", log_check_delay_s=3600)
    process = IoProcess(settings)
    process.start()
    yield process
    process.stop()


def test_the_io_process_s_own_user_may_send_them_all(own_io: IoProcess) -> None:
    client = Client(own_io.settings.socket_path)
    client.send(
        SiaRefused(
            address="192.0.2.7",
            reason="crc",
            answer="NAK",
            refused=3,
            first_utc_us=1_796_000_000_000_000,
            last_utc_us=1_796_000_001_000_000,
            account="1234",
            message="bad CRC: sent 0000, computed 1A2B",
        )
    )
    client.request("network-fault", code="sia-1234-silent", active=True, message="a test")
    (row,) = _rows(own_io, "sia-refused")
    assert row["source"] == "sia:192.0.2.7"
    assert row["detail"] == {
        "address": "192.0.2.7",
        "reason": "crc",
        "answer": "NAK",
        "refused": 3,
        "first": "2026-11-30T00:53:20.000Z",
        "last": "2026-11-30T00:53:21.000Z",
        "account": "1234",
        "message": "bad CRC: sent 0000, computed 1A2B",
    }
    faults = {f["key"] for f in client.request("status")["faults"]}
    assert "network:sia-1234-silent" in faults
    assert _rows(own_io, "command-refused") == []


# -- as another user (needs root) ------------------------------------------------------

CLIENT = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
out = sock.makefile("rwb")
for cmd in json.loads(sys.argv[2]):
    out.write(json.dumps(cmd).encode() + b"\\n")
    out.flush()
    reply = json.loads(out.readline())
    print(json.dumps({"cmd": cmd["cmd"], "ok": reply["ok"], "error": reply.get("error")}))
"""
COMMANDS: list[dict[str, Any]] = [
    {"cmd": "network-fault", "code": "forged", "active": True, "message": "forged"},
    {"cmd": "signal", "virtual": 1, "action": "active", "user": "forged"},
    {
        "cmd": "sia-refused",
        "address": "forged",
        "reason": "crc",
        "answer": "NAK",
        "refused": 1,
        "first_utc_us": 0,
        "last_utc_us": 0,
    },
    {"cmd": "security", "state": "login", "user": "forged"},
    {"cmd": "annotate", "event": 1, "what": "snapshot", "name": "forged", "ok": True},
]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    yield from other_user.shared_dir()


def _io(where: Path, owned_by_other: str | None) -> IoProcess:
    dirs = {"web_dir": where / "web", "network_dir": where / "network"}
    for name, path in dirs.items():
        path.mkdir(mode=0o700)
        if name == owned_by_other:  # as the package makes it for that process's user
            os.chown(path, OTHER_UID, OTHER_UID)
    settings = Settings(
        data_dir=where / "data",
        web_dir=dirs["web_dir"],
        network_dir=dirs["network_dir"],
        pins="mock",
        log_check_delay_s=3600,
    )
    process = IoProcess(settings)
    process.start()
    client = Client(settings.socket_path)
    config = client.request("config-get")
    config["virtual_inputs"] = [{"name": "Yard camera", "kind": "24h"}]
    client.request("config-set", config=config, user="ann")
    settings.data_dir.chmod(0o711)
    settings.socket_path.chmod(0o666)  # let the other user connect at all
    return process


@pytest.mark.parametrize(
    ("owned", "accepted"),
    [
        (None, set()),
        ("network_dir", {"network-fault", "signal", "sia-refused", "annotate"}),
        ("web_dir", {"signal", "security"}),
    ],
)
def test_another_user_is_refused_unless_it_owns_the_process_s_directory(
    shared_dir: Path, owned: str | None, accepted: set[str]
) -> None:
    process = _io(shared_dir, owned)
    try:
        replies = run_as_other_user(CLIENT, str(process.settings.socket_path), json.dumps(COMMANDS))
        assert {cmd for cmd, r in replies.items() if r["ok"]} == accepted, replies
        for cmd in set(replies) - accepted:
            assert "is accepted only from the" in replies[cmd]["error"], replies[cmd]
        if "network-fault" not in accepted:
            assert "only from the network process's user" in replies["network-fault"]["error"]
        refused = _rows(process, "command-refused")  # written before the refusal's reply
        names = {c["cmd"] for c in COMMANDS}
        assert sorted(r["detail"]["command"] for r in refused) == sorted(names - accepted)
        assert {r["source"] for r in refused} <= {"nobody", f"uid:{OTHER_UID}"}
        assert all(r["detail"]["uid"] == OTHER_UID for r in refused)
        status = Client(process.settings.socket_path).request("status")
        forged_fault = any(f["key"] == "network:forged" for f in status["faults"])
        assert forged_fault is ("network-fault" in accepted)
        assert (status["virtual_inputs"][0]["alarm"] is True) is ("signal" in accepted)
    finally:
        process.stop()
