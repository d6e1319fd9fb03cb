"""The web process dies (``kill -9``) under ``alarmbridge run``: inputs keep driving
relays through the io process, the supervisor starts the web process again, and
the UI shows what happened meanwhile: the dashboard's newest events, the API's
log, and a live stream that a browser resumes with ``Last-Event-ID`` (what its
EventSource sends when it reconnects). tests/browser/test_ui.py watches a real
page do the same; this one measures it, without a browser."""

from __future__ import annotations

import functools
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from app.io.protocol import Client
from tests.browser.conftest import Appliance
from tests.faults.harness import energised, summary, variants
from tests.support import wait_for


def answers(appliance: Appliance, path: str) -> str | None:
    """The page's text, or None while nothing answers there."""
    try:
        request = urllib.request.Request(appliance.url + path, headers=appliance.auth)
        with urllib.request.urlopen(request, timeout=2) as reply:
            return str(reply.read().decode())
    except (OSError, urllib.error.URLError):
        return None


def replayed(appliance: Appliance, after: int, wanted: set[int]) -> set[int]:
    """The event ids the live stream sends first to a browser that last saw ``after``."""
    request = urllib.request.Request(
        appliance.url + "/api/v1/events/stream",
        headers={"Last-Event-ID": str(after), **appliance.auth},
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 5
    with urllib.request.urlopen(request, timeout=5) as stream:
        for line in stream:  # a status every 2 s keeps it coming
            if line.startswith(b"id:"):
                seen.add(int(line[3:]))
            if wanted <= seen or time.monotonic() > deadline:
                break
    return seen


@variants("kills", (1,), (10,))
def test_inputs_drive_relays_while_the_web_process_is_dead_and_the_ui_catches_up(
    tmp_path: Path, kills: int, figures: dict[str, Any]
) -> None:
    appliance = Appliance(tmp_path / "data")
    io = Client(appliance.data_dir / "io.sock")
    down: list[float] = []
    relay: list[float] = []
    try:
        for k in range(kills):
            n = k % 4 + 1
            closed = k // 4 % 2 == 0  # close each input in turn, then open them again
            last = appliance.api("GET", "/api/v1/events?limit=1")["events"][0]["seq"]
            web = appliance.pid("web")
            os.kill(web, signal.SIGKILL)
            killed = time.monotonic()
            io.request("sim", action="close" if closed else "open", input=n)
            wait_for(lambda: energised(io, n) is closed)  # noqa: B023
            relay.append(time.monotonic() - killed)
            # The supervisor starts it again; the dashboard answers.
            page = wait_for(functools.partial(answers, appliance, "/"), timeout=30)
            down.append(time.monotonic() - killed)
            assert appliance.pid("web") != web
            newest = appliance.api("GET", "/api/v1/events?limit=20")["events"]
            missed = {e["seq"]: e for e in newest if e["seq"] > last}
            states = {(e["channel"], e["state"]) for e in missed.values()}
            assert (f"IN{n}", "alarm" if closed else "normal") in states
            assert (f"OUT{n}", "active" if closed else "idle") in states
            for seq in missed:  # on the dashboard, and replayed to a returning browser
                assert f'data-seq="{seq}"' in page
            assert set(missed) <= replayed(appliance, last, set(missed))
    finally:
        appliance.stop()
    figures.update(
        kills=kills,
        kill_to_relay_switched_meanwhile_s=summary(relay),
        kill_to_dashboard_back_s=summary(down),
        each_kill_to_dashboard_back_s=[round(s, 2) for s in down],  # the supervisor backs off
    )
