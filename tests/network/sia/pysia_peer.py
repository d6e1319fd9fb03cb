"""pysiaalarm's receiver (what Home Assistant's ``sia`` integration runs) as a
process of its own, so a test can kill it: ``python -m tests.network.sia.pysia_peer
PORT ACCOUNT [KEY]``. It prints ``listening`` once it listens, then each message it
ACKs as a JSON line (account, sequence, code, zone, encrypted)."""

from __future__ import annotations

import asyncio
import json
import sys

from pysiaalarm.account import SIAAccount
from pysiaalarm.aio.client import SIAClient
from pysiaalarm.event import SIAEvent


async def main(port: int, account: str, key: str | None) -> None:
    async def seen(event: SIAEvent) -> None:
        line = {
            "account": event.account,
            "sequence": event.sequence,
            "code": event.code,
            "zone": event.ri,
            "encrypted": event.encrypted,
            "type": str(getattr(event.message_type, "value", event.message_type)),
        }
        print(json.dumps(line), flush=True)

    # SIAClient picks its TCP subclass itself (in __new__): not abstract at run time
    client = SIAClient("127.0.0.1", port, [SIAAccount(account, key)], seen)  # type: ignore[abstract]
    await client.async_start(reuse_address=True)
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]), args[1], args[2] if len(args) > 2 else None))
