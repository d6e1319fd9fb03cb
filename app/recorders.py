"""Recorder profiles: what to set on a recorder's alarm input for an output's
valid signal, in that recorder's own words, with where each fact comes from.

The words NO / NC do not mean the same on every recorder (docs/wiring.md, "Setting
each channel's alarm input type"): AVTECH and Amcrest name the type after the
*sensor* the input expects to see at rest the other way round from the usual
meaning. So the Outputs page names the setting per recorder, and every profile
still ends with the test that settles it: relay off, no alarm; relay on, alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.config import Recorder

Signal = Literal["close", "open"]


@dataclass(frozen=True, slots=True)
class Profile:
    key: Recorder
    title: str
    menu: str  # where the setting is in the recorder's menu
    close: str  # what to pick for an output whose relay closes on alarm
    open: str  # ... opens on alarm
    source: str  # where the facts come from
    verified: bool  # confirmed by the maker or an installer's test, not only a manual

    def setting(self, signal: Signal) -> str:
        return self.close if signal == "close" else self.open

    def advice(self, signal: Signal, channel: str = "") -> str:
        """One sentence for the installer: what to set, where, on which input."""
        where = f"alarm input {channel}" if channel else "the alarm input"
        text = f"{self.title}: in {self.menu}, set {where} to {self.setting(signal)}."
        if not self.verified:
            text += " Not yet confirmed on a recorder: check it with the relay test."
        return text


TEST = (
    "Then test it: relay off, the recorder shows no alarm on that input; relay on "
    "(Start on the dashboard), it logs one. If it is the other way round, pick the "
    "other type."
)

PROFILES: dict[Recorder, Profile] = {
    p.key: p
    for p in (
        Profile(
            key="avtech",
            title="AVTECH (and Velleman DVR4L5)",
            menu="the alarm settings of each channel",
            close='"N.C." (counter-intuitive, but this is what logs an alarm when pin N '
            "is closed to pin 5, GND)",
            open='"N.O."',
            source="An installer's test on an AVTECH DVR (Velleman DVR4L5), pinout confirmed "
            'by AVTECH: "Set the channel ... to N.C. ... When I now close the circuit '
            'between pin 1 and pin 5 ..., an alarm event gets logged" (Didier Stevens, '
            "2011); docs/wiring.md section 2",
            verified=True,
        ),
        Profile(
            key="hikvision",
            title="Hikvision",
            menu="Configuration > Event > Basic/Alarm Input (Alarm Type)",
            close='"N.O." (normally open: the input alarms when it is closed to ground)',
            open='"N.C." (normally closed: the input alarms when it opens)',
            source="Hikvision's manuals name the alarm input type after the usual meaning "
            "(N.O. = open at rest); not yet checked with AlarmBridge on a Hikvision recorder",
            verified=False,
        ),
        Profile(
            key="dahua",
            title="Dahua / Amcrest",
            menu="Setting > Event > Alarm In (Device Type, or Trigger Mode on cameras)",
            close='"NC" on Amcrest / Dahua recorders (their help defines NC as "activated '
            'when the two wires are connected"); "Connect" where the menu has a Trigger Mode',
            open='"NO" (their help: "activated when the two wires are disconnected"); '
            '"Disconnect" where the menu has a Trigger Mode',
            source="Amcrest's help page for its AI NVRs (\"Normally Open (NO): This type of "
            'alarm input is activated when the two wires are disconnected"); the Dahua '
            'camera manual\'s Alarm In page ("Trigger Mode: Connect ... Disconnect")',
            verified=True,
        ),
        Profile(
            key="generic",
            title="Another recorder",
            menu="its alarm input settings (often Alarm, Event or Alarm In)",
            close='the type that alarms when the input is connected to ground ("Connect" '
            "if offered; the NO/NC labels differ between makes)",
            open='the type that alarms when the input is disconnected from ground ("Disconnect" '
            "if offered)",
            source="docs/wiring.md section 2: the labels are not reliable across makes",
            verified=False,
        ),
    )
}


def profile(key: Recorder) -> Profile:
    return PROFILES[key]
