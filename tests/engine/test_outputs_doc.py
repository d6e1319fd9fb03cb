"""docs/outputs.md's timing diagrams are true: each is replayed on the real engine
(simulated pins, a manual clock) and the relay is sampled in the middle of every step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.config import Config, OutputConfig
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]
DOC = (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text()


def diagram(heading: str, label: str) -> str:
    """The pattern on the line ``label`` of the first diagram after ``heading``."""
    section = DOC[DOC.index(heading) :]
    block = section[section.index("```\n") + 4 :]
    block = block[: block.index("```")]
    for line in block.splitlines():
        if line.startswith(label + " ") and line[len(label) :].strip():
            return line[len(label) :].split()[0]
    raise AssertionError(f"no line {label!r} under {heading!r}")


def replay(make_rig: MakeRig, alarm: str, step_ms: int, **settings: Any) -> str:
    def edit(c: Config) -> None:
        c.inputs[0].response_ms = 0
        c.outputs[0] = OutputConfig.model_validate(c.outputs[0].model_dump() | settings)

    rig = make_rig(edit)
    seen = []
    for level in alarm:
        if (level == "‾") != (rig.engine.inputs[0].raw):
            (rig.close if level == "‾" else rig.open)(1)
        rig.run_ms(step_ms / 2)
        seen.append("‾" if rig.relays[0] else "_")
        rig.run_ms(step_ms / 2)
    return "".join(seen)


CASES = [
    ("## Switch or pulse", "output active", "switch", 100, {}),
    ("## Switch or pulse", "output active", "pulse 2/2", 100,
     {"mode": "pulse", "pulse_on_ms": 200, "pulse_off_ms": 200}),
    ("## Switch or pulse", "output active", "pulse 2/2 x3", 100,
     {"mode": "pulse", "pulse_on_ms": 200, "pulse_off_ms": 200, "pulse_count": 3}),
    ("## Hold:", "input alarm", "follow", 1000, {}),
    ("## Hold:", "input alarm", "fixed, 8 s", 1000, {"hold": "fixed", "hold_ms": 8000}),
    ("## Hold:", "input alarm", "follow-hold, 5 s", 1000,
     {"hold": "follow-hold", "hold_ms": 5000}),
    ("The difference", "input alarm", "fixed, 8 s", 1000, {"hold": "fixed", "hold_ms": 8000}),
    ("The difference", "input alarm", "follow-hold, 5 s", 1000,
     {"hold": "follow-hold", "hold_ms": 5000}),
    ("## Re-trigger", "input alarm", "extend", 1000,
     {"hold": "fixed", "hold_ms": 5000, "min_off_ms": 1000, "retrigger": "extend"}),
    ("## Re-trigger", "input alarm", "restart", 1000,
     {"hold": "fixed", "hold_ms": 5000, "min_off_ms": 1000, "retrigger": "restart"}),
    ("## Re-trigger", "input alarm", "ignore", 1000,
     {"hold": "fixed", "hold_ms": 5000, "min_off_ms": 1000, "retrigger": "ignore"}),
    ("## Minimum off time", "input alarm", "output", 1000, {"min_off_ms": 3000}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("heading", "alarm_label", "label", "step_ms", "settings"),
    CASES,
    ids=[f"{c[0].strip('# ')}: {c[2]}" for c in CASES],
)
def test_the_diagram_is_what_the_engine_does(
    make_rig: MakeRig,
    heading: str,
    alarm_label: str,
    label: str,
    step_ms: int,
    settings: dict[str, Any],
) -> None:
    alarm = diagram(heading, alarm_label)
    expected = diagram(heading, label)
    assert len(alarm) == len(expected), "a diagram's lines have one length"
    assert replay(make_rig, alarm, step_ms, **settings) == expected
