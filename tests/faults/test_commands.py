"""What a client is told is what happened (issue #15, items 6 and 7).

- A command carries its deadline. With the io process paused (SIGSTOP) past it,
  the client is told the outcome is unknown (the web API: 504), and when the io
  process resumes it does *not* act: no relay moves, and the log says which
  command came too late (``command-expired``).
- ``start`` on a full disk is done, said to be done, and its latch is kept once
  the disk has room (it is written with the events, by the writer).
- Many clients at once all reach the io process (its listen backlog was 5).
"""

from __future__ import annotations

import functools
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.protocol import Client, NotDoneError, OutcomeUnknownError
from app.settings import Settings
from app.web.app import create_app
from tests.faults.harness import (
    RELAY_PINS,
    energised,
    now_ns,
    recording_io,
    rows,
    running,
    set_config,
    toggle,
    variants,
    written,
)
from tests.faults.pins import read_record
from tests.faults.test_disk_full import eventlog_fault
from tests.support import wait_for

_RNG = random.Random(15)
PAUSES = tuple(round(_RNG.uniform(0, 1.6), 3) for _ in range(30))  # seconds


def relay_sets(record: Path, since_ns: int) -> list[Any]:
    return [
        x
        for x in read_record(record)
        if x.what == "set" and x.bcm in RELAY_PINS and x.t_ns >= since_ns
    ]


def test_a_command_answered_too_late_is_never_done(tmp_path: Path, figures: dict[str, Any]) -> None:
    record = tmp_path / "pins.record"
    io = recording_io(tmp_path / "data", record)
    db = io.data_dir / "alarmbridge.db"
    with running(io):
        assert io.proc is not None
        wait_for(functools.partial(written, io))
        client = Client(io.client.path, timeout=1.0)
        outcomes: dict[str, str] = {}

        def ask(name: str, cmd: str, **args: Any) -> None:
            try:
                client.request(cmd, user="ann", **args)
                outcomes[name] = "done"
            except OutcomeUnknownError:
                outcomes[name] = "unknown"

        paused = now_ns()
        io.proc.send_signal(signal.SIGSTOP)
        askers = [
            threading.Thread(target=ask, args=("trigger", "trigger")),
            threading.Thread(target=ask, args=("start", "start"), kwargs={"output": 3}),
            threading.Thread(
                target=ask, args=("sim", "sim"), kwargs={"action": "close", "input": 1}
            ),
        ]
        for t in askers:
            t.start()
        for t in askers:
            t.join(10)
        time.sleep(0.5)  # well past every deadline
        io.proc.send_signal(signal.SIGCONT)
        resumed = now_ns()
        expired = wait_for(
            lambda: (
                len(rows(db, "state = 'command-expired'")) == 3
                and rows(db, "state = 'command-expired'")
            )
        )
        status = io.client.request("status")
        acted = rows(db, "kind = 'operator' AND mono_ns >= ?", paused)
        figures.update(paused_s=(resumed - paused) / 1e9, outcomes=outcomes)
    assert outcomes == {"trigger": "unknown", "start": "unknown", "sim": "unknown"}
    assert sorted(r["detail"]["command"] for r in expired) == ["sim", "start", "trigger"]
    assert all(r["detail"]["late_ms"] > 0 for r in expired)
    assert {r["source"] for r in expired} == {"ann"}
    assert not acted  # no manual-trigger, no manual-start
    assert not any(o["active"] for o in status["outputs"])
    assert status["inputs"][0]["contact"] == "open"
    assert relay_sets(record, paused) == []  # no relay moved


@variants("pauses", ((0.2, 0.75, 1.5),), (PAUSES,))
def test_what_a_client_is_told_is_what_happened(
    tmp_path: Path, pauses: tuple[float, ...], figures: dict[str, Any]
) -> None:
    """The io process is paused for a while around a trigger sent with a 1 s timeout
    (deadline 0.5 s): "done" must mean it ran, "not done" that it did not, and
    "unknown" is allowed only when no answer came in time (then it did not run)."""
    io = recording_io(tmp_path / "data", tmp_path / "pins.record")
    db = io.data_dir / "alarmbridge.db"
    told: dict[str, int] = {}
    with running(io):
        assert io.proc is not None
        wait_for(functools.partial(written, io))
        client = Client(io.client.path, timeout=1.0)
        for n, pause in enumerate(pauses):
            user = f"op{n}"
            answer: list[str] = []

            def ask(user: str = user, answer: list[str] = answer) -> None:
                try:
                    client.request("trigger", user=user)
                    answer.append("done")
                except NotDoneError:
                    answer.append("not done")
                except OutcomeUnknownError:
                    answer.append("unknown")

            io.proc.send_signal(signal.SIGSTOP)
            asker = threading.Thread(target=ask)
            asker.start()
            time.sleep(pause)
            io.proc.send_signal(signal.SIGCONT)
            asker.join(10)

            def outcome(user: str = user) -> tuple[bool, bool] | None:
                # A command the client gave up on may still be on its way to the engine.
                ran = bool(rows(db, "state = 'manual-trigger' AND source = ?", user))
                expired = bool(rows(db, "state = 'command-expired' AND source = ?", user))
                return (ran, expired) if ran or expired else None

            ran, expired = wait_for(outcome)
            [what] = answer
            told[what] = told.get(what, 0) + 1
            assert ran != expired, (pause, what)  # one or the other, always
            assert ran == (what == "done"), (pause, what, ran)
            io.client.request("stop", output=1, user="reset")  # end the trigger's pulses
    figures.update(pauses=len(pauses), told=told)


def test_the_web_api_says_outcome_unknown_and_the_trigger_never_runs(
    tmp_path: Path,
) -> None:
    record = tmp_path / "pins.record"
    io = recording_io(tmp_path / "data", record)
    settings = Settings(
        data_dir=io.data_dir, pins="mock", io_timeout_s=1.0, allowed_hosts=["testserver"]
    )
    with running(io):
        assert io.proc is not None
        store = AuthStore(settings.auth_db_path)
        try:
            store.create_first_admin("admin", hash_password("a long admin passphrase"))
            token, _ = store.new_token("tests", Role.OPERATOR, "admin")
        finally:
            store.close()
        with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as web:
            paused = now_ns()
            io.proc.send_signal(signal.SIGSTOP)
            try:
                answer = web.post("/api/v1/trigger")
            finally:
                time.sleep(0.3)
                io.proc.send_signal(signal.SIGCONT)
            assert answer.status_code == 504, answer.text
            assert answer.json()["error"].startswith("outcome unknown")
            wait_for(lambda: rows(io.data_dir / "alarmbridge.db", "state = 'command-expired'"))
            assert not any(o["active"] for o in io.client.request("status")["outputs"])
    assert relay_sets(record, paused) == []


def test_start_on_a_full_disk_is_done_and_its_latch_is_kept(tmp_path: Path) -> None:
    io = recording_io(tmp_path / "data", tmp_path / "pins.record")
    with running(io):
        assert io.proc is not None
        set_config(io, instant=(1,))
        wait_for(functools.partial(written, io))
        io.proc.send_signal(signal.SIGUSR1)  # the database cannot grow: a full disk
        toggle(io, (1,), 200, hz=1000)  # events to write
        wait_for(lambda: eventlog_fault(io) == "disk-full")
        io.client.request("start", output=3, user="ann")  # done, and said so
        assert energised(io.client, 3)
        io.proc.send_signal(signal.SIGUSR2)  # room again
        wait_for(lambda: eventlog_fault(io) is None and written(io), timeout=10)
    with running(io):
        outputs = io.client.request("status")["outputs"]
        assert outputs[2]["latched"] and outputs[2]["active"]
        assert outputs[2]["cause"] == "restart"


@pytest.mark.parametrize("clients", [50])
def test_many_clients_at_once_all_reach_the_io_process(tmp_path: Path, clients: int) -> None:
    io = recording_io(tmp_path / "data", tmp_path / "pins.record")
    with running(io):
        barrier = threading.Barrier(clients)
        failures: list[str] = []

        def one() -> None:
            barrier.wait()
            try:
                Client(io.client.path, timeout=10).request("status")
            except Exception as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=one) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert failures == []
