"""The evidence store: named by hash, whole files only, within quota and retention (issue #20)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from app.network.evidence.jpeg import NotAJpegError
from app.network.evidence.store import EvidenceStore


def fake_jpeg(n: int, size: int = 200_000) -> bytes:
    """A minimal structurally valid JPEG (SOI, SOF0 with a size, SOS, EOI) of about ``size``."""
    sof = (
        b"\xff\xc0\x00\x11\x08"
        + (480).to_bytes(2, "big")
        + (640).to_bytes(2, "big")
        + b"\x03"
        + b"\x00" * 9
    )
    payload = n.to_bytes(4, "big") * (size // 4)
    return b"\xff\xd8" + sof + b"\xff\xda\x00\x08" + b"\x00" * 6 + payload + b"\xff\xd9"


def test_images_are_named_by_hash_and_stored_once(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, quota_bytes=5_000_000, retain_days=30)
    data = fake_jpeg(1)
    first = store.put(data)
    again = store.put(data)
    assert first == again
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert (first.width, first.height) == (640, 480)
    assert store.path(first.sha256) == tmp_path / first.name
    assert store.usage() == (1, len(data))
    assert store.path("../../etc/passwd") is None


def test_the_oldest_go_first_when_the_quota_is_reached(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, quota_bytes=1_000_000, retain_days=30)
    stored = []
    for n in range(8):
        image = store.put(fake_jpeg(n))
        os.utime(tmp_path / image.name, (time.time() - 100 + n, time.time() - 100 + n))
        stored.append(image)
    count, used = store.usage()
    assert used <= 1_000_000
    assert count == 4
    kept = {image.sha256 for image in stored if store.path(image.sha256)}
    assert kept == {image.sha256 for image in stored[-4:]}


def test_retention_removes_old_images(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, quota_bytes=10_000_000, retain_days=1)
    old = store.put(fake_jpeg(1))
    new = store.put(fake_jpeg(2))
    two_days_ago = time.time() - 2 * 86_400
    os.utime(tmp_path / old.name, (two_days_ago, two_days_ago))
    assert store.prune() == 1
    assert store.path(old.sha256) is None and store.path(new.sha256) is not None


def test_a_write_cut_short_is_cleaned_and_bad_images_are_refused(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "ab00.tmp").write_bytes(b"\xff\xd8half")
    store = EvidenceStore(tmp_path, quota_bytes=1_000_000, retain_days=1)
    assert not list(tmp_path.glob("??/*.tmp"))
    with pytest.raises(NotAJpegError, match="cut-off"):
        store.put(fake_jpeg(1)[:-2])
    assert store.usage() == (0, 0)
    with pytest.raises(ValueError, match="at least 1 MB"):
        EvidenceStore(tmp_path, quota_bytes=10, retain_days=1)
