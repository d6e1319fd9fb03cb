"""Real peers for the network process's tests, started once per test session.

* SMTP (the e-mail destination): aiosmtpd's Controller (a real SMTP server, in a
  thread of this process) on free loopback ports: ``smtp_server``, plain SMTP that
  also offers STARTTLS (a throwaway self-signed certificate made by the test) and
  AUTH (only after STARTTLS, as real servers do); ``smtps_server``, implicit TLS
  from the first byte, with AUTH. Both keep every message they accept, refuse
  recipients at ``refused.example`` with 550, and accept one account
  (``USER``/``PASSWORD``).
* MQTT: a Mosquitto broker (its own config, a free loopback port),
  ``mosquitto_sub`` as an independent subscriber. tests/network/install-mosquitto.sh
  (run by `make test`) installs Mosquitto; without it the MQTT tests are skipped, or
  fail when ALARMBRIDGE_REQUIRE_MQTT=1 (.ci/run sets it).
* Webhooks: a receiver that verifies each request with the ``standardwebhooks``
  package.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.network.client import NetworkClient, NetworkError, NetworkStatus
from app.settings import Settings
from app.web import create_app
from app.web.tls import ensure_self_signed
from tests.io.conftest import CLI, IoProc
from tests.network.smtp_peer import Server, free_port, start_server
from tests.support import wait_for


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (it is its own CA)."""
    return ensure_self_signed(tmp_path_factory.mktemp("smtp-tls"))


def _running(certificate: tuple[Path, Path], implicit_tls: bool) -> Iterator[Server]:
    server = start_server(certificate, implicit_tls=implicit_tls)
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture(scope="session")
def smtp_session_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    yield from _running(certificate, implicit_tls=False)


@pytest.fixture(scope="session")
def smtps_session_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    yield from _running(certificate, implicit_tls=True)


@pytest.fixture
def smtp_server(smtp_session_server: Server) -> Server:
    """The session's STARTTLS server, its mailbox emptied for this test."""
    smtp_session_server.keeper.take()
    return smtp_session_server


@pytest.fixture
def smtps_server(smtps_session_server: Server) -> Server:
    smtps_session_server.keeper.take()
    return smtps_session_server


# -- MQTT and webhooks ---------------------------------------------------------------

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """tests.support.wait_for with the network tests' longer default."""
    wait_for(check, timeout, interval=0.05, what=what)


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def _missing(what: str) -> None:
    message = f"{what} not found: run tests/network/install-mosquitto.sh (as root)"
    if os.environ.get("ALARMBRIDGE_REQUIRE_MQTT") == "1":
        pytest.fail(message + " (ALARMBRIDGE_REQUIRE_MQTT=1)")
    pytest.skip(message)


class Broker:
    """Mosquitto on 127.0.0.1 and its own port, persistent (so a subscriber's session
    and its queued messages survive :meth:`restart`)."""

    def __init__(
        self, directory: Path, extra: str = "", scheme: str = "mqtt", anonymous: bool = True
    ) -> None:
        binary = _mosquitto()
        if binary is None or shutil.which("mosquitto_sub") is None:
            _missing("mosquitto or mosquitto_sub")
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            # as root it would drop to the mosquitto user, which cannot read our files
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "max_queued_messages 100000\n"
            "log_dest stderr\n" + extra
        )
        self.log = open(directory / "mosquitto.log", "ab")  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)], stdout=self.log, stderr=self.log
        )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: see {self.config.parent}/mosquitto.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            except OSError:
                return False
            return True

        wait_until(up, 10, "mosquitto listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # saves its persistence file
            self.proc.wait(10)
            self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", topic]
            + ["-m", payload]
            + (["-r"] if retain else []),
            check=True,
            timeout=10,
        )

    def _sub_args(self) -> list[str]:
        return ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port)]

    def retained(self, topic: str) -> str | None:
        """The retained message on ``topic`` (a fresh subscriber's first message)."""
        done = subprocess.run(
            [*self._sub_args(), "-t", topic, "-C", "1", "-W", "3", "--retained-only"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout.rstrip("\n") if done.returncode == 0 and done.stdout else None


@dataclass
class Message:
    retained: bool
    topic: str
    payload: str

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """``mosquitto_sub`` on ``topics`` with a persistent session (QoS 1, ``-c``): it
    reconnects after a broker restart and gets what was queued for it."""

    def __init__(self, broker: Broker, *topics: str, name: str = "tests") -> None:
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1"]
        args += ["-c", "-i", f"{name}-{os.getpid()}-{time.monotonic_ns()}"]
        args += ["-F", "%r\t%t\t%p"]
        for topic in topics:
            args += ["-t", topic]
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.3)  # subscribed (mosquitto_sub has no "ready" line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            retained, topic, payload = line.rstrip("\n").split("\t", 2)
            with self._lock:
                self.messages.append(Message(retained == "1", topic, payload))

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()
    b.log.close()


@dataclass
class Hook:
    msg_id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook receiver: verifies each request (standardwebhooks), records it, and
    answers ``status`` (set ``failing`` to answer 503)."""

    url: str = ""
    received: list[Hook] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    failing: bool = False
    hang_s: float = 0.0  # > 0: answer each request only after this long
    aborted: int = 0  # requests cut short by their sender (killed mid-request)

    def ids(self) -> list[str]:
        return [r.msg_id for r in list(self.received)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def receiver2() -> Iterator[Receiver]:
    """A second receiver (a webhook moved from one URL to another)."""
    yield from running_receiver()


def running_receiver() -> Iterator[Receiver]:
    state = Receiver()
    verifier = Webhook(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (kill -9): nothing to verify
                state.aborted += 1
                self.close_connection = True
                return
            if state.hang_s:
                time.sleep(state.hang_s)
            if state.failing:
                self.send_response(503)
                self.end_headers()
                return
            try:
                data = verifier.verify(body, dict(self.headers))
            except WebhookVerificationError as exc:
                state.rejected.append(str(exc))
                self.send_response(400)
                self.end_headers()
                return
            state.received.append(Hook(self.headers["webhook-id"], data))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class NetworkProc:
    """``alarmbridge network`` beside an io process, with ``env`` (destinations)."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = NetworkClient(data_dir / "network.sock", timeout=10)
        self.log = open(data_dir.parent / "network.log", "ab")  # noqa: SIM115

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "network", "run", "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"network process exited {self.proc.returncode}")
            try:
                self.client.status()
            except NetworkError:
                return False
            return True

        wait_until(up, 20, "network process up")

    def status(self) -> NetworkStatus:
        return self.client.status()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:  # say where it hangs: its threads' stacks
                self.proc.send_signal(signal.SIGUSR2)
                time.sleep(1)
                self.proc.kill()
                self.proc.wait(10)
                self.log.flush()
                tail = (self.data_dir.parent / "network.log").read_text(errors="replace")
                raise AssertionError(
                    "the network process did not stop within 15 s of SIGTERM; its log "
                    f"ends with its threads' stacks:\n{tail[-6000:]}"
                ) from None
            finally:
                self.proc = None

    def close(self) -> None:
        self.stop()
        self.log.close()


@pytest.fixture
def io_proc(tmp_path: Path) -> Iterator[IoProc]:
    proc = IoProc(tmp_path / "data", env={"ALARMBRIDGE_LOG_CHECK_DELAY_S": "3600"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def network_env() -> dict[str, str]:
    return {}


@pytest.fixture
def network(io_proc: IoProc, network_env: dict[str, str]) -> Iterator[NetworkProc]:
    proc = NetworkProc(io_proc.data_dir, network_env)
    yield proc
    proc.close()


# -- the web process in front of them ------------------------------------------------


@pytest.fixture
def tokens(io_proc: IoProc) -> dict[Role, str]:
    store = AuthStore(io_proc.data_dir / "auth.db")
    try:
        store.create_first_admin("admin", hash_password("a long admin passphrase"))
        admin, _ = store.new_token("admin", Role.ADMIN, "admin")
        viewer, _ = store.new_token("viewer", Role.VIEWER, "admin")
    finally:
        store.close()
    return {Role.ADMIN: admin, Role.VIEWER: viewer}


@pytest.fixture
def web(io_proc: IoProc, tokens: dict[Role, str]) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=io_proc.data_dir, pins="mock", allowed_hosts=["testserver"], timezone="UTC"
    )
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
