"""The Apprise destination: alarm and fault notifications to any of the ~180
services Apprise reaches from one URL (ntfy, Telegram, Pushover, Slack, e-mail...).

Optional: ``pip install 'alarmbridge[apprise]'``. Without the package, setting
``ALARMBRIDGE_APPRISE_URL`` is a clear :class:`AppriseConfigError` when the
destination is made, not an ImportError. The same events as the e-mail
destination (:mod:`app.network.mail_text`), the same text, and the same storm
limit (``ALARMBRIDGE_MAIL_PER_MINUTE``: beyond it one summary notification).
Apprise makes its own Message-ID, so the idempotency key is in the text only.
Apprise says only whether a notification went; the reason for a failure is taken
from its log.
"""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from app.events import Event
from app.network.destination import Delivery, DeliveryError, Destination
from app.network.mail_text import Notice, describe, headline, notices, worth_a_mail
from app.network.ratelimit import RateWindow
from app.settings import Settings

if TYPE_CHECKING:
    import apprise

log = logging.getLogger(__name__)

INSTALL = "pip install 'alarmbridge[apprise]'"


class AppriseConfigError(ValueError):
    """The Apprise settings cannot work (or apprise is not installed)."""


@contextmanager
def _quiet() -> Iterator[None]:
    """Apprise's plugins import modules Python deprecates (imghdr, through its PGP
    support): their DeprecationWarning says nothing about this appliance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _load() -> apprise.Apprise:
    try:
        with _quiet():
            import apprise
    except ImportError:
        raise AppriseConfigError(
            f"ALARMBRIDGE_APPRISE_URL is set but the apprise package is not installed: {INSTALL}"
        ) from None
    return apprise.Apprise()


class AppriseDestination:
    name = "apprise"

    def __init__(
        self,
        url: str,
        tz: ZoneInfo,
        *,
        per_minute: int = 5,
        window_s: float = 60.0,
        host: str | None = None,
    ) -> None:
        self._apprise = _load()
        scheme = url.partition("://")[0] or url[:12]
        with _quiet():
            added = self._apprise.add(url)
        if not added:
            raise AppriseConfigError(
                f"ALARMBRIDGE_APPRISE_URL: Apprise cannot use this URL (scheme {scheme!r}): "
                "see https://github.com/caronc/apprise/wiki for each service's URL"
            )
        self.tz = tz
        self.host = host or socket.gethostname()
        self.window = RateWindow(per_minute, window_s)
        self.per_minute = per_minute
        self.sent = 0

    def wants(self, event: Event) -> bool:
        return worth_a_mail(event)

    async def _notify(self, title: str, body: str) -> None:
        import apprise

        with apprise.LogCapture(level=logging.WARNING) as output:  # type: ignore[no-untyped-call]
            ok = await self._apprise.async_notify(
                title=f"[AlarmBridge {self.host}] {title}", body=body
            )
            said = output.getvalue().strip() if hasattr(output, "getvalue") else ""
        if not ok:
            reason = said.splitlines()[-1] if said else "no reason given"
            raise DeliveryError(f"Apprise could not notify: {reason}")
        self.window.note()
        self.sent += 1

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        found = notices(batch)
        if not found:
            return
        room = await self.window.wait_for_room("apprise")
        if len(found) <= room:
            for notice in found:
                await self._notify(headline(notice.event), self._text(notice))
            return
        first, last = found[0].event.seq, found[-1].event.seq
        lines = [
            f"{len(found)} events came in faster than {self.per_minute} notifications a "
            "minute; each is listed here.",
        ]
        for notice in found:
            lines += ["", self._text(notice)]
        await self._notify(f"{len(found)} events, seq {first}-{last}", "\n".join(lines))

    def _text(self, notice: Notice) -> str:
        return "\n".join(describe(notice, self.tz)[2:])

    async def send_test(self) -> None:
        await self._notify("Test", f"A test notification from AlarmBridge on {self.host}.")

    async def aclose(self) -> None:
        """Apprise keeps no connection open between notifications."""


def apprise_destination(settings: Settings) -> Destination | None:
    """The Apprise destination the settings ask for (None: no URL set)."""
    if settings.apprise_url is None:
        return None
    url = settings.apprise_url.get_secret_value().strip()
    if not url:
        return None
    return AppriseDestination(url, settings.tz, per_minute=settings.mail_per_minute)
