"""One io process per data directory.

Two io processes on one data directory would both drive the relays, both write
the log, and the second, on exit, would delete the first one's socket. The io
process therefore takes an exclusive lock (``flock``) on ``io.lock`` in the data
directory before anything else, and holds it for its whole life. The kernel
releases the lock when the process ends, however it ends: a lock left by a
crashed process never blocks a start. The file holds the holder's process id,
for the error message only.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     first = InstanceLock.acquire(Path(d))
...     try:
...         InstanceLock.acquire(Path(d))
...     except InstanceError as exc:
...         print(str(exc).split(" (")[0])
...     first.release()
...     InstanceLock.acquire(Path(d)).release()  # free again
AlarmBridge is already running on this data directory
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = "io.lock"


class InstanceError(Exception):
    """Another io process holds the data directory."""


class InstanceLock:
    """The held lock; :meth:`release` (or the process's end) frees it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Lock ``data_dir`` for this process, or raise :class:`InstanceError`."""
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"io process {holder}" if holder else "another io process"
            raise InstanceError(
                f"AlarmBridge is already running on this data directory ({who} holds "
                f"{path}); stop it first, or use another --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def check_free(data_dir: Path) -> None:
    """Raise :class:`InstanceError` if an io process holds ``data_dir`` now (for
    ``alarmbridge run``, before it starts anything)."""
    if data_dir.is_dir():
        InstanceLock.acquire(data_dir).release()


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None
