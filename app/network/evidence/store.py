"""Snapshots kept beside the log, named by their SHA-256, within a quota and a retention time.

Each image is written to a temporary name, synced, then renamed, so a power cut
leaves either the whole image or none. The same image twice is stored once. The
oldest images go first when the quota or the retention time is reached; the
event row keeps the hash, so a removed image is known as removed, not mistaken.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from app.network.evidence.jpeg import JpegInfo, inspect_jpeg


@dataclass(frozen=True, slots=True)
class StoredImage:
    sha256: str
    name: str  # the file name relative to the store, e.g. "ab/ab12....jpg"
    size: int
    width: int
    height: int


class EvidenceStore:
    """A directory of JPEG files, at most ``quota_bytes`` and ``retain_days`` old."""

    def __init__(self, root: Path, *, quota_bytes: int, retain_days: float) -> None:
        if quota_bytes < 1_000_000:
            raise ValueError("the evidence quota must be at least 1 MB")
        self.root = root
        self.quota_bytes = quota_bytes
        self.retain_s = retain_days * 86_400
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob("??/*.tmp"):  # a write cut short by a crash or power cut
            leftover.unlink(missing_ok=True)

    def put(self, data: bytes) -> StoredImage:
        """Store a snapshot (checked to be a whole JPEG) and make room for it."""
        info: JpegInfo = inspect_jpeg(data)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest[:2]}/{digest}.jpg"
        path = self.root / name
        if not path.exists():
            if not path.parent.is_dir():  # group-readable: the web process serves the images
                path.parent.mkdir(exist_ok=True)
                path.parent.chmod(0o750)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self.prune(keep=path)
        return StoredImage(digest, name, len(data), info.width, info.height)

    def path(self, sha256: str) -> Path | None:
        """The file of a stored image, or None if it is gone (or the name is not a hash)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            return None
        path = self.root / sha256[:2] / f"{sha256}.jpg"
        return path if path.is_file() else None

    def usage(self) -> tuple[int, int]:
        """(number of images, bytes used)."""
        files = list(self._images())
        return len(files), sum(size for _, size, _ in files)

    def prune(self, *, keep: Path | None = None, now: float | None = None) -> int:
        """Remove images past retention, then the oldest until under quota; the count removed."""
        now = time.time() if now is None else now
        files = sorted(self._images(), key=lambda item: item[2])
        total = sum(size for _, size, _ in files)
        removed = 0
        for path, size, mtime in files:
            too_old = now - mtime > self.retain_s
            if path == keep or not (too_old or total > self.quota_bytes):
                continue
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        return removed

    def _images(self) -> list[tuple[Path, int, float]]:
        found = []
        for path in self.root.glob("??/*.jpg"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((path, stat.st_size, stat.st_mtime))
        return found
