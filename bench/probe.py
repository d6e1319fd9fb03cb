"""``python -m bench.probe io ...``: the real ``alarmbridge`` command, saying when its
relays are safe.

Simulated relays cannot be watched from outside the process, so this wrapper
wraps :class:`hardware.board.Board` and :class:`hardware.devices.Relay` (in this
process only, before anything runs) to print ``relays-safe <monotonic ns>`` as
soon as the board's last relay has been claimed at its off level, then runs
:func:`app.cli.main` with the given arguments, unchanged. The wrapper itself
imports only ``hardware``, which the command imports anyway.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main() -> int:
    from hardware import board, devices

    expected: list[int] = []
    claimed = 0
    board_init = board.Board.__init__
    relay_init = devices.Relay.__init__

    def counting_board_init(self: Any, spec: Any, pin_factory: Any) -> None:
        expected.append(len(spec.relays))
        board_init(self, spec, pin_factory)

    def counting_relay_init(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal claimed
        relay_init(self, *args, **kwargs)
        claimed += 1
        if expected and claimed == expected[-1]:
            print(f"relays-safe {time.monotonic_ns()}", flush=True)

    board.Board.__init__ = counting_board_init  # type: ignore[method-assign]
    devices.Relay.__init__ = counting_relay_init  # type: ignore[method-assign]

    from app.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
