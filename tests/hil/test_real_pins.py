"""Real-pin checks: run on a Raspberry Pi with a loop-back wire (see README.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from gpiozero import DigitalInputDevice, Factory

from hardware import Relay, make_pin_factory

pytestmark = pytest.mark.hil

OUT = os.environ.get("ALARMBRIDGE_HIL_OUT")
IN = os.environ.get("ALARMBRIDGE_HIL_IN")
if OUT is None or IN is None:
    pytest.skip("needs a Pi with ALARMBRIDGE_HIL_OUT/IN set", allow_module_level=True)


@pytest.fixture
def factory() -> Iterator[Factory]:
    made = make_pin_factory(os.environ.get("ALARMBRIDGE_HIL_BACKEND", "lgpio"))
    yield made
    made.close()


@pytest.mark.parametrize("active_high", [True, False])
def test_claim_and_release_without_a_blip(factory: Factory, active_high: bool) -> None:
    assert OUT is not None
    assert IN is not None
    watcher = DigitalInputDevice(int(IN), pull_up=None, active_state=True, pin_factory=factory)
    edges: list[bool] = []
    watcher.when_activated = lambda: edges.append(True)
    watcher.when_deactivated = lambda: edges.append(False)
    relay = Relay("OUT", int(OUT), active_high=active_high, pin_factory=factory)
    level_at_rest = not active_high
    assert watcher.is_active == level_at_rest
    relay.close()
    assert watcher.is_active == level_at_rest
    # An edge to the active level would be a click.
    assert active_high not in edges
    watcher.close()
