"""Real SMTP servers for the e-mail destination's tests: aiosmtpd's Controller (a
real SMTP server, in a thread of this process) on free loopback ports, started
once per test session.

* ``smtp_server``: plain SMTP that also offers STARTTLS (a throwaway self-signed
  certificate made by the test) and AUTH (only after STARTTLS, as real servers do);
* ``smtps_server``: implicit TLS from the first byte, with AUTH.

Both keep every message they accept, refuse recipients at ``refused.example``
with 550, and accept one account (``USER``/``PASSWORD``).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.web.tls import ensure_self_signed

USER, PASSWORD = "bridge@example.com", "a mail passphrase"
REFUSED_DOMAIN = "refused.example"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def body(self) -> str:
        """The (plain) text part, with the wire's CRLF line ends as plain newlines."""
        part = self.message.get_body(preferencelist=("plain",))
        assert isinstance(part, EmailMessage), self.message.get_content_type()
        return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class Keeper:
    """An aiosmtpd handler that keeps what it receives."""

    implicit_tls: bool = False  # every connection is TLS from the first byte
    mails: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.lock:
            self.mails.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    message,
                    self.implicit_tls or session.ssl is not None,
                    login,
                )
            )
        return "250 OK: kept"

    def take(self) -> list[Received]:
        with self.lock:
            mails, self.mails[:] = list(self.mails), []
        return mails

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.mails) >= count:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} mails, got {len(self.mails)}")
            time.sleep(0.02)
        return self.take()


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    if isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    ):
        return AuthResult(success=True, auth_data=data)
    return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    port: int
    keeper: Keeper
    cafile: Path
    controller: Controller

    def url(self, scheme: str, *, login: bool = True, **options: str) -> str:
        who = f"{USER.replace('@', '%40')}:{PASSWORD.replace(' ', '%20')}@" if login else ""
        query = "&".join(f"{k}={v}" for k, v in {"cafile": str(self.cafile), **options}.items())
        return f"{scheme}://{who}127.0.0.1:{self.port}?{query}"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (it is its own CA)."""
    return ensure_self_signed(tmp_path_factory.mktemp("smtp-tls"))


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def start_server(
    certificate: tuple[Path, Path], *, implicit_tls: bool, port: int | None = None
) -> Server:
    keeper = Keeper(implicit_tls)
    context = _server_context(certificate)
    tls: dict[str, Any] = (
        {"ssl_context": context, "server_hostname": "127.0.0.1"}
        if implicit_tls
        else {"tls_context": context}
    )
    controller = Controller(
        keeper,
        hostname="127.0.0.1",
        port=port or free_port(),
        authenticator=authenticate,
        # aiosmtpd only knows of STARTTLS: under implicit TLS it would never offer AUTH
        auth_require_tls=not implicit_tls,
        **tls,
    )
    controller.start()
    return Server(controller.port, keeper, certificate[0], controller)


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
