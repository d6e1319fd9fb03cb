"""The e-mail destination against a real SMTP server (aiosmtpd, tests/network/conftest.py):
the mails it received, their headers and text, TLS and login, the storm summary,
retries after the server was down, refused recipients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.events import Cause, Kind
from app.network.destination import Delivery, DeliveryError
from app.network.mail import MailConfigError, MailDestination, mail_destination
from app.network.smtp_url import parse_smtp_url
from app.settings import Settings
from tests.network.events import DEVICE, alarm, event, fault, output_on, trigger
from tests.network.smtp_peer import REFUSED_DOMAIN, USER, Server, free_port, start_server

BRUSSELS = ZoneInfo("Europe/Brussels")
TO = "installer@example.com"


def destination(url: str, *, to: Sequence[str] = (TO,), **options: float) -> MailDestination:
    return MailDestination(
        parse_smtp_url(url),
        list(to),
        "AlarmBridge <bridge@example.com>",
        BRUSSELS,
        host="site-7",
        **options,  # type: ignore[arg-type]
    )


def run(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` in a fresh event loop, then let a closed TLS connection finish
    closing (in the delivery process the loop lives on; here it ends at once)."""

    async def then_settle() -> None:
        try:
            await work
        finally:
            await asyncio.sleep(0.05)

    asyncio.run(then_settle())


def deliver(dest: MailDestination, *batch: Delivery) -> None:
    wanted = [item for item in batch if dest.wants(item.event)]
    run(dest.deliver(wanted))


def test_an_alarm_mail_over_starttls_with_login(smtp_server: Server) -> None:
    dest = destination(smtp_server.url("smtp+starttls"))
    deliver(
        dest,
        alarm(41),
        output_on(42, "Cam 3 relay", "3", "Front door", Cause.INPUT),
        output_on(43, "Siren", None, "Front door", Cause.INPUT),
    )
    [mail] = smtp_server.keeper.wait(1)
    assert mail.tls and mail.login == USER
    assert mail.sender == "bridge@example.com" and mail.recipients == [TO]
    msg = mail.message
    assert msg["Subject"] == "[AlarmBridge site-7] ALARM: Front door"
    assert msg["Message-ID"] == f"<{DEVICE}-41@alarmbridge.invalid>"
    assert msg["X-AlarmBridge-Seq"] == "41"
    assert msg["X-AlarmBridge-Key"] == f"{DEVICE}-41"
    assert msg["Auto-Submitted"] == "auto-generated"
    body = mail.body
    assert "Input:    Front door" in body
    assert "Contact:  closed (NO)" in body
    # 2026-12-07T00:00:41Z in Brussels (UTC+1), with the UTC beside it
    assert "2026-12-07 01:00:41 (Europe/Brussels); 2026-12-07T00:00:41.000Z UTC" in body
    assert "output Cam 3 relay switched on: DVR channel 3 (seq 42)" in body
    assert "output Siren switched on: no DVR channel set (seq 43)" in body
    assert f"seq 41, idempotency key {DEVICE}-41" in body
    assert f"with {DEVICE}-42, {DEVICE}-43" in body


def test_implicit_tls_and_the_test_mail(smtps_server: Server) -> None:
    dest = destination(smtps_server.url("smtps"))
    run(dest.send_test())
    [mail] = smtps_server.keeper.wait(1)
    assert mail.tls and mail.login == USER
    assert mail.message["Subject"] == "[AlarmBridge site-7] Test mail"
    assert "test mail from AlarmBridge on site-7" in mail.body


def test_plain_smtp_without_login(smtp_server: Server) -> None:
    dest = destination(smtp_server.url("smtp", login=False))
    deliver(dest, fault(7), fault(9, "cleared"), trigger(10))
    mails = smtp_server.keeper.wait(3)
    assert not any(m.tls for m in mails)
    subjects = [m.message["Subject"].removeprefix("[AlarmBridge site-7] ") for m in mails]
    assert subjects == [
        "Fault: stuck (Back door)",
        "Fault cleared: stuck (Back door)",
        "Manual trigger by alice",
    ]
    assert "input Back door has not changed for 24 hours" in mails[0].body


def test_what_is_worth_a_mail() -> None:
    dest = destination("smtp://127.0.0.1:1")
    wanted = [
        alarm(1),
        alarm(2, "Tamper", kind="24h"),
        fault(3),
        fault(4, "cleared"),
        trigger(5),
        output_on(6, "Cam", "1", "Front door", Cause.INPUT),
    ]
    unwanted = [
        alarm(7, "Motion cam 2", kind="dvr"),  # the DVR tells of its own motion
        event(8, Kind.INPUT, "normal", Cause.INPUT, channel="Front door"),
        event(9, Kind.INPUT, "alarm-not-armed", Cause.INPUT, channel="Front door"),
        event(10, Kind.INPUT, "armed", Cause.SCHEDULE, channel="Front door"),
        output_on(11, "Lights", None, "night", Cause.SCHEDULE),
        event(12, Kind.OUTPUT, "idle", Cause.INPUT, channel="Cam"),
        event(13, Kind.SECURITY, "login", Cause.USER, source="alice"),
        event(14, Kind.OPERATOR, "manual-start", Cause.USER, channel="Cam", source="bob"),
    ]
    assert [dest.wants(d.event) for d in wanted] == [True] * len(wanted)
    assert [dest.wants(d.event) for d in unwanted] == [False] * len(unwanted)


def test_a_trigger_mail_names_its_dvr_channels(smtp_server: Server) -> None:
    dest = destination(smtp_server.url("smtp+starttls"))
    deliver(dest, trigger(20), output_on(21, "Cam 3 relay", "3", "alice", Cause.USER))
    [mail] = smtp_server.keeper.wait(1)
    assert "output Cam 3 relay switched on: DVR channel 3 (seq 21)" in mail.body


def test_a_storm_becomes_one_summary_mail(smtp_server: Server) -> None:
    dest = destination(smtp_server.url("smtp+starttls"), per_minute=3)
    deliver(dest, alarm(100))
    storm = [alarm(101 + i, f"Zone {i}") for i in range(40)]
    deliver(dest, *storm)  # two mails left in this minute: forty events make one summary
    first, summary = smtp_server.keeper.wait(2)
    assert first.message["X-AlarmBridge-Seq"] == "100"
    msg = summary.message
    assert msg["Subject"] == "[AlarmBridge site-7] 40 events (40 alarms), seq 101-140"
    assert msg["Message-ID"] == f"<{DEVICE}-101-to-140@alarmbridge.invalid>"
    assert msg["X-AlarmBridge-Seq"] == "101-140"
    body = summary.body
    assert "limit of 3 mails a minute" in body
    for i in range(40):  # every event listed, none lost
        assert f"ALARM: Zone {i}\n" in body
        assert f"seq {101 + i}, idempotency key {DEVICE}-{101 + i}" in body
    assert (dest.mails_sent, dest.summaries_sent) == (2, 1)
    assert smtp_server.keeper.take() == []


def test_the_limit_waits_for_the_window_rather_than_sending_more(smtp_server: Server) -> None:
    dest = destination(smtp_server.url("smtp+starttls"), per_minute=1, window_s=1.0)
    deliver(dest, alarm(1))
    started = time.monotonic()
    deliver(dest, alarm(2))  # the window is full: this waits for the first to age out
    assert time.monotonic() - started >= 0.9
    assert [m.message["X-AlarmBridge-Seq"] for m in smtp_server.keeper.wait(2)] == ["1", "2"]


def test_a_server_that_was_down_gets_the_same_mail_later(
    certificate: tuple[Path, Path],
) -> None:
    port = free_port()
    dest = destination(f"smtp://127.0.0.1:{port}")
    batch = [alarm(5)]
    with pytest.raises(DeliveryError, match=f"cannot connect to smtp://127.0.0.1:{port}"):
        deliver(dest, *batch)
    server = start_server(certificate, implicit_tls=False, port=port)
    try:
        deliver(dest, *batch)  # the delivery loop's retry: the same batch
        deliver(dest, *batch)  # once more (say the answer was lost): recognisably the same
        first, again = server.keeper.wait(2)
    finally:
        server.controller.stop()
    assert first.message["Message-ID"] == again.message["Message-ID"]
    assert first.message["Message-ID"] == f"<{DEVICE}-5@alarmbridge.invalid>"


def test_a_refused_recipient(smtp_server: Server) -> None:
    nobody = f"nobody@{REFUSED_DOMAIN}"
    dest = destination(smtp_server.url("smtp+starttls"), to=[nobody])
    with pytest.raises(DeliveryError, match=f"refused every recipient.*{nobody}: 550"):
        deliver(dest, alarm(1))
    assert smtp_server.keeper.take() == []
    both = destination(smtp_server.url("smtp+starttls"), to=[TO, nobody])
    deliver(both, alarm(2))  # the others get it; the refusal is kept for the status
    [mail] = smtp_server.keeper.wait(1)
    assert mail.recipients == [TO]
    assert nobody in both.last_refused and "550" in both.last_refused[nobody]


def test_a_wrong_password(smtp_server: Server) -> None:
    url = smtp_server.url("smtp+starttls").replace("passphrase", "guess")
    with pytest.raises(DeliveryError, match=f"refused the login for '{USER}': 535"):
        deliver(destination(url), alarm(1))


def test_an_untrusted_certificate(smtp_server: Server) -> None:
    url = f"smtps://127.0.0.1:{smtp_server.port}"  # no cafile: the system's CAs only
    with pytest.raises(DeliveryError, match="failed"):
        run(destination(url.replace("smtps", "smtp+starttls")).send_test())
    assert smtp_server.keeper.take() == []


def settings_with(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path, **fields)  # type: ignore[arg-type]


def test_the_factory(tmp_path: Path, smtp_server: Server) -> None:
    assert mail_destination(settings_with(tmp_path)) is None
    with pytest.raises(MailConfigError, match="ALARMBRIDGE_MAIL_TO is not"):
        mail_destination(settings_with(tmp_path, smtp_url="smtp://127.0.0.1"))
    with pytest.raises(MailConfigError, match="ALARMBRIDGE_SMTP_URL: the SMTP URL must start"):
        mail_destination(settings_with(tmp_path, smtp_url="http://x", mail_to=[TO]))
    with pytest.raises(MailConfigError, match="'not-an-address' is not an e-mail address"):
        mail_destination(
            settings_with(tmp_path, smtp_url="smtp://127.0.0.1", mail_to=["not-an-address"])
        )
    made = mail_destination(
        settings_with(
            tmp_path,
            smtp_url=smtp_server.url("smtp+starttls"),
            mail_to=f"{TO}, second@example.com",
            timezone="Europe/Brussels",
        )
    )
    assert isinstance(made, MailDestination)
    assert made.recipients == (TO, "second@example.com")
    assert made.sender == f"AlarmBridge <{USER}>"  # the login, when it is an address
    assert "a mail passphrase" not in repr(settings_with(tmp_path, smtp_url=made.url.redacted()))
    run(made.send_test())
    assert smtp_server.keeper.wait(1)[0].recipients == [TO, "second@example.com"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "is empty"),
        ("mail.example.com", "must start with one of smtp://, smtp+starttls://, smtps://"),
        ("smtp+ssl://mail.example.com", "must start with one of"),
        ("smtp://", "has no server name"),
        ("smtp://mail.example.com:99999", "port must be a number"),
        ("smtp://mail.example.com:port", "port must be a number"),
        ("smtps://user@mail.example.com", "names user 'user' but gives no password"),
        ("smtps://:pw@mail.example.com", "has a password but no user name"),
        ("smtp://u:pw@mail.example.com", "password in clear"),
        ("smtps://u:p/w@mail.example.com", "port must be a number"),
        ("smtps://mail.example.com/inbox", "has a path"),
        ("smtps://mail.example.com?tls=yes", "unknown SMTP URL option 'tls'"),
        ("smtps://mail.example.com?cafile=/nonexistent.pem", "is not a readable file"),
        ("smtps://mail.example.com?timeout=0", "timeout must be seconds from 1 to 300"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, says: str) -> None:
    from app.network.smtp_url import SmtpUrlError

    with pytest.raises(SmtpUrlError, match=None) as caught:
        parse_smtp_url(url)
    assert says in str(caught.value)


def test_a_password_over_plain_smtp_is_fine_on_this_machine() -> None:
    url = parse_smtp_url("smtp://u:p%40ss@127.0.0.1:2525")
    assert (url.username, url.password, url.port, url.security) == ("u", "p@ss", 2525, "none")
    assert url.redacted() == "smtp://u:***@127.0.0.1:2525"
