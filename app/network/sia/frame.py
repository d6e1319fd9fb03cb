"""SIA DC-09 frames: build and parse, CRC, length, encryption.

A frame (SIA DC-09, 5.5)::

    <LF><crc><0LLL>"<id>"<seq>R<rcvr>L<pref>#<acct>[<data>]<[x-data]...>_<timestamp><CR>

``crc`` (4 upper-case hex digits, CRC-16/ARC) and ``0LLL`` (the length, hex) cover
the text from the first ``"`` up to the ``<CR>``. ``seq`` is 4 decimal digits
(0000-9999), ``rcvr`` and ``pref`` 1-6 hex digits, ``acct`` 3-16 hex digits.
The timestamp is UTC: ``HH:MM:SS,MM-DD-YYYY``.

Encrypted (``"*<id>"``): what follows ``[`` is the upper-case hex of
AES-CBC(key, IV = 16 zero bytes) over ``<pad>|<data>]<x-data>_<timestamp>``, the
pad (at least 16 characters, no ``|``, ``[`` or ``]``) making the length a
multiple of 16. Keys are 16, 24 or 32 characters used as their ASCII bytes
(AES-128/192/256), as panels and pysiaalarm take them.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LF, CR = b"\n", b"\r"
IV = bytes(16)
TIMESTAMP = "%H:%M:%S,%m-%d-%Y"
PAD_CHARS = string.ascii_letters + string.digits
KEY_LENGTHS = (16, 24, 32)
ACK, NAK, DUH, NULL = "ACK", "NAK", "DUH", "NULL"
SIA_DCS, ADM_CID = "SIA-DCS", "ADM-CID"
MAX_FRAME = 1024

_HEADER = re.compile(
    rb'"(?P<enc>\*)?(?P<id>[A-Z0-9-]{2,10})"(?P<seq>\d{4})'
    rb"(?:R(?P<rcvr>[0-9A-Fa-f]{1,6}))?L(?P<pref>[0-9A-Fa-f]{1,6})"
    rb"(?:R(?P<rcvr2>[0-9A-Fa-f]{1,6}))?"  # pysiaalarm's NAK puts R after L
    rb"(?:#(?P<acct>[0-9A-Fa-f]{1,16}))?(?:A(?P<a>[0-9A-Fa-f]*))?\["
)


class FrameError(ValueError):
    """A frame that cannot be read; ``reason`` is a short word for counters and logs
    (``format``, ``crc``, ``length``, ``key``, ``decrypt``, ``timestamp``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0), as DC-09 and DC-07 use.

    >>> f"{crc16(b'123456789'):04X}"
    'BB3D'
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def check_key(key: str) -> bytes:
    """A key's bytes; a clear error for a key of the wrong length or characters."""
    if len(key) not in KEY_LENGTHS or not key.isascii() or not key.isprintable():
        raise ValueError(
            "an AES key is 16, 24 or 32 printable ASCII characters (AES-128/192/256), "
            f"not {len(key)}"
        )
    return key.encode("ascii")


def _cipher(key: str) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(check_key(key)), modes.CBC(IV))


def encrypt(key: str, clear: str) -> str:
    """``<pad>|clear`` encrypted and in hex (the pad makes whole blocks)."""
    body = clear.encode("ascii")
    pad_len = 16 + (-(len(body) + 1) % 16)
    pad = "".join(secrets.choice(PAD_CHARS) for _ in range(pad_len)).encode()
    enc = _cipher(key).encryptor()
    return (enc.update(pad + b"|" + body) + enc.finalize()).hex().upper()


def decrypt(key: str, hex_text: bytes) -> str:
    """What :func:`encrypt` made, without its pad; FrameError if it is not that."""
    try:
        raw = bytes.fromhex(hex_text.decode("ascii"))
    except ValueError:
        raise FrameError("decrypt", "the encrypted part is not hex") from None
    if not raw or len(raw) % 16:
        raise FrameError("decrypt", "the encrypted part is not whole AES blocks")
    dec = _cipher(key).decryptor()
    clear = dec.update(raw) + dec.finalize()
    if b"]" not in clear:
        raise FrameError("decrypt", "it does not decrypt with this account's key")
    end = clear.index(b"]")
    bar = clear.find(b"|")
    body = clear[bar + 1 :] if 0 <= bar < end else clear[end:]  # no "|": no data (an ACK)
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("decrypt", "it does not decrypt with this account's key") from None


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime(TIMESTAMP)


def parse_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise FrameError(
            "timestamp", f"the timestamp {text!r} is not HH:MM:SS,MM-DD-YYYY"
        ) from None


@dataclass(frozen=True, slots=True)
class Frame:
    """One DC-09 message, as sent or as read (encryption undone)."""

    id: str  # SIA-DCS, ADM-CID, NULL, ACK, NAK, DUH
    seq: int = 0
    account: str | None = None  # hex digits, upper case
    receiver: str | None = None  # hex digits (the R field), None: not sent
    prefix: str = "0"  # hex digits (the L field)
    data: str = ""  # inside [ ], without the brackets
    xdata: tuple[str, ...] = ()  # each inside [ ]
    timestamp: datetime | None = None
    encrypted: bool = False
    raw: bytes = field(default=b"", compare=False)

    def encode(self, key: str | None = None) -> bytes:
        """The frame's bytes; encrypted with ``key`` if given (NAK and DUH never are)."""
        encrypted = key is not None and self.id not in (NAK, DUH)
        head = f'"{"*" if encrypted else ""}{self.id}"{self.seq % 10000:04d}'
        if self.receiver is not None:
            head += f"R{self.receiver}"
        head += f"L{self.prefix}"
        head += f"#{self.account}" if self.account is not None else ""
        tail = "".join(f"[{x}]" for x in self.xdata)
        stamp = f"_{format_time(self.timestamp)}" if self.timestamp is not None else ""
        if encrypted and key is not None:
            body = "[" + encrypt(key, f"{self.data}]{tail}{stamp}")
        else:
            body = f"[{self.data}]{tail}{stamp}"
        text = (head + body).encode("ascii")
        return b"\n%04X%04X%s\r" % (crc16(text), len(text), text)


def header(raw: bytes) -> tuple[bytes, re.Match[bytes]]:
    """Check the envelope, CRC and length; the text and its header's fields."""
    if len(raw) > MAX_FRAME:
        raise FrameError("format", f"a frame is at most {MAX_FRAME} bytes")
    if not raw.startswith(LF) or not raw.endswith(CR) or len(raw) < 12:
        raise FrameError("format", "a frame starts with LF and ends with CR")
    text = raw[9:-1]
    try:
        sent_crc, sent_len = int(raw[1:5], 16), int(raw[5:9], 16)
    except ValueError:
        raise FrameError("format", "the CRC and length are not hex digits") from None
    if crc16(text) != sent_crc:
        raise FrameError("crc", f"bad CRC: sent {sent_crc:04X}, computed {crc16(text):04X}")
    if len(text) != sent_len:
        raise FrameError("length", f"bad length: sent {sent_len}, counted {len(text)}")
    match = _HEADER.match(text)
    if match is None:
        raise FrameError("format", 'no DC-09 header ("id"seq R.. L.. #acct[)')
    return text, match


def parse(raw: bytes, keys: dict[str, str] | None = None) -> Frame:
    """Read a frame; ``keys`` by account (upper-case hex) for encrypted ones."""
    text, match = header(raw)
    account = match["acct"].decode().upper() if match["acct"] else None
    rest = text[match.end() :]
    encrypted = bool(match["enc"])
    if encrypted:
        key = (keys or {}).get(account or "")
        if key is None:
            raise FrameError("key", f"encrypted, and account {account} has no key here")
        content = decrypt(key, rest)
    else:
        try:
            content = rest.decode("ascii")
        except UnicodeDecodeError:
            raise FrameError("format", "a plain frame is ASCII text") from None
    data, sep, after = content.partition("]")
    if not sep:
        raise FrameError("format", "the data part has no closing ]")
    xdata: list[str] = []
    while after.startswith("["):
        item, sep, after = after[1:].partition("]")
        if not sep:
            raise FrameError("format", "an x-data part has no closing ]")
        xdata.append(item)
    timestamp = None
    if after.startswith("_"):
        timestamp = parse_time(after[1:])
    elif after.strip("0"):  # pysiaalarm pads an encrypted reply with zeros
        raise FrameError("format", f"unexpected text after the data: {after[:20]!r}")
    return Frame(
        id=match["id"].decode(),
        seq=int(match["seq"]),
        account=account,
        receiver=match["rcvr"].decode().upper() if match["rcvr"] else None,
        prefix=match["pref"].decode().upper(),
        data=data,
        xdata=tuple(xdata),
        timestamp=timestamp,
        encrypted=encrypted,
        raw=raw,
    )


def reply(to: Frame, kind: str, key: str | None, now: datetime) -> bytes:
    """The receiver's answer to ``to``: ACK (encrypted like the message), DUH, or
    NAK (never encrypted; it carries the receiver's time, so a sender with a
    wrong clock can correct it)."""
    if kind == NAK:
        return nak(now)
    answer = Frame(
        kind,
        to.seq,
        to.account,
        to.receiver,
        to.prefix,
        timestamp=now if to.encrypted else None,
    )
    return answer.encode(key if to.encrypted and kind == ACK else None)


def nak(now: datetime) -> bytes:
    """A NAK: ``"NAK"0000R0L0#0[]_<our time>`` (DC-09-2012 wrote ``A0`` for the
    account; DC-09-2026 parsers such as siadc09 want ``#``; we read both)."""
    return Frame(NAK, 0, "0", "0", "0", timestamp=now).encode()
