"""How long the writer's commits take, and how many events each one carries: two
fixed-bucket histograms for ``/metrics``.

The writer thread alone records (:meth:`CommitStats.record`, a few integer
additions after each commit; the relay path never touches this). Other threads (the
io process's status) read :attr:`CommitStats.snapshot`, an immutable tuple the
writer replaces after each commit: one attribute read, no lock, and always a
consistent view (the buckets, the count and the sum of the same commits).

The buckets are fixed (Prometheus's histograms add across scrapes and appliances
only with the same bounds): commit time from 0.5 ms (a fast SSD) to 5 s (an SD card
in trouble), events per commit from 1 to the writer's largest batch (500).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

#: upper bounds (seconds) of the commit-time buckets; one more bucket is "above"
SECONDS_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: upper bounds of the events-per-commit buckets
EVENTS_BOUNDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts per bucket (not cumulative; the last one is above the last bound)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float  # the sum of the values

    @property
    def count(self) -> int:
        return sum(self.counts)

    def to_json(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        """From :meth:`to_json` (the io status); ValueError when it does not add up."""
        bounds = tuple(float(b) for b in data["bounds"])
        counts = tuple(int(c) for c in data["counts"])
        if len(counts) != len(bounds) + 1 or any(c < 0 for c in counts):
            raise ValueError("a histogram has one count per bound and one above")
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("a histogram's bounds increase")
        return cls(bounds, counts, float(data["sum"]))

    def cumulative(self) -> list[tuple[float, int]]:
        """Prometheus's buckets: ``(le, count of values <= le)``, ending with infinity."""
        found: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            found.append((bound, running))
        return found


@dataclass(frozen=True, slots=True)
class Snapshot:
    seconds: Histogram
    events: Histogram

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds.to_json(), "events": self.events.to_json()}


class CommitStats:
    """The two histograms (see the module). ``record`` on the writer thread only."""

    def __init__(self) -> None:
        self._seconds = [0] * (len(SECONDS_BOUNDS) + 1)
        self._events = [0] * (len(EVENTS_BOUNDS) + 1)
        self._seconds_sum = 0.0
        self._events_sum = 0
        self.snapshot = self._snap()

    def record(self, seconds: float, events: int) -> None:
        """One commit of ``events`` rows that took ``seconds``."""
        self._seconds[bisect_left(SECONDS_BOUNDS, seconds)] += 1
        self._events[bisect_left(EVENTS_BOUNDS, events)] += 1
        self._seconds_sum += seconds
        self._events_sum += events
        self.snapshot = self._snap()

    def _snap(self) -> Snapshot:
        return Snapshot(
            Histogram(SECONDS_BOUNDS, tuple(self._seconds), self._seconds_sum),
            Histogram(EVENTS_BOUNDS, tuple(self._events), float(self._events_sum)),
        )
