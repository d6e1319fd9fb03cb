"""The optional Apprise destination, through Apprise's own ``mailtos://`` e-mail
plugin to the same real SMTP server (STARTTLS and AUTH) the e-mail tests use.

Apprise cannot be given a private CA in its URL, so these tests turn its
certificate check off (``verify=no``); the e-mail destination's own tests check
certificates. Apprise is in the dev extra; without it these tests are skipped.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from app.events import Cause
from app.network.apprise_dest import AppriseConfigError, AppriseDestination, apprise_destination
from app.network.destination import DeliveryError
from app.settings import Settings
from tests.network.events import DEVICE, alarm, output_on
from tests.network.smtp_peer import PASSWORD, USER, Server, free_port

pytest.importorskip("apprise", reason="the apprise extra is not installed")

TO = "installer@example.com"


def mailto(port: int) -> str:
    who = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}"
    return (
        f"mailtos://{who}@127.0.0.1:{port}?mode=starttls&verify=no&from=bridge@example.com&to={TO}"
    )


def run(work: Coroutine[Any, Any, None]) -> None:
    asyncio.run(work)


def make(port: int, **options: float) -> AppriseDestination:
    return AppriseDestination(
        mailto(port),
        ZoneInfo("Europe/Brussels"),
        host="site-7",
        **options,  # type: ignore[arg-type]
    )


def test_an_alarm_through_apprise(smtp_server: Server) -> None:
    dest = make(smtp_server.port)
    # one notification per test: Apprise's e-mail plugin waits ~5 s between two
    batch = [alarm(41), output_on(42, "Cam 3 relay", "3", "Front door", Cause.INPUT)]
    run(dest.deliver([d for d in batch if dest.wants(d.event)]))
    [first] = smtp_server.keeper.wait(1)
    assert first.tls and first.login == USER and first.recipients == [TO]
    assert first.message["Subject"] == "[AlarmBridge site-7] ALARM: Front door"
    assert "output Cam 3 relay switched on: DVR channel 3 (seq 42)" in first.body
    assert f"seq 41, idempotency key {DEVICE}-41" in first.body
    assert "2026-12-07 01:00:41 (Europe/Brussels)" in first.body


def test_a_storm_through_apprise_is_one_notification(smtp_server: Server) -> None:
    dest = make(smtp_server.port, per_minute=2)
    run(dest.deliver([alarm(100 + i, f"Zone {i}") for i in range(12)]))
    [summary] = smtp_server.keeper.wait(1)
    assert summary.message["Subject"] == "[AlarmBridge site-7] 12 events, seq 100-111"
    for i in range(12):
        assert f"seq {100 + i}, idempotency key {DEVICE}-{100 + i}" in summary.body


def test_a_server_that_is_down_is_a_delivery_error() -> None:
    dest = make(free_port())
    with pytest.raises(DeliveryError, match="Apprise could not notify"):
        run(dest.send_test())


def test_settings_and_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert apprise_destination(Settings(data_dir=tmp_path)) is None
    with pytest.raises(AppriseConfigError, match="Apprise cannot use this URL"):
        apprise_destination(Settings(data_dir=tmp_path, apprise_url=SecretStr("nosuchservice://x")))
    # Without the package (the extra not installed): a sentence, not an ImportError
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(AppriseConfigError, match=r"pip install 'alarmbridge\[apprise\]'"):
        apprise_destination(Settings(data_dir=tmp_path, apprise_url=SecretStr(mailto(25))))
