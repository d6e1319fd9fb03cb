"""The running recorders runner, and changing it without restarting the process
(issue #20, beside app.network.reload's destinations).

The recorders come from ``ALARMBRIDGE_RECORDERS_FILE`` when it is set (read-only
from the UI and the API, as for SIA), else from the stored settings' ``recorders``
section. When that section changes, the running runner is stopped and a new one is
started with the new document, on the same durable cursor ``recorders``:

* stopping cancels its reading, its action workers and its snapshot tasks. The
  cursor only ever moves past an event whose jobs have all finished, so the jobs
  that were in flight run again in the new runner: at least once, in order per
  action (an annotation written just as the runner stopped may appear twice).
* the alarm ids kept for a clear (a Frigate event's id) and the inputs in alarm per
  action (a shared recording's clear held) go over to the new runner for the
  actions it still has, so a clear after a change is sent as before.
* a fault it raised (``recorders-failing``) is cleared; the new runner raises it
  again if the recorder still fails.
* a section emptied (nothing configured) drops the cursor, as a removed webhook
  does: recorders configured later start at the log's end, not with a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from app.io.protocol import Client
from app.network.actions.linkage import RecordersConfig, load_recorders
from app.network.actions.runner import (
    FAULT,
    NAME,
    RecordersRunner,
    input_names,
    make_runner,
)
from app.network.delivery import FaultReporter
from app.network.netrecorders import VARIABLE, configures_anything, input_problems
from app.network.netsettings import NetSettings, masked
from app.network.outbox import Outbox
from app.network.source import EventSource
from app.settings import Settings

log = logging.getLogger(__name__)

#: start a task whose failure (a bug) ends the process (app.network.reload.Fleet._task)
TaskStarter = Callable[[Any, str], "asyncio.Task[Any]"]


class Recorders:
    """The one recorders runner of the network process (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        source: EventSource,
        io: Client,
        report_fault: FaultReporter,
        device_id: str,
        start_task: TaskStarter,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.source = source
        self.io = io
        self.report_fault = report_fault
        self.device_id = device_id
        self.start_task = start_task
        self.runner: RecordersRunner | None = None
        self.problems: list[dict[str, str]] = []  # what the stored section cannot do
        self._task: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def from_environment(self) -> bool:
        return self.settings.recorders_file is not None

    async def start(self, stored: RecordersConfig) -> None:
        """Start the file's recorders (a wrong file raises RecordersConfigError: it stops
        this process only), else the stored section's. A stored link whose input is gone
        is shown as a problem; the rest runs."""
        if self.settings.recorders_file is not None:
            inputs = await input_names(self.io)
            await self._start(load_recorders(self.settings.recorders_file, inputs))
            return
        if configures_anything(stored):
            inputs = await input_names(self.io)
            self.problems = [] if inputs is None else input_problems(stored, inputs)
            try:
                await self._start(stored)
            except (OSError, ValueError) as exc:  # e.g. the evidence directory
                self.problems.append({"field": "recorders", "message": f"cannot start: {exc}"})
            for problem in self.problems:
                log.error("stored recorders settings: %s: %s", problem["field"], problem["message"])

    async def check(self, config: RecordersConfig) -> list[dict[str, str]]:
        """The problems of a stored section sent in (its links' input names)."""
        if not configures_anything(config):
            return []
        inputs = await input_names(self.io)
        return [] if inputs is None else input_problems(config, inputs)

    async def replace(self, config: RecordersConfig) -> None:
        """Stop the running runner and start one for ``config`` (see the module)."""
        async with self._lock:
            old = self.runner
            await self.stop("the recorders' settings changed")
            self.problems = []
            if not configures_anything(config):
                self.outbox.forget(NAME)
                log.info("recorders: none configured now")
                return
            try:
                await self._start(config)
            except (OSError, ValueError) as exc:  # e.g. the evidence directory
                self.problems = [{"field": "recorders", "message": f"cannot start: {exc}"}]
                log.error("recorders: cannot start: %s", exc)
                return
            if old is not None and self.runner is not None:
                _carry(old, self.runner)
            log.info("recorders: restarted with the new settings")

    async def _start(self, config: RecordersConfig) -> None:
        runner = await make_runner(
            config,
            self.settings,
            self.outbox,
            self.source,
            self.io,
            self.report_fault,
            self.device_id,
        )
        self.runner = runner
        self._task = self.start_task(runner.run(), "recorders")

    async def stop(self, why: str, *, clear_fault: bool = True) -> None:
        """Stop the runner; its fault is cleared unless the process is stopping (a
        recorder still failing stays shown until the next start says otherwise)."""
        runner, task = self.runner, self._task
        self.runner = self._task = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if clear_fault and runner is not None and runner.fault_on:
            with contextlib.suppress(Exception):
                await self.report_fault(FAULT, False, f"recorders: {why}")

    def shown(self, stored: NetSettings) -> dict[str, Any]:
        """The settings answer's ``recorders`` part: where they come from, the file's
        document (masked) when the environment sets them, the runner's status."""
        document = None
        if self.runner is not None and self.from_environment:
            document = masked(NetSettings(recorders=self.runner.config))["recorders"]
        return {
            "origin": "environment"
            if self.from_environment
            else ("stored" if configures_anything(stored.recorders) else None),
            "variable": VARIABLE if self.from_environment else None,
            "document": document,
            "status": None if self.runner is None else self.runner.status(),
        }


def _carry(old: RecordersRunner, new: RecordersRunner) -> None:
    """What the old runner remembers for its clears, for the actions still there."""
    names = {a.name for a in new.config.actions}
    new.refs.update({k: v for k, v in old.refs.items() if k[0] in names})
    new.active.update({k: set(v) for k, v in old.active.items() if k in names})
