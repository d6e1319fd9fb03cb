"""The e-mail destination: alarm and fault mail through an SMTP server (aiosmtplib).

Configured by ``ALARMBRIDGE_SMTP_URL`` (see :mod:`app.network.smtp_url`),
``ALARMBRIDGE_MAIL_TO`` (comma-separated addresses), ``ALARMBRIDGE_MAIL_FROM``
and ``ALARMBRIDGE_MAIL_PER_MINUTE``. Which events make a mail and what it says:
:mod:`app.network.mail_text`.

**A storm becomes one summary mail.** At most ``per_minute`` mails leave in any
60 seconds. When the limit is reached, :meth:`MailDestination.deliver` waits for
the oldest mail of the window to age out (the delivery loop meanwhile keeps the
newer events in the log); a batch holding more mails than the window still allows
goes as one summary mail listing every event in it. So an alarm storm costs
``per_minute`` mails a minute at most, however long it lasts, and loses nothing.

**At least once.** ``deliver`` returns when the server has answered 250 to every
mail of the batch. A connection, TLS, login or server error raises
:class:`DeliveryError` and the loop sends the whole batch again later: a mail
that had already gone goes again with the same ``Message-ID``. A server that
refuses *every* recipient is an error (retried: it may be a full mailbox or a
configuration mistake being fixed); one that refuses only some is logged and
counted as delivered to the others (``last_refused``).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import aiosmtplib

from app.events import Event
from app.network.destination import Delivery, DeliveryError, Destination
from app.network.mail_text import (
    Envelope,
    notices,
    single_mail,
    summary_mail,
    test_mail,
    worth_a_mail,
)
from app.network.ratelimit import RateWindow
from app.network.smtp_url import SmtpUrl, SmtpUrlError, parse_smtp_url
from app.settings import Settings

log = logging.getLogger(__name__)

WINDOW_S = 60.0


class MailConfigError(ValueError):
    """The mail settings cannot work; the message says which and how to fix it."""


def _address(text: str, what: str) -> str:
    _, addr = parseaddr(text)
    local, at, domain = addr.partition("@")
    if not (local and at and domain) or any(c.isspace() for c in addr):
        raise MailConfigError(
            f"{what} {text!r} is not an e-mail address: write e.g. alarms@example.com"
        )
    return addr


class MailDestination:
    """Alarm, fault and trigger mail (see the module's docstring)."""

    name = "mail"

    def __init__(
        self,
        url: SmtpUrl,
        recipients: Sequence[str],
        sender: str,
        tz: ZoneInfo,
        *,
        per_minute: int = 5,
        window_s: float = WINDOW_S,
        host: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not recipients:
            raise MailConfigError("ALARMBRIDGE_MAIL_TO is empty: give at least one address")
        self.url = url
        self.recipients = tuple(_address(r, "the recipient") for r in recipients)
        self.sender = sender
        self.sender_address = _address(sender, "the sender (ALARMBRIDGE_MAIL_FROM)")
        self.tz = tz
        self.per_minute = per_minute
        self.window_s = window_s
        self.envelope = Envelope(sender, self.recipients, host or socket.gethostname())
        self.window = RateWindow(per_minute, window_s, monotonic)
        self.mails_sent = 0
        self.summaries_sent = 0
        self.last_refused: dict[str, str] = {}

    def wants(self, event: Event) -> bool:
        return worth_a_mail(event)

    # -- sending ----------------------------------------------------------------------

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        found = notices(batch)
        if not found:
            return  # companions whose alarm went in an earlier batch: nothing to mail
        room = await self.window.wait_for_room("mail")
        if len(found) <= room:
            mails = [single_mail(n, self.envelope, self.tz) for n in found]
        else:
            mails = [summary_mail(found, self.envelope, self.tz, self.per_minute)]
        await self._send(mails)
        if len(found) > room:
            self.summaries_sent += 1

    async def send_test(self) -> None:
        await self._send([test_mail(self.envelope, time.time_ns() // 1000, self.tz)])

    async def aclose(self) -> None:
        """Nothing stays open: each batch has its own connection."""

    def _client(self) -> aiosmtplib.SMTP:
        url = self.url
        context = None
        if url.security != "none":
            context = ssl.create_default_context(cafile=str(url.cafile) if url.cafile else None)
        return aiosmtplib.SMTP(
            hostname=url.host,
            port=url.port,
            username=url.username,
            password=url.password,
            use_tls=url.security == "tls",
            start_tls=url.security == "starttls",
            tls_context=context,
            timeout=url.timeout_s,
        )

    async def _send(self, mails: list[EmailMessage]) -> None:
        where = self.url.redacted()
        try:
            async with self._client() as smtp:
                for mail in mails:
                    refused, _ = await smtp.send_message(
                        mail, sender=self.sender_address, recipients=list(self.recipients)
                    )
                    self.window.note()
                    self.mails_sent += 1
                    self.last_refused = {to: str(answer) for to, answer in refused.items()}
                    if refused:
                        log.warning("mail: %s refused %s", where, ", ".join(sorted(refused)))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            answers = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(f"{where} refused every recipient ({answers})") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{where} refused the login for {self.url.username!r}: {exc.code} {exc.message}"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where} answered {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPConnectError as exc:
            raise DeliveryError(f"cannot connect to {where}: {exc}") from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            raise DeliveryError(f"{where} did not answer in {self.url.timeout_s:g} s") from exc
        except aiosmtplib.SMTPException as exc:
            raise DeliveryError(f"sending mail through {where} failed: {exc}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"sending mail through {where} failed: {exc}") from exc


def default_sender(url: SmtpUrl) -> str:
    """The From when none is set: the login if it is an address, else alarmbridge@host."""
    if url.username and "@" in url.username:
        return f"AlarmBridge <{url.username}>"
    return f"AlarmBridge <alarmbridge@{socket.gethostname() or 'localhost'}>"


def mail_destination(settings: Settings) -> Destination | None:
    """The e-mail destination the settings ask for (None: no SMTP URL set).

    :class:`MailConfigError` with a clear message when the settings cannot work.
    """
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        return None
    try:
        url = parse_smtp_url(settings.smtp_url.get_secret_value())
    except SmtpUrlError as exc:
        raise MailConfigError(f"ALARMBRIDGE_SMTP_URL: {exc}") from None
    if not settings.mail_to:
        raise MailConfigError(
            "ALARMBRIDGE_SMTP_URL is set but ALARMBRIDGE_MAIL_TO is not: "
            "give the addresses to mail, comma-separated"
        )
    sender = settings.mail_from or default_sender(url)
    return MailDestination(
        url, settings.mail_to, sender, settings.tz, per_minute=settings.mail_per_minute
    )
