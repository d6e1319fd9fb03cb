"""``ALARMBRIDGE_SMTP_URL``: where and how to send mail, read into :class:`SmtpUrl`.

Three schemes, so the URL alone says how the connection is protected:

* ``smtp://host[:25]``: plain SMTP, no TLS (a relay on the same LAN or machine);
* ``smtp+starttls://host[:587]``: plain connection upgraded with STARTTLS, which
  must succeed (a server that does not offer it is an error, never a silent fallback);
* ``smtps://host[:465]``: TLS from the first byte ("implicit TLS").

``user:password@`` logs in (percent-encode ``@``, ``:`` and ``/`` in either). A
password over plain ``smtp://`` is refused unless the server is on this machine.
``?cafile=/path/ca.pem`` trusts a private CA (default: the system's CAs);
``?timeout=30`` is the seconds allowed per connection and command.

This module imports no mail library: settings and the UI can check a URL cheaply.

>>> url = parse_smtp_url("smtp+starttls://ops%40example.com:s3cret@mail.example.com")
>>> url.host, url.port, url.security, url.username
('mail.example.com', 587, 'starttls', 'ops@example.com')
>>> url.redacted()
'smtp+starttls://ops%40example.com:***@mail.example.com:587'
>>> try:
...     parse_smtp_url("smtp://user:pw@mail.example.com")
... except SmtpUrlError as exc:
...     print(exc)
the SMTP URL would send the password in clear over smtp://: use smtp+starttls:// or smtps://
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

Security = Literal["none", "starttls", "tls"]

SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
EXAMPLE = "smtp+starttls://user:password@mail.example.com:587"


class SmtpUrlError(ValueError):
    """An SMTP URL that cannot be used; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class SmtpUrl:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None
    cafile: Path | None = None
    timeout_s: float = 30.0

    @property
    def scheme(self) -> str:
        return next(name for name, (sec, _) in SCHEMES.items() if sec == self.security)

    def redacted(self) -> str:
        """The URL with the password hidden: what logs and the UI show."""
        who = ""
        if self.username is not None:
            who = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{who}{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether mail to ``host`` never leaves this machine (a password may go in clear)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_smtp_url(text: str) -> SmtpUrl:
    """Read an SMTP URL; :class:`SmtpUrlError` with a clear message if it is wrong."""
    text = text.strip()
    if not text:
        raise SmtpUrlError(f"the SMTP URL is empty: write e.g. {EXAMPLE}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise SmtpUrlError(
            f"the SMTP URL must start with one of {known} (found {text.partition('://')[0]!r}"
            f"{'://' if '://' in text else ''}): e.g. {EXAMPLE}"
        )
    security, default_port = SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise SmtpUrlError(
            "the SMTP URL's port must be a number from 1 to 65535 "
            "(percent-encode '@', ':' and '/' in the user name or password)"
        ) from None
    host = parts.hostname or ""
    if not host:
        raise SmtpUrlError(f"the SMTP URL has no server name: e.g. {EXAMPLE}")
    if parts.path not in ("", "/"):
        raise SmtpUrlError(
            f"the SMTP URL has a path ({parts.path!r}) where none is expected "
            "(percent-encode '/' in a password as %2F)"
        )
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username == "":
        raise SmtpUrlError("the SMTP URL has a password but no user name")
    if username is not None and not password:
        raise SmtpUrlError(
            f"the SMTP URL names user {username!r} but gives no password: user:password@host"
        )
    if password and security == "none" and not is_loopback(host):
        raise SmtpUrlError(
            "the SMTP URL would send the password in clear over smtp://: "
            "use smtp+starttls:// or smtps://"
        )
    cafile, timeout_s = _options(parts.query)
    return SmtpUrl(host, port, security, username, password, cafile, timeout_s)


def _options(query: str) -> tuple[Path | None, float]:
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise SmtpUrlError(f"cannot read the SMTP URL's options {query!r}") from None
    unknown = set(options) - {"cafile", "timeout"}
    if unknown:
        raise SmtpUrlError(
            f"unknown SMTP URL option {sorted(unknown)[0]!r}: the options are cafile and timeout"
        )
    cafile: Path | None = None
    if "cafile" in options:
        cafile = Path(options["cafile"][-1])
        if not cafile.is_file():
            raise SmtpUrlError(f"the SMTP URL's cafile {str(cafile)!r} is not a readable file")
    timeout_s = 30.0
    if "timeout" in options:
        try:
            timeout_s = float(options["timeout"][-1])
        except ValueError:
            timeout_s = -1.0
        if not 1 <= timeout_s <= 300:
            raise SmtpUrlError("the SMTP URL's timeout must be seconds from 1 to 300")
    return cafile, timeout_s
