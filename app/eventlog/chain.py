"""The tamper-evident chain: every row's hash covers the row and the hash before it.

``hash(n) = SHA-256(hash(n-1) || canonical(row n))``, where ``canonical`` is the
compact JSON array (UTF-8, no spaces)::

    [seq, utc_us, mono_ns, boot_id, clock_synced, kind, channel, state, cause,
     source, dvr_channel, detail]

with ``clock_synced`` as ``true``/``false``, absent values as ``null`` and
``detail`` as the JSON text stored in the row (a string), so anyone can check the
chain with a few lines of any language. The first hashed row follows 32 zero
bytes (:data:`GENESIS`); after the oldest rows are evicted, the hash of the last
evicted one is kept in ``meta`` (:data:`ANCHOR_KEY`) so the chain still checks
from the first remaining row. Rows written before the chain existed (schema
revision 0001) have no hash and are not checked.

Changing, inserting or deleting a row (other than evicting the oldest) breaks
every link after it: :func:`verify` reports the first broken one. Rewriting the
whole chain after a change is possible for someone who can write the file; the
newest hash is therefore also kept outside the database (``alarmbridge.db.state``,
:mod:`app.eventlog.seqstate`) and compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from app.eventlog.schema import events, meta

GENESIS = bytes(32)
ANCHOR_KEY = "chain.anchor"
FIELDS = (
    "seq",
    "utc_us",
    "mono_ns",
    "boot_id",
    "clock_synced",
    "kind",
    "channel",
    "state",
    "cause",
    "source",
    "dvr_channel",
    "detail",
)


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes of ``row`` that its hash covers."""
    values = [bool(row[f]) if f == "clock_synced" else row[f] for f in FIELDS]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def link(previous: bytes, row: Mapping[str, Any]) -> bytes:
    """The hash of ``row``, chained to ``previous``.

    >>> link(GENESIS, dict.fromkeys(FIELDS, None) | {"clock_synced": 0}).hex()[:16]
    'e72d6f188fe2e26b'
    """
    return hashlib.sha256(previous + canonical(row)).digest()


def last_hash(connection: Connection) -> bytes | None:
    """The newest row's hash (None: no row, or it has none)."""
    value = connection.execute(select(events.c.hash).order_by(events.c.seq.desc()).limit(1))
    found = value.scalar()
    return bytes(found) if found is not None else None


def keep_anchor(connection: Connection, last_evicted_seq: int) -> None:
    """Before evicting every row up to ``last_evicted_seq``: keep its hash."""
    found = connection.execute(
        select(events.c.hash).where(events.c.seq == last_evicted_seq)
    ).scalar()
    if found is not None:
        set_anchor(connection, last_evicted_seq, bytes(found))


def set_anchor(connection: Connection, seq: int, chained: bytes) -> None:
    """The chain goes on from ``chained``, the hash of row ``seq``, which is not in
    this log (evicted, or in a damaged log that was moved aside)."""
    value = json.dumps({"seq": seq, "hash": chained.hex()})
    connection.execute(delete(meta).where(meta.c.key == ANCHOR_KEY))
    connection.execute(insert(meta).values(key=ANCHOR_KEY, value=value))


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify` found."""

    checked: int  # rows whose hash was checked
    first_seq: int | None  # the first row checked
    last_seq: int | None  # the last row checked
    last_hash: bytes | None
    broken_seq: int | None = None  # the first row whose link does not hold
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and self.problem is None


def verify(connection: Connection, *, batch: int = 5000) -> Verification:
    """Check every link of the chain, oldest first; stop at the first broken one."""
    anchor_row = connection.execute(select(meta.c.value).where(meta.c.key == ANCHOR_KEY)).scalar()
    anchor = json.loads(anchor_row) if anchor_row else None
    previous: bytes | None = None
    checked, first, last = 0, None, None
    after = 0
    columns = [events.c[f] for f in FIELDS] + [events.c.hash]
    while True:
        rows = connection.execute(
            select(*columns).where(events.c.seq > after).order_by(events.c.seq).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            data = row._mapping
            seq = int(data["seq"])
            after = seq
            stored = data["hash"]
            if stored is None:
                if previous is not None:
                    return Verification(
                        checked, first, last, previous, seq, f"seq {seq} has no hash"
                    )
                continue
            if previous is None:
                previous = GENESIS
                if anchor is not None and int(anchor["seq"]) < seq:
                    previous = bytes.fromhex(anchor["hash"])
                first = seq
            if link(previous, {f: data[f] for f in FIELDS}) != bytes(stored):
                return Verification(
                    checked,
                    first,
                    last,
                    previous,
                    seq,
                    f"seq {seq} does not match its hash: it, or the row before it, was changed, "
                    "or rows were removed or inserted",
                )
            previous = bytes(stored)
            checked += 1
            last = seq
    return Verification(checked, first, last, previous)
