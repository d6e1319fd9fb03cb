"""What runs on an alarm: the recorders' configuration (issue #20).

:class:`RecordersConfig` is one self-contained document: the network ``actions``
(app/network/actions/model.py), the ``cameras`` (snapshot sources:
app/network/evidence/sources.py), and the ``links``: for an input (by its name),
which actions run on alarm and on clear, which cameras are snapshotted, and when
(offsets from the alarm, e.g. 0 s and +2 s). It is the stored network settings'
``recorders`` section (app.network.netsettings, edited on the Integrations page), or
the JSON file ``ALARMBRIDGE_RECORDERS_FILE`` names (:func:`load_recorders`); the
model does not depend on where it is stored.

Every reference is checked when the document is read: a link naming an unknown
action, camera or (when the input names are given as the validation context
``{"inputs": [...]}``) input is an error that says which link and what exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from app.network.actions.model import Action
from app.network.evidence.sources import SnapshotSource

MAX_OFFSETS = 5
MAX_OFFSET_S = 60.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(_Model):
    """What one input's alarm (and its end) sets going."""

    on_alarm: list[str] = Field(
        default_factory=list, description="the actions sent when the input goes into alarm"
    )
    on_clear: list[str] = Field(
        default_factory=list,
        description="the actions sent when it is back to normal (each action's 'clear' request)",
    )
    cameras: list[str] = Field(default_factory=list, description="the cameras to snapshot")
    offsets_s: list[float] = Field(
        default_factory=lambda: [0.0, 2.0],
        min_length=1,
        max_length=MAX_OFFSETS,
        description="when to grab, in seconds after the alarm (e.g. 0 and 2)",
    )

    @model_validator(mode="after")
    def _offsets(self) -> Self:
        for offset in self.offsets_s:
            if not 0 <= offset <= MAX_OFFSET_S:
                raise ValueError(
                    f"offsets_s: {offset:g} s is not from 0 to {MAX_OFFSET_S:g} s after the alarm"
                )
        if len(set(self.offsets_s)) != len(self.offsets_s):
            raise ValueError("offsets_s: each offset once")
        return self


class EvidenceLimits(_Model):
    """How much room the snapshots may take beside the log, and for how long."""

    quota_mb: int = Field(default=200, ge=1, le=100_000)
    retain_days: float = Field(default=30.0, gt=0, le=3650)


class RecordersConfig(_Model):
    """The ``recorders`` document (see the module's docstring)."""

    actions: list[Action] = Field(default_factory=list)
    cameras: list[SnapshotSource] = Field(default_factory=list)
    links: dict[str, Link] = Field(
        default_factory=dict, description="an input's name -> what its alarm sets going"
    )
    max_age_s: float = Field(
        default=600.0,
        ge=10,
        le=86_400,
        description="an alarm older than this when its turn comes (after an outage) is "
        "recorded as skipped, not sent late to a recorder",
    )
    evidence: EvidenceLimits = EvidenceLimits()

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Self:
        problems = []
        for what, names in (
            ("action", [a.name for a in self.actions]),
            ("camera", [c.camera for c in self.cameras]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                problems.append(f"two {what}s named {', '.join(map(repr, twice))}: names are keys")
        actions = {a.name for a in self.actions}
        cameras = {c.camera for c in self.cameras}
        for input_name, link in self.links.items():
            for field_name, wanted, known, what in (
                ("on_alarm", link.on_alarm, actions, "action"),
                ("on_clear", link.on_clear, actions, "action"),
                ("cameras", link.cameras, cameras, "camera"),
            ):
                for name in wanted:
                    if name not in known:
                        listed = ", ".join(sorted(known)) or "none is configured"
                        problems.append(
                            f"links.{input_name}.{field_name}: no {what} {name!r} "
                            f"(the {what}s: {listed})"
                        )
        inputs = (info.context or {}).get("inputs") if info is not None else None
        if inputs is not None:
            problems += self.unknown_inputs(inputs)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def unknown_inputs(self, inputs: Iterable[str]) -> list[str]:
        """A sentence for each link whose input is not one of ``inputs``."""
        known = sorted(inputs)
        return [
            f"links: no input {name!r} (the inputs: {', '.join(known) or 'none'})"
            for name in self.links
            if name not in known
        ]

    def action(self, name: str) -> Any:
        return next(a for a in self.actions if a.name == name)

    def camera(self, name: str) -> Any:
        return next(c for c in self.cameras if c.camera == name)


class RecordersConfigError(ValueError):
    """The recorders file cannot be used; the message says what to fix."""


def parse_recorders(data: Any, inputs: Iterable[str] | None = None) -> RecordersConfig:
    """The document from its JSON value; ``inputs``: the input names links may use."""
    context = None if inputs is None else {"inputs": list(inputs)}
    try:
        return RecordersConfig.model_validate(data, context=context)
    except ValidationError as exc:
        from app.io.commands import explain

        raise RecordersConfigError(f"recorders settings: {explain(exc)}") from None


def load_recorders(path: Path, inputs: Iterable[str] | None = None) -> RecordersConfig:
    """Read and check the recorders file (``ALARMBRIDGE_RECORDERS_FILE``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecordersConfigError(f"cannot read the recorders file {path}: {exc}") from None
    except ValueError as exc:
        raise RecordersConfigError(f"the recorders file {path} is not JSON: {exc}") from None
    return parse_recorders(data, inputs)
