"""Ways to damage a closed SQLite log file: random bytes over part of it, or a cut."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

PAGE = 4096


def overwrite(path: Path, offset: int, length: int) -> None:
    """Random bytes (seeded by ``offset``) over ``length`` bytes at ``offset``."""
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(random.Random(offset).randbytes(length))


def root_page(path: Path, name: str) -> int:
    connection = sqlite3.connect(path)
    try:
        (page,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()
    finally:
        connection.close()
    return int(page)


def damage_header(path: Path) -> None:
    overwrite(path, 0, 100)  # "file is not a database"


def damage_pages(path: Path) -> None:
    overwrite(path, 3 * PAGE, 4 * PAGE)  # b-tree pages past the header


def damage_index(path: Path) -> None:
    page = root_page(path, "ix_events_utc_us_seq")
    overwrite(path, (page - 1) * PAGE, PAGE)


def truncate_half(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def truncate_inside_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(50)


# ---------------------------------------------------------------- the write-ahead log

WAL_HEADER = 32
FRAME_HEADER = 24


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def wal_frames(path: Path) -> list[tuple[int, bool]]:
    """The frames of ``path``'s write-ahead log: (offset, is a commit frame)."""
    wal = wal_of(path).read_bytes()
    page = int.from_bytes(wal[8:12], "big")
    size = FRAME_HEADER + page
    frames = []
    for offset in range(WAL_HEADER, len(wal) - size + 1, size):
        commit = int.from_bytes(wal[offset + 4 : offset + 8], "big") != 0
        frames.append((offset, commit))
    return frames


def damage_wal_middle(path: Path) -> None:
    """Random bytes in the page of a frame half-way through the WAL."""
    offset, _ = wal_frames(path)[len(wal_frames(path)) // 2]
    overwrite(wal_of(path), offset + FRAME_HEADER + 100, 64)


def damage_wal_last_commit(path: Path) -> None:
    """Random bytes in the last commit frame's page: its transaction is dropped."""
    offset, _ = [f for f in wal_frames(path) if f[1]][-1]
    overwrite(wal_of(path), offset + FRAME_HEADER + 100, 64)


def damage_wal_header(path: Path) -> None:
    """Random bytes over the WAL's header: the whole WAL is ignored."""
    overwrite(wal_of(path), 0, WAL_HEADER)


def truncate_wal_half(path: Path) -> None:
    with wal_of(path).open("r+b") as f:
        f.truncate(wal_of(path).stat().st_size // 2)


def delete_wal(path: Path) -> None:
    wal_of(path).unlink()


def truncate_to(size: int) -> Callable[[Path], None]:
    """Cut the file to ``size`` bytes (negative: that many bytes from its end)."""

    def cut(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(size if size >= 0 else path.stat().st_size + size)

    cut.__name__ = f"truncate_to_{size}"
    return cut


WAL_DAMAGE = {
    "wal-middle-frame": damage_wal_middle,
    "wal-last-commit": damage_wal_last_commit,
    "wal-header": damage_wal_header,
    "wal-cut-half": truncate_wal_half,
    "wal-deleted": delete_wal,
}
