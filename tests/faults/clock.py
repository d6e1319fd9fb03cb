"""A wall clock a test can step while the io process runs on it."""

from __future__ import annotations

import time

from app.clock import SystemClock


class ShiftedClock(SystemClock):
    """The system's clocks, with the wall clock moved by ``shift_us`` (a test can
    step it, as NTP or a person would)."""

    def __init__(self, shift_us: int = 0) -> None:
        self.shift_us = shift_us

    def utc_us(self) -> int:
        return super().utc_us() + self.shift_us

    def set_wall(self, utc_us: int) -> None:
        self.shift_us = utc_us - time.time_ns() // 1000

    def step(self, seconds: float) -> None:
        """Step the wall clock by exactly ``seconds``."""
        self.shift_us += round(seconds * 1e6)
