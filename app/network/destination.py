"""What every destination (MQTT, webhook, e-mail, ...) offers the delivery loop.

The delivery loop owns the cursor, the order, the retries and the backoff; a
destination only turns committed events into what its peer wants and says whether
the peer took them. The contract:

* :meth:`Destination.deliver` gets a batch of events in seq order, each with its
  idempotency key (``<device id>-<seq>``). It returns only when the peer has
  taken all of them (for MQTT QoS 1: PUBACK; for a webhook: a 2xx; for mail: the
  server's 250). Otherwise it raises :class:`DeliveryError`, and the loop retries
  the same batch later (a destination may see an event again: at least once).
* Events the destination does not want (its filters) are skipped by the loop with
  :meth:`Destination.wants`; the cursor still moves past them.
* A destination may coalesce a batch (a storm of alarms as one summary mail), as
  long as every event in it is accounted for when ``deliver`` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.events import Event


class DeliveryError(Exception):
    """The peer did not take the batch; the message is shown as the last error."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One committed event on its way to one destination."""

    key: str  # the idempotency key: "<device id>-<seq>"
    event: Event


class Destination(Protocol):
    """One configured destination (see the module's docstring for the contract)."""

    @property
    def name(self) -> str:
        """A short stable name ("mqtt", "webhook", "mail"), used for its cursor."""
        ...

    def wants(self, event: Event) -> bool:
        """Whether this event is for this destination (kind and channel filters)."""
        ...

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        """Hand the batch to the peer, in order; raise DeliveryError if it did not take it."""
        ...

    async def send_test(self) -> None:
        """Send a test message now (the UI's "send test"); raise DeliveryError on failure."""
        ...

    async def aclose(self) -> None:
        """Close connections; called once when the process stops."""
        ...
