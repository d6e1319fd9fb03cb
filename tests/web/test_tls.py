"""HTTPS: a per-device self-signed certificate made once, served by the real
``alarmbridge web``, with the session cookie marked Secure."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth.passwords import hash_password
from app.auth.store import AuthStore
from app.web.tls import ensure_self_signed, fingerprint
from tests.web.conftest import ADMIN

REPO = Path(__file__).resolve().parents[2]


def test_the_certificate_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path / "tls")
    assert key.stat().st_mode & 0o077 == 0
    first = fingerprint(cert)
    assert len(first.split(":")) == 32
    assert ensure_self_signed(tmp_path / "tls") == (cert, key)
    assert fingerprint(cert) == first  # not remade at the next start


@pytest.fixture
def https_web(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    data = tmp_path / "data"
    store = AuthStore(data / "auth.db")
    store.create_first_admin(ADMIN[0], hash_password(ADMIN[1]))
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "web.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "web",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--tls",
            "self-signed",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 30
        while "SHA-256" not in (tmp_path / "web.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "web.log"
            ).read_text()
            time.sleep(0.1)
        yield port, data / "tls" / "cert.pem"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_the_web_ui_serves_https_and_the_session_cookie_is_secure(
    https_web: tuple[int, Path],
) -> None:
    port, cert = https_web
    context = ssl.create_default_context(cafile=str(cert))  # verified, against this device
    deadline = time.monotonic() + 20
    while True:
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        try:
            connection.request("GET", "/login")
            reply = connection.getresponse()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert reply.status == 200 and b"Log in" in reply.read()
    connection.request(
        "POST",
        "/api/v1/login",
        body=json.dumps({"name": ADMIN[0], "password": ADMIN[1]}),
        headers={"Content-Type": "application/json", "Origin": f"https://127.0.0.1:{port}"},
    )
    login = connection.getresponse()
    login.read()
    assert login.status == 200
    cookie = login.getheader("set-cookie", "").lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    connection.close()
