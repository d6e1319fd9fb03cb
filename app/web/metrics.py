"""``/metrics``: the appliance's state in Prometheus's text format, for the viewer role.

Each scrape asks the io process for its status (what the dashboard shows) and reads
the event log only for the rows committed since the previous scrape: the events
per kind are counted once, at the first scrape, and then only the new rows (by
seq, which is never reused), so a scrape costs the same on a log of ten million
rows as on an empty one. The registry is the app's own (no global state), and
prometheus-client is imported by the web process only, never by the io process.

Delivery per destination (backlog, lag, cursor, lost events) comes from the network
process's status socket, asked once per scrape with a short timeout; when it does not
answer, ``alarmbridge_network_up`` is 0 and the delivery metrics are left out.

The writer's commit latency and events per commit are histograms the io process's
writer keeps (app.eventlog.commitstats: fixed buckets, since the io process started)
and its status carries; they are rendered as Prometheus histograms.

The list of metrics, with their meaning: docs/web.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from app.eventlog.commitstats import Histogram
from app.eventlog.schema import events
from app.events import Kind
from app.io.commands import GetStatus
from app.io.protocol import ControlError
from app.network.client import NetworkClient, NetworkError, NetworkStatus
from app.web.deps import State
from app.web.security import Viewer

log = logging.getLogger(__name__)

PREFIX = "alarmbridge"
_NETWORK_TIMEOUT_S = 2.0  # a scrape must not hang on a stuck network process

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
    yield from commit_families(writer.get("commits"))


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(bound)


def commit_families(commits: Any) -> Iterator[Metric]:
    """The writer's commits (since the io process started) as two histograms."""
    if not isinstance(commits, dict):
        return  # an io process without them (an older version)
    names = {
        "seconds": "how long each commit of the event log took (seconds, its fsync included)",
        "events": "how many events each commit of the event log carried",
    }
    for key, doc in names.items():
        try:
            histogram = Histogram.from_json(commits[key])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("/metrics: the io status's commit %s: %s", key, exc)
            continue
        family = HistogramMetricFamily(f"{PREFIX}_eventlog_commit_{key}", doc)
        buckets = [(_le(le), float(n)) for le, n in histogram.cumulative()]
        family.add_metric([], buckets, sum_value=histogram.total)
        yield family


def delivery_families(network: NetworkStatus | None, now_us: int) -> Iterator[Metric]:
    """Delivery per destination, from the network process's status (None: it did not answer)."""
    up = _gauge("network_up", "1: the network process answered this scrape")
    up.add_metric([], _flag(network is not None))
    yield up
    if network is None:
        return
    labels = ["destination"]
    families = {
        "connected": _gauge("delivery_connected", "1: the destination's peer is reachable", labels),
        "backlog": _gauge("delivery_backlog", "events not yet acknowledged by the peer", labels),
        "lag": _gauge(
            "delivery_lag_seconds", "age of the oldest event not yet acknowledged (0: none)", labels
        ),
        "cursor": _gauge("delivery_last_seq", "the last seq the peer acknowledged", labels),
        "lost": _gauge(
            "delivery_lost_events", "events removed by retention before they were sent", labels
        ),
    }
    for dest in network.destinations:
        oldest = dest.oldest_undelivered_utc_us
        lag = 0.0 if oldest is None or dest.backlog == 0 else max(0.0, (now_us - oldest) / 1e6)
        families["connected"].add_metric([dest.name], _flag(dest.connected))
        families["backlog"].add_metric([dest.name], float(dest.backlog))
        families["lag"].add_metric([dest.name], lag)
        families["cursor"].add_metric([dest.name], float(dest.cursor))
        families["lost"].add_metric([dest.name], float((dest.lost or {}).get("total", 0)))
    yield from families.values()


class Snapshot(Collector):
    """One scrape's worth of metrics, gathered before ``generate_latest`` runs."""

    def __init__(
        self,
        status: dict[str, Any] | None,
        counts: EventCounts | None,
        network: NetworkStatus | None = None,
    ) -> None:
        self.status = status
        self.counts = counts
        self.network = network
        self.now_us = time.time_ns() // 1000

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
        yield from delivery_families(self.network, self.now_us)


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
    try:
        client = NetworkClient(state.settings.network_socket_path, timeout=_NETWORK_TIMEOUT_S)
        network: NetworkStatus | None = await asyncio.to_thread(client.status)
    except NetworkError:
        network = None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(status, await _counts(request, state), network))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
