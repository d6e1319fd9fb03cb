"""Just enough JPEG to know a snapshot is whole: the markers and the frame size.

A camera that fails often still answers 200 with an HTML error page or a cut-off
image; storing that as "evidence" would be worse than storing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


class NotAJpegError(ValueError):
    """The bytes are not a complete JPEG image; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class JpegInfo:
    width: int
    height: int


def inspect_jpeg(data: bytes) -> JpegInfo:
    """The image's size, or NotAJpegError for anything but a complete JPEG.

    >>> inspect_jpeg(b"<html>")
    Traceback (most recent call last):
    ...
    app.network.evidence.jpeg.NotAJpegError: not a JPEG (starts with b'<html>')
    """
    if not data.startswith(b"\xff\xd8"):
        raise NotAJpegError(f"not a JPEG (starts with {data[:8]!r})")
    if data.rstrip(b"\x00\r\n").endswith(b"\xff\xd9") is False:
        raise NotAJpegError(f"a cut-off JPEG ({len(data)} bytes, no end marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise NotAJpegError(f"a damaged JPEG (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            if not width or not height:
                raise NotAJpegError("a JPEG with no size")
            return JpegInfo(width, height)
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise NotAJpegError("a JPEG with no frame header")
