"""The network process as a process: started by 'alarmbridge run' (and stopped before
io), its CLI, losses to retention, and the backlog fault raised through io."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.io.commands import SecurityEvent, Simulate
from app.network.client import NetworkClient, NetworkError
from app.network.outbox import Outbox
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import SECRET, NetworkProc, Receiver, wait_until
from tests.network.smtp_peer import Server

ALARMBRIDGE = Path(sys.executable).parent / "alarmbridge"


def faults(io: IoProc) -> dict[str, str]:
    return {f["key"]: f["message"] for f in io.client.request("status")["faults"]}


def test_run_starts_io_network_web_and_stops_network_before_io(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "data"
    run = subprocess.Popen(
        [str(ALARMBRIDGE), "run", "--pins", "mock", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def answers() -> bool:
            try:
                NetworkClient(data / "network.sock", timeout=2).status()
            except NetworkError:
                return False
            return True

        wait_until(answers, 30, "the network process under 'run'")
    finally:
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    started = [
        line.split()[2] for line in err.splitlines() if line.startswith("supervisor: started")
    ]
    assert started == ["io", "network", "web"]
    stopping = [
        line.split()[2] for line in err.splitlines() if line.startswith("supervisor: stopping ")
    ]
    assert stopping == ["web", "network", "io"]


def test_cli_status_test_and_replay(io_proc: IoProc, receiver: Receiver) -> None:
    env = {"ALARMBRIDGE_WEBHOOK_URL": receiver.url, "ALARMBRIDGE_WEBHOOK_SECRET": SECRET}
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        data = ["--data-dir", str(io_proc.data_dir)]
        shown = subprocess.run(
            [*CLI, "network", "status", *data], capture_output=True, text=True, timeout=30
        )
        assert shown.returncode == 0, shown.stderr
        assert "webhook: connected" in shown.stdout
        tested = subprocess.run(
            [*CLI, "network", "test", "webhook", *data], capture_output=True, text=True, timeout=30
        )
        assert tested.returncode == 0, tested.stderr
        assert any(r.body["type"] == "alarmbridge.test" for r in receiver.received)
        wrong = subprocess.run(
            [*CLI, "network", "replay", "nowhere", "--from", "1", *data],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert wrong.returncode == 1
        assert "no destination 'nowhere': webhook" in wrong.stderr
    finally:
        network.close()


def test_events_removed_by_retention_are_recorded_as_lost(
    io_proc: IoProc, receiver: Receiver
) -> None:
    for n in range(20):
        io_proc.client.send(SecurityEvent(state="login", user=f"old{n}"))
    io_proc.stop()
    db = io_proc.data_dir / "alarmbridge.db"
    # What the log's retention does to the oldest rows (the io process is stopped).
    with sqlite3.connect(db) as connection:
        cut = connection.execute("SELECT min(seq) + 9 FROM events").fetchone()[0]
        connection.execute("DELETE FROM events WHERE seq <= ?", (cut,))
    outbox = Outbox(io_proc.data_dir / "network.db")
    outbox.cursor("webhook", start_at=0)  # a destination that had got nothing yet
    outbox.close()
    io_proc.start()
    env = {
        "ALARMBRIDGE_WEBHOOK_URL": receiver.url,
        "ALARMBRIDGE_WEBHOOK_SECRET": SECRET,
    }
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        wait_until(lambda: network.status().destinations[0].lost, what="the loss recorded")
        lost = network.status().destinations[0].lost
        assert lost == {"from": 1, "to": cut, "total": cut}
        # the loss is recorded before the first batch after it is sent: wait for that batch
        wait_until(lambda: receiver.received, what="the first event after the loss")
        assert receiver.received[0].body["data"]["seq"] == cut + 1
        # ...and logged, as a fault on channel network, through the io process
        engine = make_engine(db, read_only=True)
        try:

            def logged() -> list[str]:
                rows = events_after(engine, cut, limit=10_000)
                return [
                    str((e.detail or {}).get("message"))
                    for e in rows
                    if e.kind == "fault" and e.channel == "network"
                ]

            wait_until(logged, what="the lost fault in the log")
            assert f"events 1 to {cut} were removed" in logged()[0]
        finally:
            engine.dispose()
    finally:
        network.close()


def test_an_old_backlog_raises_a_fault_through_io_and_clears_it(
    io_proc: IoProc, receiver: Receiver
) -> None:
    env = {
        "ALARMBRIDGE_WEBHOOK_URL": receiver.url,
        "ALARMBRIDGE_WEBHOOK_SECRET": SECRET,
        "ALARMBRIDGE_BACKLOG_FAULT_S": "5",
    }
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        receiver.failing = True
        io_proc.client.send(SecurityEvent(state="login", user="waiting"))
        wait_until(lambda: "network:webhook-backlog" in faults(io_proc), 30, "backlog fault")
        assert "not delivered" in faults(io_proc)["network:webhook-backlog"]
        receiver.failing = False
        wait_until(lambda: "network:webhook-backlog" not in faults(io_proc), 30, "cleared")
    finally:
        network.close()


def test_a_wrong_destination_setting_stops_only_the_network_process(io_proc: IoProc) -> None:
    env = {
        **os.environ,
        "ALARMBRIDGE_WEBHOOK_URL": "ftp://example",
        "ALARMBRIDGE_WEBHOOK_SECRET": "whsec_c2hvcnQ=",
    }
    done = subprocess.run(
        [*CLI, "network", "run", "--data-dir", str(io_proc.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert "ALARMBRIDGE_WEBHOOK_URL must look like http://host or https://host" in line
    assert "ALARMBRIDGE_WEBHOOK_SECRET must be whsec_ followed by base64" in line
    # the io process reads the same settings and does not mind
    io_proc.stop()
    io_proc.env.update(env)
    io_proc.start()


def test_the_device_id_stays_across_restarts(io_proc: IoProc) -> None:
    network = NetworkProc(io_proc.data_dir, {})
    try:
        network.start()
        first = network.status().device_id
        network.kill()
        network.start()
        assert network.status().device_id == first
        assert (io_proc.data_dir / "device-id").read_text().strip() == first
    finally:
        network.close()


def test_the_mail_destination_runs_in_the_network_process(
    io_proc: IoProc, smtp_server: Server
) -> None:
    env = {
        "ALARMBRIDGE_SMTP_URL": smtp_server.url("smtp+starttls"),
        "ALARMBRIDGE_MAIL_TO": "guard@example.com",
    }
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        assert [d.name for d in network.status().destinations] == ["mail"]
        io_proc.client.send(Simulate(action="close", input=1))
        mails = smtp_server.keeper.wait(1, timeout=30)
        assert "ALARM" in str(mails[0].message["Subject"])
        device = network.status().device_id
        assert str(mails[0].message["X-AlarmBridge-Key"]).startswith(f"{device}-")
    finally:
        network.close()
