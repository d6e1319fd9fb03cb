"""Shared fixtures: a fresh simulated pin factory per test, reset afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware.factory import SimulatedPinFactory


@pytest.fixture
def sim_factory() -> Iterator[SimulatedPinFactory]:
    """A fresh gpiozero mock factory making simulated Raspberry Pi pins."""
    factory = SimulatedPinFactory()
    try:
        yield factory
    finally:
        factory.reset()
        factory.close()
