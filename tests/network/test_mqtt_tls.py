"""MQTT over TLS with a CA file and a user and password from the URL, against a real
Mosquitto with a TLS listener and a password file; and inbound commands, off by
default, on when enabled (acting as an operator, logged as mqtt:<client id>)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.io.commands import Simulate
from tests.io.conftest import IoProc
from tests.network.conftest import Broker, NetworkProc, Subscriber, wait_until
from tests.support import wait_for


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    d = tmp_path_factory.mktemp("mosquitto-tls")
    ca_key, ca, key, csr, cert = (d / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem"))
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    passwords = d / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "bridge", "s3cret:pass"],
        check=True,
        timeout=30,
    )
    passwords.chmod(0o600)
    extra = (
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwords}\n"
        "require_certificate false\n"
    )
    broker = Broker(d, extra=extra, scheme="mqtts", anonymous=False)
    broker.start()
    yield broker
    broker.stop()
    broker.log.close()


def test_tls_with_a_ca_file_and_a_password(io_proc: IoProc, tls_broker: Broker) -> None:
    ca = tls_broker.config.parent / "ca.pem"
    url = tls_broker.url.replace("mqtts://", "mqtts://bridge:s3cret%3Apass@")
    network = NetworkProc(
        io_proc.data_dir,
        {
            "ALARMBRIDGE_MQTT_URL": url,
            "ALARMBRIDGE_MQTT_CA_FILE": str(ca),
            "ALARMBRIDGE_MQTT_PREFIX": "tls/site",
        },
    )
    sub = subprocess.Popen(
        [
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(tls_broker.port), "--cafile", str(ca),
            "-u", "bridge", "-P", "s3cret:pass", "-t", "tls/site/event", "-C", "1", "-W", "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        network.start()
        wait_until(lambda: network.status().destinations[0].connected, what="connected by TLS")
        io_proc.client.send(Simulate(action="close", input=1))
        out, _ = sub.communicate(timeout=30)
        assert '"kind":"input"' in out or '"kind"' in out
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.communicate()
        network.close()


def test_a_wrong_ca_is_refused_and_said(
    io_proc: IoProc, tls_broker: Broker, tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other",
        "-keyout", str(tmp_path / "other.key"), "-out", str(other),
    )  # fmt: skip
    url = tls_broker.url.replace("mqtts://", "mqtts://bridge:s3cret%3Apass@")
    network = NetworkProc(
        io_proc.data_dir, {"ALARMBRIDGE_MQTT_URL": url, "ALARMBRIDGE_MQTT_CA_FILE": str(other)}
    )
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: network.status().destinations[0].last_error, what="an error")
        status = network.status().destinations[0]
        assert not status.connected
        assert "not connected" in (status.last_error or "")
        assert "certificate" in (status.last_error or "").lower()
    finally:
        network.close()


PREFIX = "cmd/site"


@pytest.mark.parametrize("enabled", [False, True])
def test_inbound_commands_only_when_enabled(io_proc: IoProc, broker: Broker, enabled: bool) -> None:
    network = NetworkProc(
        io_proc.data_dir,
        {
            "ALARMBRIDGE_MQTT_URL": broker.url,
            "ALARMBRIDGE_MQTT_PREFIX": PREFIX,
            "ALARMBRIDGE_MQTT_COMMANDS": "true" if enabled else "false",
        },
    )
    sub = Subscriber(broker, f"{PREFIX}/event", name="commands")
    try:
        network.start()
        wait_until(lambda: network.status().destinations[0].connected, what="connected")
        output = io_proc.client.request("status")["outputs"][1]
        slug = output["name"].lower()
        broker.publish(f"{PREFIX}/output/{slug}/set", "ON")
        if not enabled:
            broker.publish(f"{PREFIX}/trigger/press", "PRESS")
            # the broker has delivered both before this marker event comes back to us
            io_proc.client.send(Simulate(action="close", input=1))
            wait_until(lambda: any(m.json()["kind"] == "input" for m in sub.on(f"{PREFIX}/event")))
            assert not io_proc.client.request("status")["outputs"][1]["active"]
            assert not any(m.json()["kind"] == "operator" for m in sub.on(f"{PREFIX}/event"))
            return
        wait_until(lambda: io_proc.client.request("status")["outputs"][1]["active"], what="ON")
        device = network.status().device_id
        engine = make_engine(io_proc.data_dir / "alarmbridge.db", read_only=True)

        def operator_rows() -> list[Any]:  # the row commits just after the output acts
            return [e for e in events_after(engine, 0, limit=10_000) if e.kind == "operator"]

        try:
            acted = wait_for(operator_rows, 10, interval=0.05, what="the command's log row")
        finally:
            engine.dispose()
        assert acted[-1].source == f"mqtt:alarmbridge-{device}"
        broker.publish(f"{PREFIX}/output/{slug}/set", "OFF")
        wait_until(lambda: not io_proc.client.request("status")["outputs"][1]["active"], what="OFF")
    finally:
        sub.close()
        network.close()
