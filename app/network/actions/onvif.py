"""The few ONVIF SOAP requests AlarmBridge sends, written out, over httpx (issue #20).

ONVIF is SOAP 1.2 over HTTP. Five operations are used: Device management
``GetSystemDateAndTime`` (the device's clock, asked without credentials),
``GetCapabilities`` (where the Media service is), ``SetRelayOutputState`` (a relay
output active on alarm, inactive on clear), and Media ``GetProfiles`` and
``GetSnapshotUri`` (where a camera's JPEG is). Each request carries a WS-Security
UsernameToken with a PasswordDigest (OASIS UsernameToken Profile 1.0, section 3.1:
``Base64(SHA-1(nonce + created + password))``), as the ONVIF Core Specification's
"Security" section requires. ADR 0017's amendment says why this is written here
rather than through onvif-zeep-async (zeep and lxml).

The device checks ``Created`` against its own clock, and cameras' clocks are often
wrong: like every ONVIF client, the first request to a device asks for its time and
the offset is kept for the token's ``Created`` (the Core Specification's
"Time synchronization" advice).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx

from app.network.actions.model import Auth, OnvifRelay, Phase
from app.network.actions.send import http_auth, tls_context

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
DEVICE_PATH = "/onvif/device_service"  # the Core Specification's fixed device entry point
_FAULT_CHARS = 200


class OnvifError(Exception):
    """The device did not do it; ``retry``: whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool, subcode: str = "") -> None:
        super().__init__(message)
        self.retry = retry
        self.subcode = subcode  # the fault's subcode without its prefix, e.g. NotAuthorized


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """UsernameToken Profile 1.0, 3.1: Base64(SHA-1(nonce + created + password))."""
    sha1 = hashlib.sha1(nonce + created.encode() + password.encode())  # as the profile says
    return base64.b64encode(sha1.digest()).decode()


def created_now(offset_s: float = 0.0) -> str:
    """``Created`` on the device's clock (our clock plus its measured offset), to the ms."""
    when = datetime.fromtimestamp(time.time() + offset_s, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def security_header(user: str, password: str, created: str, nonce: bytes) -> str:
    """The ``wsse:Security`` header with one UsernameToken (PasswordDigest)."""
    digest = password_digest(nonce, created, password)
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{escape(user)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}'
        "</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, security: str = "") -> bytes:
    """A SOAP 1.2 envelope around one operation's element."""
    header = f"<s:Header>{security}</s:Header>" if security else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


# -- the operations' bodies (devicemgmt.wsdl, media.wsdl) -----------------------------


def get_system_date_and_time() -> str:
    return f'<tds:GetSystemDateAndTime xmlns:tds="{TDS}"/>'


def set_relay_output_state(token: str, active: bool) -> str:
    state = "active" if active else "inactive"  # tt:RelayLogicalState
    return (
        f'<tds:SetRelayOutputState xmlns:tds="{TDS}">'
        f"<tds:RelayOutputToken>{escape(token)}</tds:RelayOutputToken>"
        f"<tds:LogicalState>{state}</tds:LogicalState>"
        "</tds:SetRelayOutputState>"
    )


def get_capabilities(category: str = "Media") -> str:
    return (
        f'<tds:GetCapabilities xmlns:tds="{TDS}">'
        f"<tds:Category>{category}</tds:Category></tds:GetCapabilities>"
    )


def get_profiles() -> str:
    return f'<trt:GetProfiles xmlns:trt="{TRT}"/>'


def get_snapshot_uri(profile: str) -> str:
    return (
        f'<trt:GetSnapshotUri xmlns:trt="{TRT}">'
        f"<trt:ProfileToken>{escape(profile)}</trt:ProfileToken></trt:GetSnapshotUri>"
    )


# -- answers --------------------------------------------------------------------------


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def parse_body(status: int, content: bytes) -> ET.Element:
    """The SOAP body's first element, or OnvifError with the fault's words.

    SOAP 1.2 Part 2 (7.5.2): a ``Sender`` fault (a wrong password, an unknown token)
    comes with HTTP 400 and is not retried; a ``Receiver`` fault (HTTP 500) may pass.
    A device answering 500 with a ``Sender`` fault is not retried either.
    """
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        text = content[:_FAULT_CHARS].decode("utf-8", "replace").strip() or "an empty answer"
        raise OnvifError(
            f"HTTP {status}, not SOAP: {text}", retry=status >= 500 or status == 429
        ) from None
    body = root.find(_q(SOAP_ENV, "Body"))
    first = None if body is None else next(iter(body), None)
    if first is None:
        raise OnvifError(f"HTTP {status}: a SOAP answer with no body", retry=status >= 500)
    if first.tag == _q(SOAP_ENV, "Fault"):
        code = first.findtext(f"{_q(SOAP_ENV, 'Code')}/{_q(SOAP_ENV, 'Value')}") or ""
        sub = first.findtext(
            f"{_q(SOAP_ENV, 'Code')}/{_q(SOAP_ENV, 'Subcode')}/{_q(SOAP_ENV, 'Value')}"
        )
        reason = first.findtext(f"{_q(SOAP_ENV, 'Reason')}/{_q(SOAP_ENV, 'Text')}") or ""
        code_name = code.rsplit(":", 1)[-1]
        what = ", ".join(x for x in (code_name, (sub or "").rsplit(":", 1)[-1]) if x)
        message = f"SOAP fault ({what or 'no code'}): {reason.strip()[:_FAULT_CHARS]}"
        raise OnvifError(
            message, retry=code_name == "Receiver", subcode=(sub or "").rsplit(":", 1)[-1]
        )
    if not 200 <= status < 300:
        raise OnvifError(f"HTTP {status} without a SOAP fault", retry=status >= 500)
    return first


def device_clock(answer: ET.Element) -> float:
    """The device's UTC clock (epoch seconds) from GetSystemDateAndTimeResponse."""
    utc = answer.find(f".//{_q(TT, 'UTCDateTime')}")
    if utc is None:
        raise OnvifError("GetSystemDateAndTime: no UTCDateTime in the answer", retry=False)
    try:
        parts = {
            name: int(utc.findtext(f".//{_q(TT, name)}") or "")
            for name in ("Year", "Month", "Day", "Hour", "Minute", "Second")
        }
        when = datetime(
            parts["Year"],
            parts["Month"],
            parts["Day"],
            parts["Hour"],
            parts["Minute"],
            parts["Second"],
            tzinfo=UTC,
        )
    except ValueError as error:
        raise OnvifError(f"GetSystemDateAndTime: a bad date ({error})", retry=False) from None
    return when.timestamp()


def media_xaddr(answer: ET.Element) -> str:
    """The Media service's address from GetCapabilitiesResponse."""
    xaddr = answer.findtext(f".//{_q(TT, 'Media')}/{_q(TT, 'XAddr')}")
    if not xaddr:
        raise OnvifError("GetCapabilities: the device has no Media service", retry=False)
    return xaddr.strip()


def profile_tokens(answer: ET.Element) -> list[str]:
    """The media profiles' tokens from GetProfilesResponse, in the device's order."""
    return [p.get("token", "") for p in answer.findall(_q(TRT, "Profiles")) if p.get("token")]


def snapshot_uri(answer: ET.Element) -> str:
    uri = answer.findtext(f"{_q(TRT, 'MediaUri')}/{_q(TT, 'Uri')}")
    if not uri:
        raise OnvifError("GetSnapshotUri: no Uri in the answer", retry=False)
    return uri.strip()


def on_host_of(address: str, base_url: str) -> str:
    """``address`` (an XAddr or a snapshot URI the device gave) with the host the installer
    configured: a device behind a router or a NAT names its own inside address. The port,
    path and query the device gave are kept."""
    given = urlsplit(address)
    base = urlsplit(base_url)
    if not given.scheme or not given.hostname:
        return base_url.rstrip("/") + "/" + address.lstrip("/")
    host = base.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{given.port}" if given.port else host
    return urlunsplit((given.scheme, netloc, given.path, given.query, ""))


@dataclass
class OnvifDevice:
    """One device's SOAP client state: its clock offset, measured once per process."""

    device_url: str  # the device service: GetSystemDateAndTime is asked there
    auth: Auth
    timeout_s: float
    verify_tls: bool = True
    clock_offset_s: float | None = None

    async def call(self, url: str, action: str, body: str) -> ET.Element:
        """One operation at ``url``; raises OnvifError, httpx.TimeoutException, httpx.HTTPError."""
        if not self.auth.user:
            return await self._post(url, action, envelope(body))
        measured = self.clock_offset_s is None
        if self.clock_offset_s is None:
            self.clock_offset_s = await self._measure_clock()
        try:
            return await self._post(url, action, envelope(body, self._token()))
        except OnvifError as error:
            if measured or error.subcode != "NotAuthorized":
                raise
        # Refused with a clock measured earlier: the device's clock may have been set since
        # (NTP came back, an installer fixed it). Measure again and try once more.
        self.clock_offset_s = await self._measure_clock()
        return await self._post(url, action, envelope(body, self._token()))

    def _token(self) -> str:
        return security_header(
            self.auth.user,
            self.auth.password.get_secret_value(),
            created_now(self.clock_offset_s or 0.0),
            secrets.token_bytes(16),
        )

    async def _measure_clock(self) -> float:
        """Device time minus ours (GetSystemDateAndTime needs no credentials). A device that
        will not tell it (a fault, an answer without a date) gets our own clock's time: the
        Pi keeps NTP time, and a device refusing that token says so in its own words."""
        before = time.time()
        try:
            answer = await self._post(
                self.device_url,
                f"{TDS}/GetSystemDateAndTime",
                envelope(get_system_date_and_time()),
            )
            device_now = device_clock(answer)
        except OnvifError:
            return 0.0
        return device_now - (before + time.time()) / 2

    async def _post(self, url: str, action: str, data: bytes) -> ET.Element:
        async with httpx.AsyncClient(
            auth=http_auth(self.auth),
            timeout=self.timeout_s,
            verify=tls_context(self.verify_tls),
            follow_redirects=False,
        ) as client:
            response = await client.post(
                url,
                content=data,
                headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'},
            )
        if response.status_code == 401:
            if self.auth.scheme == "none":
                raise OnvifError(
                    "HTTP 401: the device wants HTTP authentication too: set auth.scheme to digest",
                    retry=False,
                )
            raise OnvifError("HTTP 401: the device refused the user or password", retry=False)
        return parse_body(response.status_code, response.content)


# -- the relay output action ------------------------------------------------------------

_devices: dict[tuple[str, str, bool], OnvifDevice] = {}


def device_for(device_url: str, auth: Auth, timeout_s: float, verify_tls: bool) -> OnvifDevice:
    """One client state per device and user in this process (its clock offset is kept)."""
    key = (device_url, auth.user, verify_tls)
    device = _devices.get(key)
    if device is None or device.auth != auth or device.timeout_s != timeout_s:
        device = _devices[key] = OnvifDevice(device_url, auth, timeout_s, verify_tls)
    return device


async def set_relay(action: OnvifRelay, phase: Phase) -> str:
    """Set the relay output for this phase; the device's answer in a line, or OnvifError."""
    device_url = action.base_url + action.device_path
    device = device_for(device_url, action.auth, action.timeout_s, action.verify_tls)
    active = phase == "alarm"
    await device.call(
        device_url,
        f"{TDS}/SetRelayOutputState",
        set_relay_output_state(action.relay_token, active),
    )
    return f"relay {action.relay_token} {'active' if active else 'inactive'}"
