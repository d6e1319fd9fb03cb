"""An ONVIF device on loopback: a real SOAP 1.2 server with real WS-Security checks.

No ONVIF emulator can be installed, so this server plays the device, as its documents
say it must behave:

- SOAP 1.2 over HTTP (ONVIF Core Specification, "Web Services framework": SOAP 1.2,
  ``application/soap+xml`` with the operation in the ``action`` parameter); faults as
  the Core Specification's "Error handling" section lists them (``env:Sender`` with
  ``ter:NotAuthorized``, ``ter:InvalidArgVal``), HTTP 400 for a ``Sender`` fault
  (SOAP 1.2 Part 2, 7.5.2).
- Authentication: the Core Specification's "Security" section, WS-Security
  UsernameToken (OASIS UsernameToken Profile 1.0, 3.1): the PasswordDigest is
  recomputed as ``Base64(SHA-1(nonce + created + password))``; a wrong password, a
  ``Created`` more than ``FRESH_S`` from the device's own clock (which may be set
  wrong on purpose: ``clock_offset_s``) or a nonce used before is refused with
  ``ter:NotAuthorized``. ``GetSystemDateAndTime`` and ``GetCapabilities`` are in the
  PRE_AUTH access class (Core Specification, "User-based access control"): they need no
  token, but a token that is sent must be right.
- Device management (devicemgmt.wsdl): ``GetSystemDateAndTime``, ``GetCapabilities``
  (the Media XAddr, on the device's inside address 192.168.1.64 as a device behind a
  router reports it), ``SetRelayOutputState`` (``RelayOutputToken``,
  ``LogicalState`` active|inactive, in that order, nothing else).
- Media (media.wsdl, ONVIF Media Service Specification): ``GetProfiles``,
  ``GetSnapshotUri`` (``ProfileToken``; ``ter:NoProfile`` for an unknown one); the JPEG
  itself at the URI it gives, behind HTTP Digest (RFC 7616, the peer in peer.py), as
  cameras serve it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.actions.peer import Peer, Reply, _Handler, serving

ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
FRESH_S = 60.0  # how far Created may be from the device's clock
DEVICE = "/onvif/device_service"
MEDIA = "/onvif/media_service"
PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities"}


@dataclass(frozen=True)
class Call:
    """One SOAP request as the device understood it."""

    service: str  # the path it was posted to
    operation: str
    args: dict[str, str]
    user: str | None  # the UsernameToken's user, when it was verified
    content_type: str
    body: bytes


class RefusedError(Exception):
    def __init__(self, subcode: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.subcode, self.reason, self.status = subcode, reason, status


@dataclass
class OnvifPeer(Peer):
    """The device's state: its relays, profiles, clock, and every call it took."""

    relays: dict[str, str] = field(default_factory=lambda: {"AlarmOut_0": "inactive"})
    profiles: list[str] = field(default_factory=lambda: ["Profile_1", "Profile_2"])
    jpeg: bytes = b""
    clock_offset_s: float = 0.0  # the device's clock minus the real time
    calls: list[Call] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    nonces_used: set[str] = field(default_factory=set)
    receiver_faults: int = 0  # answer this many requests with an env:Receiver fault first
    time_needs_token: bool = False  # a firmware that will not tell its time without one
    soap_http_auth: bool = False  # a device that wants HTTP Digest on its SOAP services too
    snapshot_path: str = "/onvif-http/snapshot"
    soap_lock: threading.Lock = field(default_factory=threading.Lock)

    def device_now(self) -> float:
        return time.time() + self.clock_offset_s


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _verify_token(peer: OnvifPeer, header: ET.Element | None) -> str | None:
    """The verified user, None when no token was sent; RefusedError when it is wrong."""
    security = None if header is None else header.find(_q(WSSE, "Security"))
    if security is None:
        return None
    token = security.find(_q(WSSE, "UsernameToken"))
    if token is None:
        raise RefusedError("NotAuthorized", "Sender not Authorized: no UsernameToken")
    user = token.findtext(_q(WSSE, "Username"))
    password = token.find(_q(WSSE, "Password"))
    nonce = token.findtext(_q(WSSE, "Nonce"))
    created = token.findtext(_q(WSU, "Created"))
    if password is None or password.get("Type") != DIGEST_TYPE or not nonce or not created:
        raise RefusedError(
            "NotAuthorized", "Sender not Authorized: a PasswordDigest token is required"
        )
    try:
        when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        try:
            when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise RefusedError(
                "NotAuthorized", f"Sender not Authorized: Created {created!r}"
            ) from None
    if abs(when.timestamp() - peer.device_now()) > FRESH_S:
        raise RefusedError("NotAuthorized", "Sender not Authorized: Created is not fresh")
    raw_nonce = base64.b64decode(nonce, validate=True)
    expected = base64.b64encode(
        hashlib.sha1(raw_nonce + created.encode() + peer.password.encode()).digest()
    ).decode()
    if user != peer.user or password.text != expected:
        raise RefusedError("NotAuthorized", "Sender not Authorized")
    if nonce in peer.nonces_used:
        raise RefusedError("NotAuthorized", "Sender not Authorized: the nonce was used before")
    peer.nonces_used.add(nonce)
    return user


def _children(element: ET.Element, names: list[str], ns: str) -> dict[str, str]:
    """The operation's parameters, checked to be exactly ``names`` in order (the WSDL's)."""
    got = [child.tag for child in element]
    if got != [_q(ns, name) for name in names]:
        raise RefusedError("InvalidArgs", f"expected {names}, got {got}")
    return {name: (child.text or "") for name, child in zip(names, element, strict=True)}


def _respond(peer: OnvifPeer, service: str, operation: str, args: dict[str, str], port: int) -> str:
    if operation == "GetSystemDateAndTime":
        now = datetime.fromtimestamp(peer.device_now(), tz=UTC)
        return (
            f'<tds:GetSystemDateAndTimeResponse xmlns:tds="{TDS}" xmlns:tt="{TT}">'
            "<tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
            f"<tt:Day>{now.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )
    if operation == "GetCapabilities":
        if args["Category"] not in ("All", "Media"):
            raise RefusedError("InvalidArgVal", f"Category {args['Category']}")
        return (
            f'<tds:GetCapabilitiesResponse xmlns:tds="{TDS}" xmlns:tt="{TT}"><tds:Capabilities>'
            f"<tt:Media><tt:XAddr>http://192.168.1.64:{port}{MEDIA}</tt:XAddr>"
            "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
            "</tt:StreamingCapabilities></tt:Media></tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>"
        )
    if operation == "SetRelayOutputState":
        token, state = args["RelayOutputToken"], args["LogicalState"]
        if token not in peer.relays:
            raise RefusedError("RelayToken", f"the relay output token {token} does not exist")
        if state not in ("active", "inactive"):
            raise RefusedError("InvalidArgVal", f"LogicalState {state}")
        peer.relays[token] = state
        return f'<tds:SetRelayOutputStateResponse xmlns:tds="{TDS}"/>'
    if operation == "GetProfiles":
        profiles = "".join(
            f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{token}</tt:Name></trt:Profiles>'
            for token in peer.profiles
        )
        return (
            f'<trt:GetProfilesResponse xmlns:trt="{TRT}" xmlns:tt="{TT}">{profiles}'
            "</trt:GetProfilesResponse>"
        )
    if operation == "GetSnapshotUri":
        token = args["ProfileToken"]
        if token not in peer.profiles:
            raise RefusedError("NoProfile", f"the profile {token} does not exist")
        uri = f"http://192.168.1.64:{port}{peer.snapshot_path}?{token}"
        return (
            f'<trt:GetSnapshotUriResponse xmlns:trt="{TRT}" xmlns:tt="{TT}"><trt:MediaUri>'
            f"<tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetSnapshotUriResponse>"
        )
    raise AssertionError(operation)  # pragma: no cover


# The operations each service takes and their parameters, in the WSDL's order.
OPERATIONS: dict[str, dict[str, tuple[str, list[str]]]] = {
    DEVICE: {
        "GetSystemDateAndTime": (TDS, []),
        "GetCapabilities": (TDS, ["Category"]),
        "SetRelayOutputState": (TDS, ["RelayOutputToken", "LogicalState"]),
    },
    MEDIA: {
        "GetProfiles": (TRT, []),
        "GetSnapshotUri": (TRT, ["ProfileToken"]),
    },
}


class _OnvifHandler(_Handler):
    peer: OnvifPeer

    def _fault(self, status: int, code: str, subcode: str, reason: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{ENV}" '
            f'xmlns:ter="{TER}"><env:Body><env:Fault><env:Code><env:Value>env:{code}</env:Value>'
            f"<env:Subcode><env:Value>ter:{subcode}</env:Value></env:Subcode></env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason>'
            "</env:Fault></env:Body></env:Envelope>"
        ).encode()
        self._send(status, body)

    def _send(self, status: int, body: bytes, content_type: str = "application/soap+xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _challenge(self) -> None:
        """HTTP Digest's 401 (RFC 7616), as peer.py answers an unauthorized request."""
        nonce = secrets.token_hex(16)
        self.nonces.add(nonce)
        self.send_response(401)
        self.send_header(
            "WWW-Authenticate",
            f'Digest realm="{self.peer.realm}", qop="auth", nonce="{nonce}", algorithm=MD5',
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """The snapshot JPEG, behind HTTP Digest (the peer's ``scheme``)."""
        if not self.path.startswith(self.peer.snapshot_path + "?"):
            self._send(404, b"no such resource", "text/plain")
            return
        self.peer.answer("GET", self.path, Reply(200, self.peer.jpeg, "image/jpeg"))
        self._handle()  # peer.py's: checks HTTP Digest (RFC 7616), then answers

    def do_POST(self) -> None:  # noqa: N802
        peer = self.peer
        if peer.soap_http_auth and not self._check_auth():  # HTTP Digest on SOAP as well
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._challenge()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        operations = OPERATIONS.get(self.path)
        if operations is None:
            self._send(404, b"no such service", "text/plain")
            return
        content_type = self.headers.get("Content-Type", "")
        with peer.soap_lock:
            try:
                call = self._understand(operations, content_type, body)
                if peer.receiver_faults:
                    peer.receiver_faults -= 1
                    raise RefusedError("Action", "the device is busy", 500)
                answer = _respond(peer, self.path, call.operation, call.args, peer.port)
            except RefusedError as refused:
                peer.refusals.append(f"{refused.subcode}: {refused.reason}")
                code = "Receiver" if refused.status >= 500 else "Sender"
                self._fault(refused.status, code, refused.subcode, refused.reason)
                return
            peer.calls.append(call)
        self._send(200, _envelope(answer))

    def _understand(
        self, operations: dict[str, tuple[str, list[str]]], content_type: str, body: bytes
    ) -> Call:
        if not content_type.startswith("application/soap+xml"):
            raise RefusedError("InvalidArgs", f"not SOAP 1.2: Content-Type {content_type!r}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as error:
            raise RefusedError("WellFormed", f"not XML: {error}") from None
        if root.tag != _q(ENV, "Envelope"):
            raise RefusedError("VersionMismatch", f"not a SOAP 1.2 envelope: {root.tag}")
        header = root.find(_q(ENV, "Header"))
        soap_body = root.find(_q(ENV, "Body"))
        if soap_body is None or len(soap_body) != 1:
            raise RefusedError("InvalidArgs", "the Body must hold one operation")
        element = soap_body[0]
        name = next((op for op, (ns, _) in operations.items() if element.tag == _q(ns, op)), None)
        if name is None:
            raise RefusedError("ActionNotSupported", f"{element.tag} at {self.path}")
        ns, params = operations[name]
        if f'action="{ns}/{name}"' not in content_type:
            raise RefusedError("InvalidArgs", f"the action parameter is not {ns}/{name}")
        user = _verify_token(self.peer, header)
        pre_auth = PRE_AUTH - ({"GetSystemDateAndTime"} if self.peer.time_needs_token else set())
        if user is None and name not in pre_auth:
            raise RefusedError(
                "NotAuthorized", "Sender not Authorized: a UsernameToken is required"
            )
        args = _children(element, params, ns)
        return Call(self.path, name, args, user, content_type, body)


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{ENV}">'
        f"<env:Header/><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


@contextmanager
def running_onvif(jpeg: bytes = b"", clock_offset_s: float = 0.0) -> Iterator[OnvifPeer]:
    """An ONVIF device on a free loopback port; its JPEG behind HTTP Digest."""
    peer = OnvifPeer(scheme="digest", jpeg=jpeg, clock_offset_s=clock_offset_s)
    with serving(peer, _OnvifHandler, "onvif-peer") as running:
        yield running
