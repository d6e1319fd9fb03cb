"""Virtual inputs (V1..V8): inputs with no wire, set by signals from the network.

A virtual input is an :class:`~app.engine.inputs.InputChannel` with no debounce
(``response_ms`` 0) and a normally-open "contact" that a signal closes (active)
or opens (inactive): the engine runs it like a wired input's debounced edge
(kind, arming, linkage, chatter, stuck, logging). What is its own:

* a *pulse*: active now, back to normal after N seconds;
* a *refresh* timeout (``refresh_s``): a sender that does not repeat its state in
  time is taken as gone: the input falls back to normal and the fault
  ``VNAME:signal-lost`` is raised until the next signal.

A base of :class:`~app.engine.core.Engine`; every method runs on the engine's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from app.config import Config, InputKind, VirtualInputConfig
from app.engine.inputs import InputChannel, S
from app.engine.outputs import OutputChannel

SignalAction = Literal["active", "inactive", "pulse"]
LOST = "signal-lost"


class VirtualChannel(InputChannel):
    """One virtual input's state: what the engine keeps beyond a wired input's."""

    def __init__(self, number: int, vcfg: VirtualInputConfig, now: int) -> None:
        super().__init__(vcfg.name, vcfg.as_input(), closed=False, now=now)
        self.number = number  # k of Vk
        self.vcfg = vcfg
        self.source: str | None = None  # who sent the last signal
        self.pulse_until: int | None = None
        self.refresh_due: int | None = None
        self.last_signal: int | None = None  # monotonic ns
        self.lost = False

    @property
    def label(self) -> str:
        return f"V{self.number}"

    def retune(self, vcfg: VirtualInputConfig, now: int) -> None:
        """New settings; a refresh timeout starts counting from now."""
        self.vcfg = vcfg
        self.reconfigure(vcfg.as_input(), now)
        if self.last_signal is not None and vcfg.refresh_s:
            self.refresh_due = now + vcfg.refresh_s * S
        elif not vcfg.refresh_s:
            self.refresh_due = None

    def deadlines(self) -> list[int]:
        return [t for t in (self.pulse_until, self.refresh_due) if t is not None]

    def status(self) -> dict[str, Any]:
        base = super().status()
        base.update(
            virtual=True,
            label=self.label,
            contact_type=None,
            contact=None,
            refresh_s=self.vcfg.refresh_s,
            signal_lost=self.lost,
            signalled_by=self.source,
        )
        return base


class VirtualInputs:
    """The engine's virtual-input logic; the engine sets these attributes and methods."""

    inputs: list[InputChannel]
    outputs: list[OutputChannel]
    config: Config
    virtual: list[VirtualChannel]
    set_fault: Callable[..., None]
    tick: Callable[[int | None], int | None]
    _check_chatter: Callable[[InputChannel, int], None]
    _armed: Callable[[InputChannel], bool]
    _acts: Callable[[InputChannel], bool]
    _mono: Callable[[], int]  # the engine's clock: monotonic ns

    def _make_virtual(self, now: int) -> list[VirtualChannel]:
        return [VirtualChannel(k, v, now) for k, v in enumerate(self.config.virtual_inputs, 1)]

    def signal(self, number: int, action: SignalAction, pulse_s: int | None, source: str) -> bool:
        """Set virtual input ``number`` (k of Vk) active or inactive, or pulse it for
        ``pulse_s`` seconds, on behalf of ``source`` (who sent it, for the log). A
        repeat of its state only refreshes it. True if its state changed."""
        if not 1 <= number <= len(self.virtual):
            have = f"V1 to V{len(self.virtual)}" if self.virtual else "none configured"
            raise ValueError(f"there is no virtual input V{number} (virtual inputs: {have})")
        if action == "pulse" and not pulse_s:
            raise ValueError("a pulse needs its length in seconds: pulse_s")
        if action != "pulse" and pulse_s is not None:
            raise ValueError(f"pulse_s is for a pulse only, not for {action!r}")
        ch = self.virtual[number - 1]
        now = self._mono()
        was = ch.alarm
        ch.source = source
        ch.last_signal = now
        ch.pulse_until = now + pulse_s * S if action == "pulse" and pulse_s else None
        refresh = ch.vcfg.refresh_s
        ch.refresh_due = now + refresh * S if refresh else None
        if ch.lost:
            ch.lost = False
            self.set_fault(
                f"{ch.name}:{LOST}", False, f"{ch.name} is signalled again", source=source
            )
        if ch.edge(action != "inactive", now):
            self._check_chatter(ch, now)
        self.tick(now)
        return ch.alarm != was

    def _tick_virtual(self, now: int) -> None:
        """End pulses that are due; fall back to normal where a refresh is overdue."""
        for ch in self.virtual:
            if ch.pulse_until is not None and now >= ch.pulse_until:
                ch.pulse_until = None
                ch.source = f"pulse by {ch.source}" if ch.source else "pulse"
                ch.edge(False, now)
            if ch.refresh_due is not None and now >= ch.refresh_due:
                ch.refresh_due = None
                ch.lost = True
                ch.source = "signal-lost"
                ch.edge(False, now)
                self.set_fault(
                    f"{ch.name}:{LOST}",
                    True,
                    f"{ch.name} ({ch.label}) was not signalled for {ch.vcfg.refresh_s} s: "
                    "it is taken as normal until its sender signals again",
                    refresh_s=ch.vcfg.refresh_s,
                )

    def _virtual_deadlines(self) -> list[int]:
        return [t for ch in self.virtual for t in ch.deadlines()]

    def _reconfigure_virtual(self, config: Config, now: int) -> None:
        """Take the new virtual inputs: kept ones by position, new ones normal,
        removed ones let go of their outputs (and their faults)."""
        kept: list[VirtualChannel] = []
        for k, vcfg in enumerate(config.virtual_inputs, 1):
            if k <= len(self.virtual):
                ch = self.virtual[k - 1]
                ch.retune(vcfg, now)
                kept.append(ch)
            else:
                kept.append(VirtualChannel(k, vcfg, now))
        for ch in self.virtual[len(kept) :]:
            for out in self.outputs:
                out.release(ch.name, now)
            if ch.lost:
                self.set_fault(f"{ch.name}:{LOST}", False, f"{ch.name} was removed")
        self.virtual = kept

    def _virtual_status(self) -> list[dict[str, Any]]:
        return [
            ch.status()
            | {
                "armed": self._armed(ch) if ch.cfg.kind is InputKind.ALARM else None,
                "acts": self._acts(ch),
            }
            for ch in self.virtual
        ]
