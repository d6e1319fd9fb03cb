"""A recorder on loopback for the network-action tests: a real HTTP server with real auth.

No recorder emulator can be installed, so this server plays the vendor's side: it
records every request exactly as it arrived (method, raw target, headers, body),
checks HTTP Basic or Digest authentication (RFC 7616, MD5 with qop=auth, as
Hikvision and Dahua devices use), and answers what the test scripted for that
request. The tests then compare the request with the vendor's document.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar


@dataclass(frozen=True)
class Seen:
    """One request as the peer received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    authorized: bool


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    delay_s: float = 0.0


@dataclass
class Peer:
    """What the server checks and answers; tests set ``replies`` and read ``seen``."""

    scheme: str = "none"  # "none", "basic" or "digest"
    user: str = "admin"
    password: str = "s3cret-Pass"
    realm: str = "DS-TEST"
    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, method: str, target: str, *replies: Reply) -> None:
        """Script the answers for one request: each call takes the next; the last repeats."""
        self.replies[(method, target)] = list(replies)

    def take(self, method: str, target: str) -> Reply:
        with self.lock:
            queue = self.replies.get((method, target))
            if not queue:
                return Reply(404, b"no such resource")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def authorized_requests(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.authorized]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # RFC 7616 MD5, what devices use


def _digest_params(header: str) -> dict[str, str]:
    return {
        name: quoted if quoted else bare
        for name, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header)
    }


class _Handler(BaseHTTPRequestHandler):
    peer: Peer
    nonces: set[str]

    def log_message(self, format: str, *args: object) -> None:  # quiet in tests
        pass

    def _check_auth(self) -> bool:
        peer = self.peer
        header = self.headers.get("Authorization", "")
        if peer.scheme == "none":
            return True
        if peer.scheme == "basic":
            expected = base64.b64encode(f"{peer.user}:{peer.password}".encode()).decode()
            return header == f"Basic {expected}"
        if not header.startswith("Digest "):
            return False
        params = _digest_params(header[len("Digest ") :])
        if params.get("nonce") not in self.nonces or params.get("uri") != self.path:
            return False
        if params.get("username") != peer.user or params.get("realm") != peer.realm:
            return False
        ha1 = _md5(f"{peer.user}:{peer.realm}:{peer.password}")
        ha2 = _md5(f"{self.command}:{params['uri']}")
        expected = _md5(
            f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
            f"{params.get('qop', '')}:{ha2}"
        )
        return params.get("qop") == "auth" and params.get("response") == expected

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        authorized = self._check_auth()
        self.peer.seen.append(
            Seen(self.command, self.path, dict(self.headers.items()), body, authorized)
        )
        if not authorized:
            self.send_response(401)
            if self.peer.scheme == "digest":
                nonce = secrets.token_hex(16)
                self.nonces.add(nonce)
                self.send_header(
                    "WWW-Authenticate",
                    f'Digest realm="{self.peer.realm}", qop="auth", nonce="{nonce}", algorithm=MD5',
                )
            else:
                self.send_header("WWW-Authenticate", f'Basic realm="{self.peer.realm}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        reply = self.peer.take(self.command, self.path)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's naming


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (the timeout tests) leaves a broken pipe: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


P = TypeVar("P", bound=Peer)


@contextmanager
def serving(peer: P, handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[P]:
    """``peer`` answered by ``handler`` (a :class:`_Handler`) on a free loopback port
    until the block ends."""
    bound = type("Handler", (handler,), {"peer": peer, "nonces": set()})
    server = _Server(("127.0.0.1", 0), bound)
    peer.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def running_peer(scheme: str = "none") -> Iterator[Peer]:
    """A peer listening on a free loopback port until the block ends."""
    with serving(Peer(scheme=scheme), _Handler, "recorder-peer") as peer:
        yield peer
