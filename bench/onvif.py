"""ONVIF relay outputs and snapshots: AlarmBridge's side of each request (#20).

``python -m bench.onvif [--requests N]``: prints JSON with the figures (not part of
``make bench``; a few seconds). Against the ONVIF test device (tests/actions/onvif_peer.py,
a SOAP server in a thread of this process that verifies every UsernameToken) on loopback,
so what is measured is AlarmBridge's cost per request (building the token, the request,
reading the answer) plus a loopback round trip; a real camera's answer time adds to it.

1. **The first relay request of a process**: the device's clock asked first
   (``GetSystemDateAndTime``), and the process's TLS context made.
2. **Later relay requests** (``SetRelayOutputState``, alternately active and inactive).
3. **The first ONVIF snapshot** (``GetCapabilities``, ``GetProfiles``, ``GetSnapshotUri``,
   then the JPEG with HTTP Digest) and **later ones** (the kept URI: the JPEG only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from pydantic import SecretStr

from app.events import Cause, Event, Kind
from app.network.actions.model import Auth, OnvifRelay
from app.network.actions.send import run_action
from app.network.evidence.sources import OnvifSnapshot, grab
from bench.common import summary

AUTH = Auth(scheme="digest", user="admin", password=SecretStr("s3cret-Pass"))


def _event(seq: int) -> Event:
    return Event(
        kind=Kind.INPUT,
        state="alarm",
        cause=Cause.INPUT,
        utc_us=1_765_000_000_000_000,
        mono_ns=1,
        boot_id="bench",
        clock_synced=True,
        channel="IN1",
        seq=seq,
    )


async def _measure(url: str, requests: int) -> dict[str, Any]:
    relay = OnvifRelay(name="relay", base_url=url, relay_token="AlarmOut_0", auth=AUTH)
    first = await run_action(relay, "alarm", _event(1), "bench-1")
    assert first.ok, first
    later = []
    for n in range(requests):
        result = await run_action(relay, "clear" if n % 2 else "alarm", _event(n + 2), "bench")
        assert result.ok, result
        later.append(result.elapsed_ms)
    camera = OnvifSnapshot(camera="cam", url=url, auth=AUTH)
    first_shot = await grab(camera)
    shots = [(await grab(camera)).elapsed_ms for _ in range(max(requests // 2, 1))]
    return {
        "relay_first_ms": round(first.elapsed_ms, 1),
        "relay_ms": summary(later, digits=3),
        "snapshot_first_ms": round(first_shot.elapsed_ms, 1),
        "snapshot_ms": summary(shots, digits=3),
        "jpeg_bytes": len(first_shot.data),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    from tests.actions.onvif_peer import running_onvif  # the device the tests use
    from tests.recorders.conftest import small_jpeg

    with running_onvif(small_jpeg(640, 360)) as peer:
        figures = asyncio.run(_measure(peer.url, args.requests))
        figures["refused_by_the_device"] = len(peer.refusals)
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
