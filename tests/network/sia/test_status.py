"""SIA DC-09 in the network process's status, /api/v1/integrations and the
Integrations page (#21): the receiver's address, each account's last message and
supervision, ACKs and refusals by reason; the sender's primary and backup. A real
io process, ``alarmbridge network`` with a SIA file, a panel's frames built by
siadc09, and pysiaalarm's receiver as the receiving centre's backup (the primary
is a port where nothing listens)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from siadc09 import message as dc09_message

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.settings import Settings
from app.web import create_app
from tests.io.conftest import IoProc, cli
from tests.network.conftest import NetworkProc, wait_until
from tests.network.sia.test_receiver import _frame
from tests.network.sia.test_sender import Peer, _free_port

KEY = "0123456789ABCDEF0123456789ABCDEF"


class Site:
    def __init__(self, io: IoProc, network: NetworkProc, centre: Peer, port: int, dead: int):
        self.io, self.network, self.centre, self.port, self.dead = io, network, centre, port, dead


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    io = IoProc(tmp_path / "data", env={"ALARMBRIDGE_LOG_CHECK_DELAY_S": "3600"})
    io.start()
    config = io.client.request("config-get")
    config["virtual_inputs"] = [{"name": "Zone 3", "kind": "24h", "outputs": [2]}]
    io.client.request("config-set", config=config, user="ann")
    centre = Peer(_free_port())
    centre.start()
    port, dead = _free_port(), _free_port()
    sia = {
        "receiver": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
            "accounts": [
                {"account": "1234", "key": KEY, "zones": [{"zone": 3, "virtual": 1}]},
                {"account": "9ABC", "poll_s": 1},  # never heard: missed its poll
            ],
        },
        "sender": {
            "enabled": True,
            "primary": {"host": "127.0.0.1", "port": dead},
            "backup": {"host": "127.0.0.1", "port": centre.port},
            "account": "1234",
            "null_s": 0,
            "timeout_s": 2,
        },
    }
    sia_file = tmp_path / "sia.json"
    sia_file.write_text(json.dumps(sia))
    network = NetworkProc(io.data_dir, {"ALARMBRIDGE_SIA_FILE": str(sia_file)})
    try:
        network.start()
        yield Site(io, network, centre, port, dead)
    finally:
        network.close()
        centre.kill()
        io.stop()


def _send(port: int, frame: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(frame)
        answer = b""
        while not answer.endswith(b"\r"):
            answer += conn.recv(1024)
    return answer


def _web(data_dir: Path) -> tuple[TestClient, dict[str, str]]:
    store = AuthStore(data_dir / "auth.db")
    try:
        store.create_first_admin("admin", hash_password("a long admin passphrase"))
        viewer, _ = store.new_token("viewer", Role.VIEWER, "admin")
    finally:
        store.close()
    settings = Settings(
        data_dir=data_dir, pins="mock", allowed_hosts=["testserver"], timezone="UTC"
    )
    return TestClient(create_app(settings)), {"Authorization": f"Bearer {viewer}"}


def test_the_status_api_and_page_show_the_receiver_and_the_sender(site: Site) -> None:
    wait_until(lambda: (site.network.status().sia or None) is not None, what="SIA status")
    alarm = _frame("ADM-CID", b"#1234|1130 01 003", acct=0x1234, key=KEY, seq=7)
    ack = dc09_message.parse_frame(_send(site.port, alarm), KEY.encode())
    assert type(ack).__name__ == "AckMessage"
    wrong_key = _frame("ADM-CID", b"#1234|3130 01 003", acct=0x1234, key=KEY[::-1], seq=8)
    assert type(dc09_message.parse_frame(_send(site.port, wrong_key))).__name__ == "NakMessage"
    heard = site.centre.got(1, timeout=30)  # through the backup: the primary is down
    while heard[-1]["code"] != "TA":
        heard += site.centre.got(1, timeout=30)

    def sia() -> Any:
        return site.network.status().sia

    wait_until(lambda: sia().receiver.accounts[1].supervision == "silent", what="9ABC silent")
    status = sia()
    receiver, sender = status.receiver, status.sender
    assert (receiver.host, receiver.tcp_port, receiver.udp_port) == (
        "127.0.0.1",
        site.port,
        site.port,
    )
    assert (receiver.acks, receiver.accepted, receiver.refused) == (1, 1, {"decrypt": 1})
    first, second = receiver.accounts
    assert (first.account, first.encrypted, first.supervision) == ("1234", True, "off")
    assert first.last_message_utc_us is not None
    assert (second.account, second.last_message_utc_us, second.poll_s) == ("9ABC", None, 1)
    primary, backup = sender.receivers
    assert (primary.role, primary.port, primary.state) == ("primary", site.dead, "failed")
    assert primary.error
    assert (backup.role, backup.port, backup.state) == ("backup", site.centre.port, "ok")
    assert sender.in_use == "backup" and sender.acks >= 1 and sender.naks == 0

    # the refusal is in the event log, written by the io process for the network process
    wait_until(lambda: _refusal_rows(site.io), what="the sia-refused row")
    (row,) = _refusal_rows(site.io)
    assert (row["detail"]["reason"], row["detail"]["account"]) == ("decrypt", "1234")

    shown = cli(site.io.data_dir, "network", "status").stdout
    assert f"sia receiver: 127.0.0.1 TCP {site.port} UDP {site.port}; 1 ACKs" in shown
    assert "refused: decrypt 1" in shown and "account 9ABC: last message never" in shown
    assert f"backup 127.0.0.1:{site.centre.port} ok (in use)" in shown

    web, viewer = _web(site.io.data_dir)
    with web:
        body = web.get("/api/v1/integrations", headers=viewer).json()
        assert body["sia"]["receiver"]["refused"] == {"decrypt": 1}
        assert body["sia"]["sender"]["in_use"] == "backup"
        page = web.get("/integrations", headers={**viewer, "Accept": "text/html"}).text
    assert "SIA DC-09" in page
    assert f"127.0.0.1, TCP {site.port} and UDP {site.port}" in page
    assert "decrypt 1" in page
    assert "missed its poll (1 s): a fault" in page
    assert f"127.0.0.1:{site.dead}: failed:" in page
    assert f"127.0.0.1:{site.centre.port}: answering" in page and "(in use)" in page


def _refusal_rows(io: IoProc) -> list[dict[str, Any]]:
    out = cli(io.data_dir, "events", "--json", "--limit", "1000").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return [r for r in rows if r["kind"] == "security" and r["state"] == "sia-refused"]
