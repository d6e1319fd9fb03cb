"""The quick tick after an edge (#17): it settles only the inputs that changed and
updates only the outputs they drive; it must do exactly what a whole tick does."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from app.config import Config, InputKind
from app.events import NewEvent
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


class RunnerRig(Rig):
    """A rig that ticks as the runner does: a quick tick for edges alone, a whole
    tick at a deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.due = self.engine.tick()

    def edge(self, n: int, closed: bool) -> None:
        (self.sim.close_contact if closed else self.sim.open_contact)(n)
        self.due = self.engine.tick_edges([self.board.inputs[n - 1].name], self.due)

    def run_ms(self, ms: float) -> None:
        target = self.clock.monotonic_ns() + round(ms * 1e6)
        while self.due is not None and self.due <= target:
            self.clock.advance(max(self.due - self.clock.monotonic_ns(), 1) / 1e9)
            self.due = self.engine.tick()
        self.clock.advance((target - self.clock.monotonic_ns()) / 1e9)


class TickingRig(Rig):
    """The reference: a whole tick after every edge, and at every deadline."""

    def edge(self, n: int, closed: bool) -> None:
        (self.sim.close_contact if closed else self.sim.open_contact)(n)
        self.engine.tick()


def row(event: NewEvent) -> tuple[Any, ...]:
    return (event.kind, event.state, event.cause, event.channel, event.source, event.detail)


def varied(config: Config) -> None:
    """Inputs of every sort: instant, debounced, chattering easily, a panel's
    armed-state input, an input armed by the panel, outputs shared."""
    one, two, three, four = config.inputs
    one.response_ms = 0
    two.response_ms = 30
    two.outputs = [1, 2]
    three.response_ms = 0
    three.chatter_changes = 4
    three.chatter_window_s = 1
    four.kind = InputKind.ARMED_STATE
    four.response_ms = 0
    four.outputs = []
    one.armed_by = "panel"  # type: ignore[assignment]


@pytest.mark.parametrize("seed", range(6))
def test_quick_ticks_do_what_whole_ticks_do(seed: int) -> None:
    quick, whole = RunnerRig(varied), TickingRig(varied)
    rng = random.Random(seed)
    contacts = [False] * 4
    try:
        for _ in range(300):
            n = rng.randint(1, 4)
            contacts[n - 1] = not contacts[n - 1]
            for rig in (quick, whole):
                rig.edge(n, contacts[n - 1])
            pause = rng.choice([0, 0, 1, 5, 20, 40, 200, 1500])
            for rig in (quick, whole):
                rig.run_ms(pause)
            assert quick.relays == whole.relays
        assert [row(e) for e in quick.events] == [row(e) for e in whole.events]
        assert len(quick.events) > 100
    finally:
        quick.shutdown()
        whole.shutdown()


def test_a_quick_tick_past_the_deadline_is_a_whole_tick() -> None:
    """An edge that comes after something else fell due (here another input's
    debounce) gets a whole tick: the other input settles too."""

    def debounced(config: Config) -> None:
        config.inputs[0].response_ms = 0
        config.inputs[1].response_ms = 50

    rig = RunnerRig(debounced)
    try:
        rig.edge(2, True)  # its debounce ends 50 ms from now: the next deadline
        assert rig.due is not None
        rig.clock.advance(0.060)  # ... passed, with no tick since (a busy engine thread)
        rig.edge(1, True)
        assert rig.relays[:2] == [True, True]
    finally:
        rig.shutdown()


def test_a_quick_tick_leaves_the_other_channels_alone() -> None:
    """Before its deadline a quick tick does not look at the other inputs: one whose
    debounce has not ended is still unsettled, and settles at its deadline."""

    def debounced(config: Config) -> None:
        config.inputs[0].response_ms = 0
        config.inputs[1].response_ms = 50

    rig = RunnerRig(debounced)
    try:
        rig.edge(2, True)
        rig.clock.advance(0.010)
        rig.edge(1, True)
        assert rig.relays[:2] == [True, False]
        rig.run_ms(45)
        assert rig.relays[:2] == [True, True]
    finally:
        rig.shutdown()


def test_a_quick_tick_updates_only_the_outputs_the_edge_drives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def instant(config: Config) -> None:
        for one in config.inputs:
            one.response_ms = 0

    rig = RunnerRig(instant)
    updated: list[str] = []
    try:
        for out in rig.engine.outputs:
            real = out.update

            def update(now: int, out: Any = out, real: Any = real) -> bool:
                updated.append(out.name)
                return bool(real(now))

            monkeypatch.setattr(out, "update", update)
        rig.edge(3, True)
        assert rig.relays == [False, False, True, False]
        assert updated == ["OUT3"]  # a whole tick would have updated all four
        updated.clear()
        rig.run_ms(1500)  # a deadline comes: whole ticks
        assert set(updated) == {"OUT1", "OUT2", "OUT3", "OUT4"}
    finally:
        rig.shutdown()


def test_while_an_override_is_in_force_edges_take_a_whole_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Overrides end at their time, which only a whole tick applies: while one is in
    force an edge gets a whole tick, as before the quick tick existed."""

    def instant(config: Config) -> None:
        for one in config.inputs:
            one.response_ms = 0

    rig = RunnerRig(instant)
    updated: list[str] = []
    try:
        rig.engine.override_arming(True, 60, "bob")
        rig.due = rig.engine.tick()
        for out in rig.engine.outputs:
            real = out.update

            def update(now: int, out: Any = out, real: Any = real) -> bool:
                updated.append(out.name)
                return bool(real(now))

            monkeypatch.setattr(out, "update", update)
        rig.edge(3, True)
        assert rig.relays[2] is True
        assert set(updated) == {"OUT1", "OUT2", "OUT3", "OUT4"}
    finally:
        rig.shutdown()
