"""The io process as ``alarmbridge io`` runs it, on recording pins (:mod:`tests.faults.pins`).

``python -m tests.faults.io_child --data-dir DIR --record FILE``. The same
``run_forever(IoProcess(settings))`` as ``alarmbridge io --pins mock``; only the
pins differ: they append every change to FILE, and after a kill the next start
finds its relay lines where the dead process left them. Settings also come from
``ALARMBRIDGE_`` environment variables, as for ``alarmbridge io``.

A fault drill for machines where the test cannot mount a small filesystem:
SIGUSR1 caps the database at its current size (SQLite's ``max_page_count``: every
write that needs a new page fails with SQLITE_FULL, as on a full disk), SIGUSR2
lifts the cap.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from app.io.process import IoProcess, run_forever
from app.settings import Settings
from tests.faults.pins import RecordingPinFactory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings(data_dir=args.data_dir, pins="mock")
    factory = RecordingPinFactory(args.record, boot_levels=settings.board_spec().boot_levels())
    process = IoProcess(settings, pin_factory=factory)

    def disk_full(signum: int, frame: FrameType | None) -> None:
        process.writer.set_max_page_count(1 if signum == signal.SIGUSR1 else None)

    signal.signal(signal.SIGUSR1, disk_full)
    signal.signal(signal.SIGUSR2, disk_full)
    run_forever(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
