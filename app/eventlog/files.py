"""Where the event log's files go: names for copies and moved-aside files, and the
directory syncs that make each move durable."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

SIDECARS = ("-wal", "-shm")


def utc_stamp(utc_us: int) -> str:
    """``yyyymmddTHHMMSSZ`` for a UTC time in microseconds."""
    return datetime.fromtimestamp(utc_us // 1_000_000, UTC).strftime("%Y%m%dT%H%M%SZ")


def staging_path(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def free_name(base: Path) -> Path:
    candidate, n = base, 0
    while candidate.exists() or sidecar(candidate, "-wal").exists():
        n += 1
        candidate = base.with_name(f"{base.name}.{n}")
    return candidate


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_db_files(path: Path) -> None:
    for suffix in SIDECARS:
        sidecar(path, suffix).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
