"""``/metrics``: the appliance's state in Prometheus's text format, for the viewer role.

Each scrape asks the io process for its status (what the dashboard shows) and reads
the event log only for the rows committed since the previous scrape: the events
per kind are counted once, at the first scrape, and then only the new rows (by
seq, which is never reused), so a scrape costs the same on a log of ten million
rows as on an empty one. The registry is the app's own (no global state), and
prometheus-client is imported by the web process only, never by the io process.

Not here yet:

* the writer's commit latency: the io status does not expose it (the writer is
  being reworked); when it does, add it in :func:`_status_families`;
* delivery backlog and lag per destination: they come from the delivery process
  (issue 18), which is not merged yet. :func:`delivery_families` is where they go.

The list of metrics, with their meaning: docs/web.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from app.eventlog.schema import events
from app.events import Kind
from app.io.commands import GetStatus
from app.io.protocol import ControlError
from app.web.deps import State
from app.web.security import Viewer

log = logging.getLogger(__name__)

PREFIX = "alarmbridge"

router = APIRouter(include_in_schema=False)


class EventCounts:
    """Events per kind: counted in full once, then only the rows after the last seq seen."""

    def __init__(self) -> None:
        self.by_kind: dict[str, int] = {str(kind): 0 for kind in Kind}
        self.last_seq = 0
        self._lock = threading.Lock()

    def refresh(self, db: Engine) -> None:
        """Add the rows committed since the last refresh (one indexed range query)."""
        with self._lock:
            query = (
                select(events.c.kind, func.count(), func.max(events.c.seq))
                .where(events.c.seq > self.last_seq)
                .group_by(events.c.kind)
            )
            with db.connect() as connection:
                rows = connection.execute(query).all()
            for kind, count, newest in rows:
                self.by_kind[str(kind)] = self.by_kind.get(str(kind), 0) + int(count)
                self.last_seq = max(self.last_seq, int(newest))


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def _flag(value: object) -> float:
    return 1.0 if value else 0.0


def _status_families(status: dict[str, Any]) -> Iterator[Metric]:
    """The io process's status: inputs, outputs, faults, the writer, the clock."""
    info = _gauge("info", "the appliance's version and board (always 1)", ["version", "board"])
    info.add_metric([str(status.get("version", "")), str(status.get("board", ""))], 1)
    yield info
    simulated = _gauge("simulated", "1: the pins are simulated (no hardware)")
    simulated.add_metric([], _flag(status.get("simulated")))
    yield simulated
    yield from _scalars(status)
    names = ["input", "number", "kind"]
    families = {
        "alarm": _gauge("input_alarm", "1: the input is in alarm (NO closed or NC open)", names),
        "closed": _gauge("input_contact_closed", "1: the input's raw contact is closed", names),
        "armed": _gauge("input_armed", "1: the alarm input is armed now", names),
        "acts": _gauge("input_acts", "1: a change now drives the linked outputs", names),
        "chattering": _gauge("input_chattering", "1: the input is chattering", names),
        "stuck": _gauge("input_stuck", "1: the input has not changed for too long", names),
    }
    for n, item in enumerate(status.get("inputs", []), 1):
        labels = [str(item.get("name", n)), str(n), str(item.get("kind", ""))]
        families["alarm"].add_metric(labels, _flag(item.get("alarm")))
        families["closed"].add_metric(labels, _flag(item.get("contact") == "closed"))
        if item.get("armed") is not None:
            families["armed"].add_metric(labels, _flag(item.get("armed")))
        families["acts"].add_metric(labels, _flag(item.get("acts")))
        families["chattering"].add_metric(labels, _flag(item.get("chattering")))
        families["stuck"].add_metric(labels, _flag(item.get("stuck")))
    yield from families.values()
    names = ["output", "number", "dvr_channel"]
    active = _gauge("output_active", "1: the output is active (the DVR sees an alarm)", names)
    energised = _gauge("output_relay_energised", "1: the relay's coil is energised", names)
    latched = _gauge("output_latched", "1: started by hand until stopped", names)
    for n, item in enumerate(status.get("outputs", []), 1):
        labels = [str(item.get("name", n)), str(n), str(item.get("dvr_channel") or "")]
        active.add_metric(labels, _flag(item.get("active")))
        energised.add_metric(labels, _flag(item.get("energised")))
        latched.add_metric(labels, _flag(item.get("latched")))
    yield from (active, energised, latched)
    faults = status.get("faults", [])
    count = _gauge("faults_active", "how many faults are active now")
    count.add_metric([], len(faults))
    each = _gauge("fault_active", "one series per active fault (always 1)", ["key", "code"])
    for fault in faults:
        each.add_metric([str(fault.get("key", "")), str(fault.get("code", ""))], 1)
    yield from (count, each)


def _scalars(status: dict[str, Any]) -> Iterator[Metric]:
    writer = status.get("eventlog") or {}
    pairs = [
        ("uptime_seconds", "seconds since the io process started", status.get("uptime_s", 0)),
        ("clock_synced", "1: the wall clock is synchronised (NTP)", status.get("clock_synced")),
        ("running", "1: the engine is running", status.get("running")),
        ("panel_armed", "1: the alarm panel says it is armed", status.get("panel_armed")),
        ("eventlog_pending", "events waiting to be written", writer.get("pending", 0)),
        ("eventlog_fault", "1: the event log writer has a fault", writer.get("fault")),
    ]
    for name, doc, value in pairs:
        gauge = _gauge(name, doc)
        gauge.add_metric([], float(value) if isinstance(value, int | float) else _flag(value))
        yield gauge
    dropped = CounterMetricFamily(
        f"{PREFIX}_eventlog_dropped", "events the writer could not keep (since the io start)"
    )
    dropped.add_metric([], float(writer.get("dropped", 0)))
    yield dropped


def delivery_families() -> Iterator[Metric]:
    """Delivery backlog and lag per destination, from the delivery process.

    NOT YET: the delivery process (issue 18) is not merged. When it is, yield here
    ``alarmbridge_delivery_backlog{destination}`` (events not yet acknowledged),
    ``alarmbridge_delivery_lag_seconds{destination}`` (age of the oldest of them),
    ``alarmbridge_delivery_last_seq{destination}`` and
    ``alarmbridge_delivery_connected{destination}``.
    """
    yield from ()


class Snapshot(Collector):
    """One scrape's worth of metrics, gathered before ``generate_latest`` runs."""

    def __init__(self, status: dict[str, Any] | None, counts: EventCounts | None) -> None:
        self.status = status
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        up = _gauge("io_up", "1: the io process answered this scrape")
        up.add_metric([], _flag(self.status is not None))
        yield up
        if self.status is not None:
            yield from _status_families(self.status)
        if self.counts is not None:
            total = CounterMetricFamily(
                f"{PREFIX}_events",
                "events by kind: those in the log at the first scrape, then every new one",
                labels=["kind"],
            )
            for kind, count in sorted(self.counts.by_kind.items()):
                total.add_metric([kind], count)
            yield total
            seq = _gauge("last_event_seq", "the newest committed event's seq")
            seq.add_metric([], self.counts.last_seq)
            yield seq
        yield from delivery_families()


async def _counts(request: Request, state: State) -> EventCounts | None:
    counts: EventCounts | None = getattr(request.app.state, "event_counts", None)
    if counts is None:
        counts = request.app.state.event_counts = EventCounts()
    if not state.settings.db_path.exists():
        return None
    try:
        await asyncio.to_thread(counts.refresh, state.db)
    except Exception as exc:  # the log may be being recovered: the rest still answers
        log.warning("/metrics: counting events failed: %s", exc)
        return None
    return counts


@router.get("/metrics")
async def metrics(request: Request, state: State, who: Viewer) -> Response:
    """Prometheus's text format; anonymous requests get 401 like every other route."""
    try:
        status: dict[str, Any] | None = await state.io(GetStatus())
    except ControlError:
        status = None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(status, await _counts(request, state)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
