"""Where the web process meets the rest of the machine (issue #16): which client
address it believes, which files it and the io process leave readable, and who may
write access events through the io process's socket. Real processes: ``alarmbridge
web``, ``alarmbridge run`` and ``alarmbridge io`` started as the package starts them,
and a client of the io socket running as another user."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.auth.passwords import hash_password
from app.auth.store import AuthStore
from app.io.process import IoProcess
from app.settings import Settings
from tests.io import other_user
from tests.io.other_user import OTHER_UID, run_as_other_user
from tests.support import wait_for
from tests.web.conftest import ADMIN

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    args: list[str], log: Path, *, umask: int = 0o022, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*CLI, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            umask=umask,
            env={**os.environ, **(env or {})},
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


# -- 6. forwarded headers --------------------------------------------------------------


@pytest.fixture
def claimed(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store = AuthStore(data / "auth.db")
    store.create_first_admin(ADMIN[0], hash_password(ADMIN[1]))
    store.close()
    return data


def web_login(port: int, password: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    deadline = time.monotonic() + 20
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(
                "POST",
                "/api/v1/login",
                body=json.dumps({"name": ADMIN[0], "password": password}),
                headers={"Content-Type": "application/json", **headers},
            )
            reply = connection.getresponse()
            reply.read()
            return reply
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        finally:
            connection.close()


def throttled_addresses(data: Path) -> set[str]:
    with sqlite3.connect(data / "auth.db") as db:
        keys = [row[0] for row in db.execute("SELECT key FROM throttle")]
    return {k.removeprefix("address:") for k in keys if k.startswith("address:")}


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy", "a trusted proxy"])
def test_the_scheme_a_client_claims_counts_only_from_a_trusted_proxy(
    tmp_path: Path, claimed: Path, trusted: bool
) -> None:
    port = free_port()
    env = {"ALARMBRIDGE_TRUSTED_PROXIES": "127.0.0.1"} if trusted else {}
    log = tmp_path / "web.log"
    proc = start(["web", "--data-dir", str(claimed), "--port", str(port)], log, env=env)
    try:
        origin = {"Origin": f"{'https' if trusted else 'http'}://127.0.0.1:{port}"}
        good = web_login(port, ADMIN[1], {**FORWARDED, **origin})
        assert good.status == 200, log.read_text()
    finally:
        stop(proc)
    # the cookie is Secure only if the proxy, trusted, said the browser used https
    assert ("secure" in (good.getheader("set-cookie") or "").lower()) is trusted


def test_a_trusted_proxy_names_the_address_that_is_counted(tmp_path: Path, claimed: Path) -> None:
    port = free_port()
    log = tmp_path / "web.log"
    args = ["web", "--data-dir", str(claimed), "--port", str(port)]
    proc = start(args, log, env={"ALARMBRIDGE_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        origin = {"Origin": f"https://127.0.0.1:{port}"}
        assert web_login(port, "wrong password here", {**FORWARDED, **origin}).status == 401
    finally:
        stop(proc)
    assert throttled_addresses(claimed) == {"203.0.113.7"}

    proc = start(args, log)  # and without the setting, the same request counts 127.0.0.1
    try:
        origin = {"Origin": f"http://127.0.0.1:{port}"}
        assert web_login(port, "wrong password here", {**FORWARDED, **origin}).status == 401
    finally:
        stop(proc)
    assert throttled_addresses(claimed) == {"203.0.113.7", "127.0.0.1"}


# -- 8. file modes ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_run_makes_its_directories_and_files_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    log = tmp_path / "run.log"
    wanted = ["alarmbridge.db", "auth.db", "setup-code", "io.sock", "network.sock", "device-id"]
    proc = start(
        ["run", "--pins", "mock", "--data-dir", str(data), "--port", str(free_port())],
        log,
        umask=0o022,  # a usual login shell's: before, auth.db and the log were 0644
    )
    try:
        wait_until(lambda: all((data / n).exists() for n in wanted), proc, log)
        modes = {path.name: mode(path) for path in data.iterdir()}
    finally:
        stop(proc)
    assert mode(data) == 0o700
    assert mode(data.parent) == 0o700  # made by the same command
    assert {"alarmbridge.db-wal", "auth.db-wal"} <= set(modes)
    # the socket: owner and group (the web user's group on the Pi), never others
    assert modes.pop("io.sock") & 0o007 == 0
    assert {name: oct(m) for name, m in modes.items() if m & 0o077} == {}


def test_the_io_process_keeps_the_group_access_its_service_sets(tmp_path: Path) -> None:
    """The .deb's io unit runs with UMask=0027 in a 0750 directory, so the web user
    (in group alarmbridge) can read the log and reach the socket: that stays."""
    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    data.chmod(0o750)
    log = tmp_path / "io.log"
    proc = start(["io", "--pins", "mock", "--data-dir", str(data)], log, umask=0o027)
    try:
        wait_until(lambda: (data / "io.sock").exists(), proc, log)
    finally:
        stop(proc)
    assert mode(data) == 0o750
    assert mode(data / "alarmbridge.db") == 0o640


def test_the_io_process_never_leaves_files_for_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "io.log"
    proc = start(["io", "--pins", "mock", "--data-dir", str(data)], log, umask=0o022)
    try:
        wait_until(lambda: (data / "io.sock").exists(), proc, log)
    finally:
        stop(proc)
    for path in [data, *data.iterdir()]:
        assert mode(path) & 0o007 == 0, f"{path.name} is {oct(mode(path))}"


# -- 12. the io socket's security command ---------------------------------------------------

CLIENT = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
out = sock.makefile("rwb")
for cmd in ({"cmd": "status"}, {"cmd": "security", "state": "login", "user": "forged",
            "detail": {"address": "10.9.8.7"}}):
    out.write(json.dumps(cmd).encode() + b"\\n")
    out.flush()
    reply = json.loads(out.readline())
    print(json.dumps({"cmd": cmd["cmd"], "ok": reply["ok"], "error": reply.get("error")}))
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    yield from other_user.shared_dir()


def io_in(data: Path, web: Path | None) -> IoProcess:
    settings = Settings(data_dir=data, web_dir=web, pins="mock")
    process = IoProcess(settings)
    process.start()
    data.chmod(0o711)
    settings.socket_path.chmod(0o666)  # let the other user connect at all
    return process


def logged_sources(process: IoProcess) -> list[str]:
    with process.db.connect() as connection:
        rows = connection.exec_driver_sql("SELECT source FROM events WHERE kind = 'security'")
        return [str(r[0]) for r in rows]


def test_only_the_web_processs_user_may_write_security_events(shared_dir: Path) -> None:
    process = io_in(shared_dir / "data", None)  # the web dir is the data dir: ours
    try:
        replies = run_as_other_user(CLIENT, str(process.settings.socket_path))
        assert replies["status"]["ok"] is True  # other commands are for the socket's group
        assert replies["security"]["ok"] is False
        assert "only from the web process's user" in str(replies["security"]["error"])
        time.sleep(0.3)
        assert "forged" not in logged_sources(process)
    finally:
        process.stop()


def test_the_owner_of_the_web_directory_may_write_security_events(shared_dir: Path) -> None:
    web = shared_dir / "web"
    web.mkdir(mode=0o700)
    os.chown(web, OTHER_UID, OTHER_UID)  # as the package makes it for alarmbridge-web
    process = io_in(shared_dir / "data", web)
    try:
        replies = run_as_other_user(CLIENT, str(process.settings.socket_path))
        assert replies["security"]["ok"] is True, replies
        wait_for(lambda: "forged" in logged_sources(process))
    finally:
        process.stop()
