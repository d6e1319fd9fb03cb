"""Running the recorders' links: network actions and snapshots on each alarm (issue #20).

The same log stream and the same rules as the destinations (ADR 0010), with one
difference that keeps a slow recorder from delaying anything else: the runner does
not wait for an event's jobs before reading the next event. Each action has its
own queue and worker (its alarm and clear requests go in seq order, with the
retries of :func:`~app.network.actions.send.run_action`), each snapshot is a task
of its own, and the durable cursor ``recorders`` (in the outbox) moves up to the
last seq whose jobs, and all before it, are finished: a kill or power cut re-runs
at most the jobs in flight (at least once, in order per action).

A job's result goes back to the log through the io process (``annotate``): the
answer of an action, a snapshot's SHA-256 and size. A job whose event is older than
``max_age_s`` when its turn comes (after an outage) is annotated as skipped, never
sent late to a recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.events import Cause, Event, Kind
from app.io.commands import Annotate, GetConfig
from app.io.protocol import Client, ControlError, IoUnavailableError, OutcomeUnknownError
from app.network.actions.linkage import RecordersConfig, load_recorders
from app.network.actions.model import FrigateEvent, Phase
from app.network.actions.playback import recording_link
from app.network.actions.send import ActionResult, run_action
from app.network.delivery import FaultReporter, backoff_delays, describe
from app.network.evidence.jpeg import inspect_jpeg
from app.network.evidence.sources import CameraSource, SnapshotError, grab
from app.network.evidence.store import EvidenceStore
from app.network.outbox import Outbox
from app.network.source import EventSource
from app.settings import Settings

log = logging.getLogger(__name__)

NAME = "recorders"  # the cursor's name in the outbox
BATCH = 100
MAX_PENDING = 500  # events with unfinished jobs before reading stops for a while
FAILING_AFTER = 3  # an action failing this many times in a row raises a fault
FAULT = "recorders-failing"
PER_CAMERA = 2  # grabs at once from one camera
PRUNE_S = 3600.0  # how often the evidence's retention is applied without a new image

#: send one annotation to the io process; True: logged, False: dropped by its rate limit
Annotator = Callable[[Annotate], Awaitable[bool]]


@dataclass
class _Pending:
    jobs: int


@dataclass
class RunnerState:
    read_seq: int = 0
    cursor: int = 0
    failing: dict[str, str] = field(default_factory=dict)  # action -> last failure
    done: int = 0
    skipped: int = 0


def evidence_dir(settings: Settings) -> Path:
    """Where snapshots are kept: beside the network process's files (group-readable:
    the web process serves them)."""
    return settings.network_state_dir / "evidence"


def phase_of(event: Event) -> Phase | None:
    """Which phase an event sets going: an input's alarm or its return to normal
    (not a configuration change re-logging states, not a bypassed or unarmed alarm)."""
    if event.kind != Kind.INPUT or event.cause == Cause.CONFIG or not event.channel:
        return None
    if event.state == "alarm":
        return "alarm"
    if event.state == "normal":
        return "clear"
    return None


class RecordersRunner:
    """Runs the links of :class:`RecordersConfig` for every new event (see the module)."""

    def __init__(
        self,
        config: RecordersConfig,
        outbox: Outbox,
        source: EventSource,
        annotate: Annotator,
        report_fault: FaultReporter,
        *,
        device_id: str,
        store: EvidenceStore | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.source = source
        self.annotate = annotate
        self.report_fault = report_fault
        self.device_id = device_id
        self.store = store
        self.wall = wall
        self.state = RunnerState()
        self._pending: dict[int, _Pending] = {}
        self._progress = asyncio.Event()
        self._queues: dict[str, asyncio.Queue[tuple[Event, Phase]]] = {}
        self._cameras = {name: asyncio.Semaphore(PER_CAMERA) for name in self._camera_names()}
        # what a runner made for new settings takes over (app/network/recreload.py):
        self.refs: dict[tuple[str, str], str] = {}  # (action, channel) -> the alarm's id
        self.active: dict[str, set[str]] = {}  # action -> the linked inputs in alarm
        self.fault_on = False  # recorders-failing is raised
        self._fails: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _camera_names(self) -> list[str]:
        return [c.camera for c in self.config.cameras]

    # -- reading the log ------------------------------------------------------------

    async def run(self) -> None:
        # A cursor is made once where to start is known (the log's end, read with the
        # destinations: app.network.source.start_point); a failed read never starts at 0.
        found = self.outbox.find(NAME)
        if found is None:
            found = self.outbox.cursor(NAME, start_at=await self.source.start_point())
        seq = found.seq
        self.state.read_seq = self.state.cursor = seq
        workers = [
            asyncio.create_task(self._worker(a.name), name=f"action-{a.name}")
            for a in self.config.actions
        ]
        if self.store is not None:
            workers.append(asyncio.create_task(self._prune(self.store), name="evidence-prune"))
        delays = backoff_delays(0.5, 5.0)
        try:
            while True:
                while len(self._pending) >= MAX_PENDING:
                    self._progress.clear()
                    await self._progress.wait()
                try:
                    batch = await self.source.after(self.state.read_seq, BATCH)
                except Exception as exc:  # the log cannot be read now
                    log.warning("%s: reading the event log: %s", NAME, describe(exc))
                    await asyncio.sleep(next(delays))
                    continue
                delays = backoff_delays(0.5, 5.0)
                if not batch:
                    await self.source.wait_beyond(self.state.read_seq, 5.0)
                    continue
                if batch[0].seq > self.state.read_seq + 1:
                    await self._check_lost(batch[0].seq)
                for event in batch:
                    self._dispatch(event)
                    self.state.read_seq = event.seq
                self._advance()
        finally:
            for task in [*workers, *self._tasks]:
                task.cancel()
            await asyncio.gather(*workers, *self._tasks, return_exceptions=True)

    async def open_cursor(self) -> None:
        """Make the cursor now if the log can be read (a new one starts at the log's end),
        so an alarm from the moment the process answers is not missed; else run() makes it."""
        with contextlib.suppress(Exception):
            self.outbox.cursor(NAME, start_at=await self.source.newest_seq())

    async def _prune(self, store: EvidenceStore) -> None:
        """Retention applies without new snapshots too: once at start, then hourly."""
        while True:
            try:
                removed = await asyncio.to_thread(store.prune)
                if removed:
                    log.info("%s: %d snapshots past retention removed", NAME, removed)
            except OSError as exc:
                log.warning("%s: pruning the evidence: %s", NAME, exc)
            await asyncio.sleep(PRUNE_S)

    async def _check_lost(self, first_seq: int) -> None:
        with contextlib.suppress(Exception):
            oldest = await self.source.oldest_seq()
            if oldest is not None and oldest > self.state.read_seq + 1:
                first, last = self.state.read_seq + 1, min(oldest, first_seq) - 1
                self.outbox.lost(NAME, first, last)
                log.error("%s: events %d to %d were removed before their turn", NAME, first, last)

    def _dispatch(self, event: Event) -> None:
        phase = phase_of(event)
        link = None if phase is None else self.config.links.get(event.channel or "")
        if phase is None or link is None:
            return
        names = link.on_alarm if phase == "alarm" else link.on_clear
        cameras = link.cameras if phase == "alarm" else []
        jobs = len(names) + len(cameras) * len(link.offsets_s)
        if not jobs:
            return
        self._pending[event.seq] = _Pending(jobs)
        for name in names:
            self._queues.setdefault(name, asyncio.Queue()).put_nowait((event, phase))
        for camera in cameras:
            for offset in link.offsets_s:
                self._spawn(self._snapshot(camera, event, offset))

    def _spawn(self, job: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finished(self, seq: int) -> None:
        pending = self._pending.get(seq)
        if pending is None:
            return
        pending.jobs -= 1
        if pending.jobs <= 0:
            del self._pending[seq]
            self.state.done += 1
            self._advance()
            self._progress.set()

    def _advance(self) -> None:
        """The cursor to just below the oldest event with unfinished jobs."""
        watermark = min(self._pending, default=self.state.read_seq + 1) - 1
        if watermark > self.state.cursor:
            self.outbox.advance(NAME, watermark, delivered_seq=watermark)
            self.state.cursor = watermark

    def _too_old(self, event: Event) -> float | None:
        age = self.wall() - event.utc_us / 1e6
        return age if age > self.config.max_age_s else None

    # -- the jobs -------------------------------------------------------------------

    async def _worker(self, name: str) -> None:
        queue = self._queues.setdefault(name, asyncio.Queue())
        action = self.config.action(name)
        while True:
            event, phase = await queue.get()
            try:
                await self._run_action(action, event, phase)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: logged, and the event's job counted as done
                log.exception("%s: action %s for event %d", NAME, name, event.seq)
            self._finished(event.seq)

    async def _run_action(self, action: Any, event: Event, phase: Phase) -> None:
        base: dict[str, Any] = {
            "event": event.seq,
            "name": action.name,
            "channel": event.channel,
            "phase": phase,
        }
        if (age := self._too_old(event)) is not None:
            self.state.skipped += 1
            summary = f"not sent: the event was {age:.0f} s old when its turn came"
            await self._say(Annotate(what="recorders-skipped", ok=False, summary=summary, **base))
            return
        key = (action.name, event.channel or "")
        if (held := self._hold(action, key, phase)) is not None:
            await self._say(Annotate(what="network-action", ok=True, summary=held, **base))
            return
        ref = self.refs.get(key) if phase == "clear" else None
        result: ActionResult = await run_action(
            action, phase, event, f"{self.device_id}-{event.seq}", ref=ref
        )
        if phase == "alarm" and result.ref:
            self.refs[key] = result.ref
        await self._health(action.name, result)
        if not result.sent:
            return  # this phase sends nothing: nothing to log
        link = recording_link(action, result.ref, event) if phase == "alarm" and result.ok else None
        await self._say(
            Annotate(
                what="network-action",
                ok=result.ok,
                summary=f"{result.kind}: {result.summary}"[:300],
                attempts=result.attempts,
                elapsed_ms=round(result.elapsed_ms),
                ref=result.ref[:120] if result.ref else None,
                link=link,
                **base,
            )
        )

    def _hold(self, action: Any, key: tuple[str, str], phase: Phase) -> str | None:
        """Why this clear is held back, if another input linked to the same action is still
        in alarm (its recording or output is shared); None: send it. Frigate events are one
        per alarm, each ended by its own clear. In memory: after a restart a clear is sent."""
        name, channel = key
        active = self.active.setdefault(name, set())
        if phase == "alarm":
            active.add(channel)
            return None
        active.discard(channel)
        if not active or isinstance(action, FrigateEvent):
            return None
        return f"clear held: {', '.join(sorted(active))} still in alarm"

    async def _snapshot(self, camera: str, event: Event, offset: float) -> None:
        try:
            await self._grab(self.config.camera(camera), event, offset)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: snapshot %s for event %d", NAME, camera, event.seq)
        self._finished(event.seq)

    async def _grab(self, source: CameraSource, event: Event, offset: float) -> None:
        base: dict[str, Any] = {"event": event.seq, "name": source.camera, "channel": event.channel}
        if (age := self._too_old(event)) is not None:
            summary = f"no snapshot: the event was {age:.0f} s old when its turn came"
            await self._say(Annotate(what="recorders-skipped", ok=False, summary=summary, **base))
            return
        wait = event.utc_us / 1e6 + offset - self.wall()
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._cameras[source.camera]:
            try:
                shot = await grab(source)
                assert self.store is not None  # made whenever cameras are configured
                stored = await asyncio.to_thread(self.store.put, shot.data)
            except (SnapshotError, ValueError, OSError) as exc:
                failed = Annotate(
                    what="snapshot", ok=False, summary=describe(exc), offset_s=offset, **base
                )
                await self._say(failed)
                return
        await self._say(
            Annotate(
                what="snapshot",
                ok=True,
                summary=f"{stored.width}x{stored.height}, {stored.size} bytes",
                elapsed_ms=round(shot.elapsed_ms),
                sha256=stored.sha256,
                size=stored.size,
                width=stored.width,
                height=stored.height,
                offset_s=offset,
                taken_utc_us=shot.taken_utc_us,
                **base,
            )
        )

    async def _say(self, annotation: Annotate) -> None:
        """Annotate, retrying while the io process is away (the job is not done before)."""
        for delay in backoff_delays(0.5, 5.0):
            try:
                await self.annotate(annotation)
                return
            except (IoUnavailableError, OutcomeUnknownError) as exc:
                log.warning("%s: cannot annotate event %d yet: %s", NAME, annotation.event, exc)
                await asyncio.sleep(delay)
            except ControlError as exc:  # refused: a bug on one side; nothing to retry
                log.error("%s: io refused an annotation: %s", NAME, exc)
                return

    async def _health(self, name: str, result: ActionResult) -> None:
        """A fault while any action has failed FAILING_AFTER times in a row."""
        if result.ok:
            self._fails.pop(name, None)
            self.state.failing.pop(name, None)
        else:
            self._fails[name] = self._fails.get(name, 0) + 1
            if self._fails[name] >= FAILING_AFTER:
                self.state.failing[name] = result.summary
        active = bool(self.state.failing)
        if active or self.fault_on:
            message = "; ".join(f"{n}: {why}" for n, why in self.state.failing.items())
            with contextlib.suppress(Exception):
                await self.report_fault(FAULT, active, message or "the recorders answer again")
            self.fault_on = active

    async def test(self, name: str) -> dict[str, Any]:
        """The installer's test: an action's alarm then clear request, or one grab from a
        camera (not stored). Nothing is logged; the answer says what the peer did."""
        if any(a.name == name for a in self.config.actions):
            action = self.config.action(name)
            linked = [i for i, link in self.config.links.items() if name in link.on_alarm]
            now_us = int(self.wall() * 1e6)
            event = Event(
                kind=Kind.OPERATOR,
                state="test",
                cause=Cause.USER,
                utc_us=now_us,
                mono_ns=time.monotonic_ns(),
                boot_id="test",
                clock_synced=True,
                channel=(linked or ["test"])[0],
                source="recorders-test",
            )
            key = f"{self.device_id}-test-{now_us}"
            alarm = await run_action(action, "alarm", event, key)
            clear = await run_action(action, "clear", event, key, ref=alarm.ref)
            return {"name": name, "alarm": alarm.to_detail(), "clear": clear.to_detail()}
        if any(c.camera == name for c in self.config.cameras):
            try:
                shot = await grab(self.config.camera(name))
            except SnapshotError as exc:
                raise ValueError(str(exc)) from None
            info = inspect_jpeg(shot.data)
            return {
                "name": name,
                "snapshot": f"{info.width}x{info.height}, {len(shot.data)} bytes",
                "elapsed_ms": round(shot.elapsed_ms),
            }
        actions = ", ".join(a.name for a in self.config.actions) or "none"
        cameras = ", ".join(c.camera for c in self.config.cameras) or "none"
        raise ValueError(f"no action or camera {name!r} (actions: {actions}; cameras: {cameras})")

    def status(self) -> dict[str, Any]:
        return {
            "name": NAME,
            "read_seq": self.state.read_seq,
            "cursor": self.state.cursor,
            "pending_events": len(self._pending),
            "events_done": self.state.done,
            "skipped": self.state.skipped,
            "failing": dict(self.state.failing),
        }


async def input_names(io: Client) -> list[str] | None:
    """The io process's input names (real and virtual) a link may use; None when it
    does not answer now (the names are then checked at the next start)."""
    try:
        config_doc = await asyncio.to_thread(io.send, GetConfig())
    except ControlError as exc:
        log.warning("recorders: cannot check the links' input names now: %s", exc)
        return None
    inputs = [i["name"] for i in config_doc.get("inputs", [])]
    return inputs + [v["name"] for v in config_doc.get("virtual_inputs", [])]


async def make_runner(
    config: RecordersConfig,
    settings: Settings,
    outbox: Outbox,
    source: EventSource,
    io: Client,
    report_fault: FaultReporter,
    device_id: str,
) -> RecordersRunner:
    """A runner for ``config`` (from the file or the stored settings), its cursor open."""
    store = None
    if config.cameras:
        root = evidence_dir(settings)
        store = EvidenceStore(
            root,
            quota_bytes=config.evidence.quota_mb * 1_000_000,
            retain_days=config.evidence.retain_days,
        )
        root.chmod(0o750)  # the web process (in this process's group) serves the images

    async def annotate(annotation: Annotate) -> bool:
        changed = await asyncio.to_thread(io.send, annotation)
        return changed.changed

    runner = RecordersRunner(
        config, outbox, source, annotate, report_fault, device_id=device_id, store=store
    )
    await runner.open_cursor()
    return runner


async def recorders_runner(
    settings: Settings,
    outbox: Outbox,
    source: EventSource,
    io: Client,
    report_fault: FaultReporter,
    device_id: str,
) -> RecordersRunner | None:
    """The runner ``ALARMBRIDGE_RECORDERS_FILE`` configures (None without it). A wrong
    file raises RecordersConfigError: it stops the network process only."""
    if settings.recorders_file is None:
        return None
    config = load_recorders(settings.recorders_file, await input_names(io))
    return await make_runner(config, settings, outbox, source, io, report_fault, device_id)
