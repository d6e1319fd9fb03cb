"""Ways to damage a closed SQLite log file: random bytes over part of it, or a cut."""

from __future__ import annotations

import random
import sqlite3
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
