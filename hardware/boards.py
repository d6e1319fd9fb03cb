"""Board descriptions: a pin map plus relay polarity, validated in one place.

A :class:`BoardSpec` says which BCM pin each alarm input, relay, the manual
button and the status LED use, and how each is wired. :data:`PRESETS` holds the
boards we know; :meth:`BoardSpec.from_mapping` reads a custom map from config.

>>> spec = preset("default")
>>> [relay.pin for relay in spec.relays]
[17, 27, 22, 23]
>>> spec.config_txt_lines()
['gpio=17,27,22,23=op,dl']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hardware.errors import PinMapError
from hardware.pins import HEADER_PIN, RESERVED

Level = Literal["low", "high"]


@dataclass(frozen=True)
class InputSpec:
    """An alarm input. ``closed_level`` is the pin level while the contact is closed:
    "low" for an optocoupler pulling the pin to ground (with a pull-up), "high" for a
    buffered voltage input (with a pull-down)."""

    name: str
    pin: int
    closed_level: Level = "low"


@dataclass(frozen=True)
class RelaySpec:
    """A relay driver. ``active_high`` is True when a HIGH pin energises the coil."""

    name: str
    pin: int
    active_high: bool = True


@dataclass(frozen=True)
class BoardSpec:
    """A complete pin map. Build one with :func:`preset` or :meth:`from_mapping`;
    both validate it (call :meth:`validate` yourself after building one by hand)."""

    name: str
    title: str
    inputs: tuple[InputSpec, ...]
    relays: tuple[RelaySpec, ...]
    button: int | None = 24
    led: int | None = 25
    allow_reserved: frozenset[int] = field(default_factory=frozenset)
    notes: str = ""

    def pins(self) -> list[tuple[str, int]]:
        """Every (function, BCM pin) pair of the map, in a stable order."""
        used = [(i.name, i.pin) for i in self.inputs] + [(r.name, r.pin) for r in self.relays]
        if self.button is not None:
            used.append(("button", self.button))
        if self.led is not None:
            used.append(("status LED", self.led))
        return used

    def validate(self) -> BoardSpec:
        """Raise :class:`PinMapError` listing every problem; return ``self`` if none."""
        problems: list[str] = []
        owners: dict[int, str] = {}
        names: set[str] = set()
        for function, pin in self.pins():
            if function in names:
                problems.append(f"the name {function!r} is used twice")
            names.add(function)
            if not isinstance(pin, int) or isinstance(pin, bool) or pin not in HEADER_PIN:
                problems.append(
                    f"{function}: GPIO {pin!r} does not exist on the 40-pin header "
                    "(use a BCM number from 0 to 27)"
                )
                continue
            if pin in owners:
                problems.append(f"GPIO {pin} is used twice: by {owners[pin]} and by {function}")
            else:
                owners[pin] = function
            if pin in RESERVED and pin not in self.allow_reserved:
                problems.append(
                    f"{function}: GPIO {pin} (header pin {HEADER_PIN[pin]}) is reserved for "
                    f"{RESERVED[pin]}; choose another pin, or add {pin} to allow_reserved "
                    "if nothing on this Pi uses it"
                )
        if not self.inputs:
            problems.append("the board has no alarm inputs")
        if not self.relays:
            problems.append("the board has no relays")
        if problems:
            raise PinMapError(problems)
        return self

    def boot_levels(self) -> dict[int, bool]:
        """The level each relay pin should have from power-on: its "off" level."""
        return {r.pin: not r.active_high for r in self.relays}

    def pin_table(self) -> list[dict[str, Any]]:
        """Every used pin as a row: function, BCM number, physical header pin, wiring.

        >>> preset("default").pin_table()[0]
        {'function': 'IN1', 'gpio': 5, 'header_pin': 29, 'wiring': 'input, closed = low'}
        """
        rows = [(i.name, i.pin, f"input, closed = {i.closed_level}") for i in self.inputs]
        rows += [
            (r.name, r.pin, f"relay, active-{'high' if r.active_high else 'low'}")
            for r in self.relays
        ]
        if self.button is not None:
            rows.append(("button", self.button, "to GND"))
        if self.led is not None:
            rows.append(("status LED", self.led, "active-high"))
        return [
            {"function": name, "gpio": pin, "header_pin": HEADER_PIN[pin], "wiring": what}
            for name, pin, what in rows
        ]

    def config_txt_lines(self) -> list[str]:
        """``config.txt`` lines that hold every relay off from power-on until we start.

        >>> preset("waveshare-rpi-relay").config_txt_lines()
        ['gpio=26,20,21=op,dh']
        """
        lines = []
        for active_high, level in ((True, "dl"), (False, "dh")):
            pins = [str(r.pin) for r in self.relays if r.active_high == active_high]
            if pins:
                lines.append(f"gpio={','.join(pins)}=op,{level}")
        return lines

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BoardSpec:
        """Build and validate a custom board from config, for example::

            {"name": "garage", "inputs": [5, 6], "relays": [{"pin": 17, "active_high": false}],
             "button": 24, "led": null}

        Inputs and relays are a BCM number or an object; names default to IN1.., OUT1..
        """
        known = {"name", "title", "inputs", "relays", "button", "led", "allow_reserved", "notes"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PinMapError([f"unknown key {key!r} in the board map" for key in unknown])
        try:
            inputs = tuple(_input(item, n) for n, item in enumerate(data.get("inputs", []), 1))
            relays = tuple(_relay(item, n) for n, item in enumerate(data.get("relays", []), 1))
            allow = frozenset(int(p) for p in data.get("allow_reserved", []))
        except (TypeError, ValueError) as exc:
            raise PinMapError([str(exc)]) from exc
        spec = cls(
            name=str(data.get("name", "custom")),
            title=str(data.get("title", "Custom pin map")),
            inputs=inputs,
            relays=relays,
            button=data.get("button", 24),
            led=data.get("led", 25),
            allow_reserved=allow,
            notes=str(data.get("notes", "")),
        )
        return spec.validate()


def _input(item: Any, n: int) -> InputSpec:
    if isinstance(item, Mapping):
        extra = set(item) - {"name", "pin", "closed_level"}
        if extra:
            raise ValueError(f"input {n}: unknown key(s) {', '.join(sorted(extra))}")
        level = item.get("closed_level", "low")
        if level not in ("low", "high"):
            raise ValueError(f"input {n}: closed_level must be 'low' or 'high', not {level!r}")
        pin: Any = item.get("pin")  # validate() checks it, with every other problem
        return InputSpec(str(item.get("name", f"IN{n}")), pin, level)
    return InputSpec(f"IN{n}", item)


def _relay(item: Any, n: int) -> RelaySpec:
    if isinstance(item, Mapping):
        extra = set(item) - {"name", "pin", "active_high"}
        if extra:
            raise ValueError(f"relay {n}: unknown key(s) {', '.join(sorted(extra))}")
        active_high = item.get("active_high", True)
        if not isinstance(active_high, bool):
            raise ValueError(f"relay {n}: active_high must be true or false")
        pin: Any = item.get("pin")
        return RelaySpec(str(item.get("name", f"OUT{n}")), pin, active_high)
    return RelaySpec(f"OUT{n}", item)


def _inputs(pins: Iterable[int], level: Level = "low") -> tuple[InputSpec, ...]:
    return tuple(InputSpec(f"IN{n}", pin, level) for n, pin in enumerate(pins, 1))


def _relays(pins: Iterable[int], active_high: bool) -> tuple[RelaySpec, ...]:
    return tuple(RelaySpec(f"OUT{n}", pin, active_high) for n, pin in enumerate(pins, 1))


_DEFAULT_INPUTS = (5, 6, 13, 19)

PRESETS: dict[str, BoardSpec] = {
    spec.name: spec.validate()
    for spec in (
        BoardSpec(
            name="default",
            title="AlarmBridge default: 4 optocoupled inputs, 4 relays, button, LED",
            inputs=_inputs(_DEFAULT_INPUTS),
            relays=_relays((17, 27, 22, 23), active_high=True),
            notes="Active-high relay drivers on pins pulled down at reset: no click at boot.",
        ),
        BoardSpec(
            name="waveshare-rpi-relay",
            title="Waveshare RPi Relay Board (3 relays, active-low)",
            inputs=_inputs(_DEFAULT_INPUTS),
            relays=_relays((26, 20, 21), active_high=False),
            notes="Relays are active-low on pins pulled down at reset: they may close for the "
            "first seconds after power-on, until the config.txt line applies (add it), "
            "and after that stay off.",
        ),
        BoardSpec(
            name="waveshare-relay-b",
            title="Waveshare RPi Relay Board (B) (8 relays, active-low)",
            inputs=_inputs((17, 27, 22, 23)),
            relays=_relays((5, 6, 13, 16, 19, 20, 21, 26), active_high=False),
            notes="The relays take the default input pins, so inputs move to 17, 27, 22, 23. "
            "GPIO 5 and 6 are pulled up at reset (relays off); the others need config.txt.",
        ),
        BoardSpec(
            name="pimoroni-automation-hat",
            title="Pimoroni Automation HAT (3 relays, 3 buffered 24 V inputs)",
            inputs=_inputs((26, 20, 21), level="high"),
            relays=_relays((13, 19, 16), active_high=True),
            notes="Its inputs read HIGH while a voltage (5-24 V) is applied: wire the contact "
            "in series with a supply. Button and LED go on the HAT's free GPIO 24 and 25.",
        ),
        BoardSpec(
            name="sb-pirelay",
            title="SB Components PiRelay (4 relays, active-high)",
            inputs=_inputs(_DEFAULT_INPUTS),
            relays=_relays((22, 27, 17, 4), active_high=True),
            notes="GPIO 4 is pulled up at reset: relay 4 may close briefly at power-on "
            "until the config.txt line applies.",
        ),
    )
}


def preset(name: str) -> BoardSpec:
    """The preset called ``name``; :class:`PinMapError` names the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise PinMapError(
            [f"unknown board preset {name!r}: choose one of {', '.join(PRESETS)}, or 'custom'"]
        ) from None


def load_spec(board: str, board_file: Path | None) -> BoardSpec:
    """The pin map ``board`` names: a preset, or for "custom" the JSON in ``board_file``
    (the io process reads it before its settings: app/io/claim.py)."""
    if board != "custom":
        return preset(board)
    if board_file is None:
        raise PinMapError(["board 'custom' needs --board-file with the pin map (JSON)"])
    try:
        data = json.loads(board_file.read_text())
    except (OSError, ValueError) as exc:
        raise PinMapError([f"cannot read the board file {board_file}: {exc}"]) from exc
    return BoardSpec.from_mapping(data)
