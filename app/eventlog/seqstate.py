"""The log's high-water mark, kept outside the database file.

A sequence number, once handed on (streamed as committed, sent to a destination
as an idempotency key), must never be used again, and an event that was handed
on must never vanish without a trace. SQLite alone cannot promise either when
its files are damaged: a damaged or deleted write-ahead log is reset without a
word, and a new log restarts at 1. So the writer keeps, beside the database, a
small fixed-size file (``alarmbridge.db.state``) with:

- ``acked``: the highest sequence number handed on. Written (``pwrite``, no
  sync) after each commit and before the events are handed on: a crashed
  process leaves it in the page cache, so after a crash it is exact.
- ``reserved``: numbers up to this may have been used. Synced
  (``fdatasync``) *before* a commit could go past it, and extended ahead of
  need, off the commit path, so a power cut (which can lose an unsynced
  ``acked``) still never leads to a number being reused: after an unclean stop
  in an earlier boot, numbering resumes above ``reserved``.
- ``clean``: the last run stopped cleanly and ``acked`` was synced exact.
- ``boot_id``: the boot the last run ran in: an unclean stop in the same boot
  was a process crash (the page cache kept ``acked``), in another boot a power
  cut or a kernel crash.
- ``lost``: events that could not be written before the last stop (disk full),
  logged as "events-lost" at the next start.
- ``hash``: the newest row's chain hash (:mod:`app.eventlog.chain`), written
  with ``acked``: a log rewritten to hide a change no longer ends on it.

The file is one 512-byte record, written in place (one sector: a write is not
torn), with a CRC. It is preallocated, so writing it never needs a new block and
works on a full disk.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORD = 512
MAGIC = "alarmbridge-log-state"
VERSION = 1
RESERVE_BLOCK = 200  # numbers reserved at a time (one fdatasync per ~100 events)


def state_path(db_path: Path) -> Path:
    """The state file of the log at ``db_path``."""
    return db_path.with_name(db_path.name + ".state")


@dataclass(frozen=True, slots=True)
class LogState:
    """What the state file holds (see the module docstring)."""

    acked: int = 0
    reserved: int = 0
    clean: bool = True
    boot_id: str = ""
    lost: dict[str, Any] | None = field(default=None)
    hash: str = ""  # hex

    def floor(self, boot_id: str) -> int:
        """The highest number that may have been used: new numbers go above it."""
        if self.clean or self.boot_id == boot_id:
            return self.acked  # exact: synced at a clean stop, or kept by the page cache
        return max(self.acked, self.reserved)


def encode(state: LogState) -> bytes:
    body = json.dumps(
        {"v": VERSION, **asdict(state)}, separators=(",", ":"), sort_keys=True
    ).encode()
    line = f"{MAGIC} {zlib.crc32(body):08x} ".encode() + body + b"\n"
    if len(line) > RECORD:
        raise ValueError(f"log state too long ({len(line)} bytes)")
    return line.ljust(RECORD, b" ")


def decode(data: bytes) -> LogState:
    """The state in ``data``; ``ValueError`` saying what is wrong with it."""
    line = data.split(b"\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) != 3 or parts[0] != MAGIC.encode():
        raise ValueError("not a log state record")
    crc, body = parts[1], parts[2]
    if f"{zlib.crc32(body):08x}".encode() != crc:
        raise ValueError("checksum mismatch")
    raw = json.loads(body)
    if raw.get("v") != VERSION:
        raise ValueError(f"unknown version {raw.get('v')!r}")
    lost = raw.get("lost")
    state = LogState(
        acked=int(raw["acked"]),
        reserved=int(raw["reserved"]),
        clean=bool(raw["clean"]),
        boot_id=str(raw["boot_id"]),
        lost=lost if isinstance(lost, dict) else None,
        hash=str(raw.get("hash", "")),
    )
    if state.acked < 0 or state.reserved < 0:
        raise ValueError("negative sequence number")
    return state


def read_state(path: Path) -> tuple[LogState | None, str | None]:
    """The state at ``path``: (state, None); (None, None) if there is no file;
    (None, problem) if it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {path.name}: {exc}"
    try:
        return decode(data[:RECORD]), None
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"{path.name} is damaged ({exc})"


class SeqKeeper:
    """The writer's handle on the state file (used from the writer thread only).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     keeper = SeqKeeper(Path(d) / "x.state", LogState(acked=5, boot_id="b"))
    ...     keeper.before_commit(3)  # numbers 6-8: reserved first
    ...     keeper.committed(8)
    ...     keeper.close(clean=True)
    ...     read_state(Path(d) / "x.state")[0]
    LogState(acked=8, reserved=8, clean=True, boot_id='b', lost=None, hash='')
    """

    def __init__(self, path: Path, state: LogState, *, block: int = RESERVE_BLOCK) -> None:
        self.path = path
        self.block = block
        self._state = replace(state, clean=False)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(self._fd).st_size < RECORD:
                os.posix_fallocate(self._fd, 0, RECORD)
            self._reserve(state.acked + block)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    @property
    def state(self) -> LogState:
        return self._state

    def before_commit(self, count: int) -> None:
        """``count`` new numbers are about to be used: reserve them first if needed."""
        if self._state.acked + count > self._state.reserved:
            self._reserve(self._state.acked + count + self.block)

    def committed(self, last_seq: int, last_hash: bytes | None = None) -> None:
        """Numbers up to ``last_seq`` (the newest with ``last_hash``) are committed and
        about to be handed on."""
        if last_seq > self._state.acked:
            chain = last_hash.hex() if last_hash is not None else self._state.hash
            self._state = replace(self._state, acked=last_seq, hash=chain)
            self._write(sync=False)

    def extend_ahead(self) -> None:
        """Off the commit path: reserve more before the next commits need it."""
        if self._state.reserved - self._state.acked <= self.block // 2:
            self._reserve(self._state.acked + self.block)

    def close(self, *, clean: bool, lost: dict[str, Any] | None = None) -> None:
        """The writer stopped: ``acked`` is exact from here on (synced)."""
        if self._fd is None:
            return
        state = self._state
        self._state = replace(state, reserved=state.acked, clean=clean, lost=lost or state.lost)
        try:
            self._write(sync=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def _reserve(self, upto: int) -> None:
        self._state = replace(self._state, reserved=max(upto, self._state.reserved))
        self._write(sync=True)

    def _write(self, *, sync: bool) -> None:
        if self._fd is None:
            raise ValueError("the log state file is closed")
        os.pwrite(self._fd, encode(self._state), 0)
        if sync:
            os.fdatasync(self._fd)
