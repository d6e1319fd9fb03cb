"""Clock steps and daylight saving through a running io process (requirement 13;
the contract is docs/schedules.md and ADR 0005).

The io process runs on a wall clock the test steps (:class:`ShiftedClock`: the
system's clocks, the wall clock moved), in Europe/Brussels and in America/New_York
at once. Three schedules: ``Day`` (08:00-09:00 every day) arms IN1 and times OUT2;
``Night`` (02:30-04:00 on the night the clocks go forward only) times OUT3;
``Repeat`` (the half hour after the start of the repeated hour, on the night
the clocks go back only) times OUT4. Every event is read from the live stream;
each step must give exactly the events listed, in order, and nothing else:

- +3 h into a window: it switches on at once, the step names what it jumped over;
- -2 h out of it: off at once; then when the corrected clock reaches the window
  it starts again (by design), on the minute;
- clocks go forward: a window from 02:30 starts at 03:00, at the change itself;
- +3 h across that change over the whole window: nothing switches, the step
  names the window's start and end;
- clocks go back: a window in the repeated hour runs once; a step into the same
  local time an hour later (real time) does not run it again;
- -2 h across that change back into the window: on at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.io.process import IoProcess
from app.io.protocol import Client
from app.schedules.calendar import to_us
from app.settings import Settings
from app.timefmt import utc_iso
from tests.faults.clock import ShiftedClock
from tests.faults.harness import Listener, summary, variants
from tests.support import wait_for

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
H = 3600
STEP = ("system", None, "clock-step")
ARMED, DISARMED = ("input", "IN1", "armed"), ("input", "IN1", "disarmed")
OUT2_ON, OUT2_OFF = ("output", "OUT2", "active"), ("output", "OUT2", "idle")
OUT4_ON, OUT4_OFF = ("output", "OUT4", "active"), ("output", "OUT4", "idle")
# A time in the hour that the clocks go back through, in each zone.
REPEATED = {"Europe/Brussels": "02:30", "America/New_York": "01:30"}


def dst_days(tz: ZoneInfo, year: int) -> tuple[date, date]:
    """The days the clocks go forward and back."""
    noon = clock_time(12)
    days = [date(year, 1, 1) + timedelta(n) for n in range(365)]
    offsets = [datetime.combine(d, noon, tz).utcoffset() or timedelta() for d in days]
    changed = [(d, b > a) for d, a, b in zip(days[1:], offsets, offsets[1:]) if a != b]  # noqa: B905
    [forward] = [d for d, ahead in changed if ahead]
    [back] = [d for d, ahead in changed if not ahead]
    return forward, back


class SteppedIo:
    """One io process in one zone, on a wall clock the test steps."""

    def __init__(self, zone: str, year: int, data_dir: Path) -> None:
        self.tz = ZoneInfo(zone)
        self.spring, self.fall = dst_days(self.tz, year)
        self.regular = date(year, 6, 10)
        self.repeated = REPEATED[zone]
        self.clock = ShiftedClock()
        self.clock.set_wall(self.at(self.regular, "05:30"))
        settings = Settings(data_dir=data_dir, pins="mock", timezone=zone)
        self.io = IoProcess(settings, clock=self.clock)
        self.io.start()
        try:
            client = Client(settings.socket_path)
            self.configure(client)
            assert self.io.writer.flush()
            self.listener = Listener(client)
        except BaseException:
            self.io.stop()
            raise
        self.detected: list[float] = []  # ms from a step to its event
        self.late: list[float] = []  # ms from a transition to its event

    def configure(self, client: Client) -> None:
        config = client.request("config-get")
        h, m = self.repeated.split(":")
        config["schedules"] = [
            {"name": "Day", "week": {d: [{"start": "08:00", "end": "09:00"}] for d in DAYS}},
            one_night("Night", self.spring, "02:30", "04:00"),
            one_night("Repeat", self.fall, self.repeated, f"{h}:{int(m) + 15}"),
        ]
        config["inputs"][0]["schedule"] = "Day"
        for n, name in ((2, "Day"), (3, "Night"), (4, "Repeat")):
            config["outputs"][n - 1]["schedule"] = name
        client.request("config-set", config=config, user="test")

    def at(self, day: date, hhmm: str, fold: int = 0) -> int:
        moment = datetime.combine(day, clock_time.fromisoformat(hhmm), self.tz)
        return to_us(moment.replace(fold=fold))

    def expect(
        self, step: int | float, wanted: list[tuple[str, str | None, str]], quiet_s: float = 0.3
    ) -> list[dict[str, Any]]:
        """Step the wall clock (to ``step`` µs UTC if an int, by ``step`` seconds if a
        float) and wait for exactly the events ``wanted``, then ``quiet_s`` for more."""
        start = len(self.listener.events)
        stepped = time.monotonic_ns()
        if isinstance(step, int):
            self.clock.set_wall(step)
        else:
            self.clock.step(step)
        wait_for(lambda: len(self.listener.events) - start >= len(wanted), timeout=5)
        time.sleep(quiet_s)
        got = self.listener.events[start:]
        assert [(e["kind"], e["channel"], e["state"]) for e in got] == wanted
        self.detected.append((got[0]["mono_ns"] - stepped) / 1e6)
        for event in got[1:]:  # changes made by the step say so; the clock's own do not
            by_step = event["mono_ns"] - got[0]["mono_ns"] < 500_000_000
            assert bool(event["detail"].get("clock_step")) is by_step, event
        return got

    def on_time(self, event: dict[str, Any], utc_us: int) -> None:
        """``event`` happened at ``utc_us``: not before, within half a second after."""
        assert 0 <= event["utc_us"] - utc_us < 500_000, (utc_iso(event["utc_us"]), utc_iso(utc_us))
        self.late.append((event["utc_us"] - utc_us) / 1000)

    def run(self) -> int:
        """Every step in turn; how many steps."""
        eight = self.at(self.regular, "08:00")
        # +3 h into Day's window: on at once; the step names the start it jumped over.
        step, *_ = self.expect(3.0 * H, [STEP, ARMED, OUT2_ON])
        assert step["detail"]["step_s"] == 3 * H
        assert step["detail"]["skipped"] == {"Day": [f"on {utc_iso(eight)}"]}
        # -2 h, out of it: off at once; the step names the start it will go through again.
        step, *_ = self.expect(-2.0 * H, [STEP, DISARMED, OUT2_OFF])
        assert step["detail"]["step_s"] == -2 * H
        assert step["detail"]["replayed"] == {"Day": [f"on {utc_iso(eight)}"]}
        # The corrected clock reaches 08:00: on again, on the minute.
        step, armed, out2 = self.expect(eight - 2_000_000, [STEP, ARMED, OUT2_ON])
        assert "skipped" not in step["detail"]
        self.on_time(armed, eight)
        self.on_time(out2, eight)

        # Clocks go forward: Night (02:30-04:00) starts at 03:00, the change itself.
        change = self.at(self.spring, "03:00")
        before = self.at(self.spring, "01:59:58")
        assert change - before == 2_000_000
        *_, out3 = self.expect(before, [STEP, DISARMED, OUT2_OFF, ("output", "OUT3", "active")])
        self.on_time(out3, change)
        # +3 h from 00:30 across the change and the whole window: nothing switches.
        self.expect(self.at(self.spring, "00:30"), [STEP, ("output", "OUT3", "idle")])
        [step] = self.expect(3.0 * H, [STEP])
        night_ends = self.at(self.spring, "04:00")
        assert step["detail"]["skipped"] == {
            "Night": [f"on {utc_iso(change)}", f"off {utc_iso(night_ends)}"]
        }

        # Clocks go back: Repeat runs in the first pass through the repeated hour ...
        first = self.at(self.fall, self.repeated)
        second = self.at(self.fall, self.repeated, fold=1)
        assert second - first == H * 1_000_000
        ends = f"off {utc_iso(first + 15 * 60_000_000)}"
        _, out4 = self.expect(first - 2_000_000, [STEP, OUT4_ON])
        self.on_time(out4, first)
        # ... and not again when a step takes the clock to the same local time an hour on.
        step, _ = self.expect(second - 2_000_000, [STEP, OUT4_OFF], quiet_s=3)
        assert step["detail"]["skipped"] == {"Repeat": [ends]}
        # -2 h across the change, back into the window: on at once.
        self.expect(first + (2 * H + 300) * 1_000_000, [STEP])
        step, _ = self.expect(-2.0 * H, [STEP, OUT4_ON])
        assert step["detail"]["replayed"] == {"Repeat": [ends]}
        return 10

    def close(self) -> None:
        self.listener.stop()
        self.io.stop()


def one_night(name: str, day: date, start: str, end: str) -> dict[str, Any]:
    """A schedule with one window, on ``day`` only (an exception to an empty week)."""
    window = {"start": start, "end": end}
    return {"name": name, "exceptions": [{"date": day.isoformat(), "windows": [window]}]}


@variants("years", ((2026,),), ((2026, 2027, 2028),))
def test_clock_steps_and_daylight_saving_neither_skip_nor_repeat_a_window(
    tmp_path: Path, years: tuple[int, ...], figures: dict[str, Any]
) -> None:
    appliances: list[SteppedIo] = []
    try:
        for year in years:  # one at a time: Alembic's migrations share module state
            for zone in REPEATED:
                data = tmp_path / f"{year}-{zone.replace('/', '-')}"
                appliances.append(SteppedIo(zone, year, data))
        with ThreadPoolExecutor(len(appliances)) as pool:  # they mostly wait: all at once
            steps = sum(pool.map(SteppedIo.run, appliances))
    finally:
        for appliance in appliances:
            appliance.close()
    figures.update(
        runs=[f"{a.tz.key} {a.spring.year}" for a in appliances],
        steps=steps,
        step_to_event_ms=summary([ms for a in appliances for ms in a.detected]),
        transition_to_event_ms=summary([ms for a in appliances for ms in a.late]),
    )
