"""ONVIF relay outputs and snapshots against a real SOAP device (tests/actions/onvif_peer.py).

The peer checks each operation's element and parameters against devicemgmt.wsdl and
media.wsdl, and verifies the WS-Security UsernameToken PasswordDigest itself (OASIS
UsernameToken Profile 1.0, 3.1): a wrong password, a stale ``Created`` and a replayed
nonce are refused, as the ONVIF Core Specification's "Security" section has devices do.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from app.network.actions import onvif
from app.network.actions.model import Action, Auth, OnvifRelay
from app.network.evidence import sources
from app.network.evidence.sources import OnvifSnapshot, SnapshotError, grab
from tests.actions.onvif_peer import DEVICE, MEDIA, TDS, OnvifPeer, running_onvif
from tests.actions.test_http_actions import run
from tests.recorders.conftest import small_jpeg

AUTH = Auth(scheme="digest", user="admin", password=SecretStr("s3cret-Pass"))


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """Each test as a fresh network process: no clock offset or snapshot URI kept from a
    device that had the same loopback port in an earlier test."""
    onvif._devices.clear()
    sources._snapshot_uris.clear()
    yield
    onvif._devices.clear()
    sources._snapshot_uris.clear()


def relay(peer: OnvifPeer, **fields: object) -> OnvifRelay:
    return OnvifRelay.model_validate(
        {"name": "cam relay", "base_url": peer.url, "auth": AUTH, "relay_token": "AlarmOut_0"}
        | fields
    )


def operations(peer: OnvifPeer) -> list[str]:
    return [call.operation for call in peer.calls]


def test_relay_output_active_on_alarm_inactive_on_clear() -> None:
    # ONVIF Core Specification, Device management "Input/Output": SetRelayOutputState
    # (RelayOutputToken, LogicalState), after GetSystemDateAndTime for the token's Created.
    with running_onvif() as peer:
        on = run(relay(peer), "alarm")
        assert peer.relays["AlarmOut_0"] == "active"
        off = run(relay(peer), "clear")
        assert peer.relays["AlarmOut_0"] == "inactive"
    assert on.ok and off.ok, (on, off)
    assert on.kind == "onvif-relay" and on.attempts == 1
    assert on.summary == "relay AlarmOut_0 active" and off.summary == "relay AlarmOut_0 inactive"
    sets = [call for call in peer.calls if call.operation == "SetRelayOutputState"]
    assert [call.args for call in sets] == [
        {"RelayOutputToken": "AlarmOut_0", "LogicalState": "active"},
        {"RelayOutputToken": "AlarmOut_0", "LogicalState": "inactive"},
    ]
    assert all(call.user == "admin" and call.service == DEVICE for call in sets)
    assert all(f'action="{TDS}/SetRelayOutputState"' in call.content_type for call in sets)
    # the clock was asked once, without credentials (a PRE_AUTH operation)
    clock = [call for call in peer.calls if call.operation == "GetSystemDateAndTime"]
    assert len(clock) <= 1 and all(call.user is None for call in clock)
    assert peer.refusals == []


def test_a_device_whose_clock_is_two_hours_out_still_takes_the_token() -> None:
    # Created is written on the device's clock (the offset GetSystemDateAndTime gives).
    with running_onvif(clock_offset_s=7200.0) as peer:
        result = run(relay(peer), "alarm")
    assert result.ok, result
    assert peer.relays["AlarmOut_0"] == "active"
    assert operations(peer) == ["GetSystemDateAndTime", "SetRelayOutputState"]


def test_a_clock_set_since_it_was_measured_is_measured_again() -> None:
    with running_onvif(clock_offset_s=-3600.0) as peer:
        assert run(relay(peer), "alarm").ok
        peer.clock_offset_s = 0.0  # NTP came back on the device
        result = run(relay(peer), "clear")
    assert result.ok and result.attempts == 1, result
    assert operations(peer)[-2:] == ["GetSystemDateAndTime", "SetRelayOutputState"]
    assert peer.refusals == ["NotAuthorized: Sender not Authorized: Created is not fresh"]


def test_a_device_that_will_not_tell_its_time_gets_ours() -> None:
    with running_onvif() as peer:
        peer.time_needs_token = True
        result = run(relay(peer), "alarm")
    assert result.ok, result
    assert operations(peer) == ["SetRelayOutputState"]
    assert peer.refusals == [
        "NotAuthorized: Sender not Authorized: a UsernameToken is required"
    ]  # the time, asked without one


def test_http_digest_on_the_soap_service_as_well() -> None:
    # Devices may want HTTP Digest besides the UsernameToken (ONVIF Core Specification,
    # "Security": HTTP digest authentication).
    with running_onvif() as peer:
        peer.soap_http_auth = True
        assert run(relay(peer), "alarm").ok
        no_digest = Auth(user="admin", password=SecretStr("s3cret-Pass"))  # scheme none
        result = run(relay(peer, auth=no_digest), "clear")
    assert not result.ok and result.attempts == 1
    assert "the device wants HTTP authentication too: set auth.scheme to digest" in result.summary
    assert peer.relays["AlarmOut_0"] == "active"


def test_where_the_device_says_its_services_are() -> None:
    base = "http://203.0.113.7:8080"
    assert onvif.on_host_of("http://192.168.1.64/onvif/media", base) == (
        "http://203.0.113.7/onvif/media"  # no port given: the scheme's own
    )
    assert onvif.on_host_of("https://10.0.0.2:8443/snap.jpg?ch=1", base) == (
        "https://203.0.113.7:8443/snap.jpg?ch=1"
    )
    assert onvif.on_host_of("/onvif/media", base) == base + "/onvif/media"
    assert onvif.on_host_of("http://[fe80::1]:80/x", "http://[2001:db8::9]") == (
        "http://[2001:db8::9]:80/x"
    )


def test_a_wrong_password_is_refused_by_the_device_and_not_retried() -> None:
    with running_onvif() as peer:
        wrong = Auth(scheme="digest", user="admin", password=SecretStr("wrong"))
        result = run(relay(peer, auth=wrong, retries=3), "alarm")
    assert not result.ok
    assert result.attempts == 1
    assert "NotAuthorized" in result.summary and "Sender not Authorized" in result.summary
    assert peer.relays["AlarmOut_0"] == "inactive"


def test_a_stale_created_and_a_replayed_nonce_are_refused() -> None:
    # UsernameToken Profile 1.0, 3.1: the device rejects an old Created and a nonce seen before.
    with running_onvif() as peer:
        body = onvif.set_relay_output_state("AlarmOut_0", True)
        action = f"{TDS}/SetRelayOutputState"
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        stale = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        nonce = secrets.token_bytes(16)
        old = onvif.security_header("admin", "s3cret-Pass", stale, nonce)
        answer = httpx.post(peer.url + DEVICE, content=onvif.envelope(body, old), headers=headers)
        assert answer.status_code == 400
        assert b"ter:NotAuthorized" in answer.content and b"not fresh" in answer.content

        fresh = onvif.security_header("admin", "s3cret-Pass", onvif.created_now(), nonce)
        first = httpx.post(peer.url + DEVICE, content=onvif.envelope(body, fresh), headers=headers)
        again = httpx.post(peer.url + DEVICE, content=onvif.envelope(body, fresh), headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 400 and b"used before" in again.content


def test_the_digest_is_base64_of_sha1_of_nonce_created_password() -> None:
    import hashlib

    nonce = bytes(range(16))
    created = "2026-12-07T03:00:00.000Z"
    expected = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + b"s3cret-Pass").digest()
    ).decode()
    assert onvif.password_digest(nonce, created, "s3cret-Pass") == expected
    header = onvif.security_header("a<b", "s3cret-Pass", created, nonce)
    assert "<wsse:Username>a&lt;b</wsse:Username>" in header
    assert f">{base64.b64encode(nonce).decode()}</wsse:Nonce>" in header


def test_an_unknown_relay_token_is_the_devices_refusal() -> None:
    with running_onvif() as peer:
        result = run(relay(peer, relay_token="AlarmOut_7"), "alarm")
    assert not result.ok and result.attempts == 1
    assert result.summary.startswith("refused: SOAP fault (Sender, RelayToken)")
    assert "AlarmOut_7 does not exist" in result.summary


def test_a_receiver_fault_is_retried() -> None:
    with running_onvif() as peer:
        assert run(relay(peer), "alarm").ok  # the clock is measured
        peer.receiver_faults = 1
        result = run(relay(peer), "clear")
    assert result.ok and result.attempts == 2, result
    assert peer.relays["AlarmOut_0"] == "inactive"


def test_an_unreachable_device_fails_after_its_retries() -> None:
    with running_onvif() as peer:
        url = peer.url
    result = run(OnvifRelay(name="gone", base_url=url, relay_token="r", retries=1), "alarm")
    assert not result.ok and result.attempts == 2
    assert result.summary.startswith(f"could not reach {url}")


def test_no_user_sends_no_token_and_the_device_says_so() -> None:
    with running_onvif() as peer:
        result = run(OnvifRelay(name="anon", base_url=peer.url, relay_token="AlarmOut_0"))
    assert not result.ok and "a UsernameToken is required" in result.summary
    assert operations(peer) == []


def test_onvif_models_are_checked() -> None:
    adapter: TypeAdapter[Action] = TypeAdapter(Action)
    parsed = adapter.validate_python(
        {"kind": "onvif-relay", "name": "r", "base_url": "http://192.0.2.5", "relay_token": "x"}
    )
    assert isinstance(parsed, OnvifRelay) and parsed.device_path == "/onvif/device_service"
    with pytest.raises(ValidationError, match="relay_token"):
        adapter.validate_python({"kind": "onvif-relay", "name": "r", "base_url": "http://h"})
    with pytest.raises(ValidationError, match="give the camera's address only"):
        OnvifSnapshot(camera="c", url="http://192.0.2.5/onvif/device_service")


# -- snapshots --------------------------------------------------------------------------


def camera(peer: OnvifPeer, **fields: object) -> OnvifSnapshot:
    return OnvifSnapshot.model_validate({"camera": "Porch", "url": peer.url, "auth": AUTH} | fields)


def test_snapshot_uri_is_asked_once_and_the_jpeg_fetched_with_digest() -> None:
    # ONVIF Media Service Specification: GetProfiles, then GetSnapshotUri for the first
    # profile; the device gives its inside address, the configured host is used.
    jpeg = small_jpeg(80, 60)
    with running_onvif(jpeg) as peer:
        source = camera(peer)
        first = asyncio.run(grab(source))
        second = asyncio.run(grab(source))
    assert first.data == jpeg and second.data == jpeg
    assert operations(peer) == [
        "GetSystemDateAndTime",
        "GetCapabilities",
        "GetProfiles",
        "GetSnapshotUri",
    ]
    assert [call.service for call in peer.calls[2:]] == [MEDIA, MEDIA]
    assert peer.calls[-1].args == {"ProfileToken": "Profile_1"}
    gets = [seen for seen in peer.seen if seen.method == "GET"]
    assert [seen.target for seen in gets] == ["/onvif-http/snapshot?Profile_1"] * 4
    assert [seen.authorized for seen in gets] == [False, True, False, True]  # Digest twice


def test_a_named_profile_is_used_and_an_unknown_one_named() -> None:
    with running_onvif(small_jpeg()) as peer:
        asyncio.run(grab(camera(peer, profile="Profile_2", camera="Sub")))
        assert peer.calls[-1].args == {"ProfileToken": "Profile_2"}
        with pytest.raises(SnapshotError, match=r"no media profile 'Main' \(the camera's: Pro"):
            asyncio.run(grab(camera(peer, profile="Main", camera="Main")))


def test_a_failed_fetch_asks_for_the_uri_again() -> None:
    with running_onvif(small_jpeg()) as peer:
        source = camera(peer, camera="Moved")
        asyncio.run(grab(source))
        peer.snapshot_path = "/snap/new"  # a firmware update moved it
        with pytest.raises(SnapshotError, match="HTTP 404 from the camera"):
            asyncio.run(grab(source))
        again = asyncio.run(grab(source))
    assert again.data == peer.jpeg
    assert operations(peer).count("GetSnapshotUri") == 2


def test_a_wrong_password_names_the_onvif_step() -> None:
    with running_onvif(small_jpeg()) as peer:
        wrong = Auth(scheme="digest", user="admin", password=SecretStr("nope"))
        with pytest.raises(SnapshotError, match=r"Porch: ONVIF GetCapabilities: SOAP fault"):
            asyncio.run(grab(camera(peer, auth=wrong)))
