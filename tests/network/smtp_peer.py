"""The SMTP peer of the mail tests: a real aiosmtpd server with STARTTLS or TLS and AUTH,
keeping what it received (the fixtures that start it are in tests/network/conftest.py)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

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


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def start_server(
    certificate: tuple[Path, Path], *, implicit_tls: bool, port: int | None = None
) -> Server:
    keeper = Keeper(implicit_tls)
    context = server_context(certificate)
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
