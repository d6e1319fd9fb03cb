"""Helpers every test directory shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    check: Callable[[], Any], timeout: float = 10.0, *, interval: float = 0.01, what: str = ""
) -> Any:
    """Poll ``check`` every ``interval`` seconds until it returns something truthy, and
    return that; fail the test (AssertionError) after ``timeout`` seconds. ``what``:
    what was waited for, for the message.

    The one polling helper of the suite (the io, web, event log, supervisor and
    network tests each had their own). A generous timeout costs nothing when things
    work: the condition usually holds within milliseconds.
    """
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or check}")
        time.sleep(interval)
    return result
