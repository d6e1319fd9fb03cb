"""Each HTTP network action sends exactly the request its vendor documents (issue #20).

The peer (tests/actions/peer.py) is a real HTTP server with real Basic and Digest
authentication; each test names the vendor document the request follows.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from app.events import Cause, Event, Kind
from app.network.actions.model import (
    Action,
    Auth,
    AxisVirtualInput,
    DahuaOutput,
    DahuaRecord,
    FrigateEvent,
    GenericHttp,
    HikvisionOutput,
    HikvisionRecord,
)
from app.network.actions.send import ActionResult, run_action
from tests.actions.peer import Reply, running_peer

ISAPI_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\n'
    b"<requestURL>/ISAPI/System/IO/outputs/2/trigger</requestURL>\n"
    b"<statusCode>1</statusCode>\n<statusString>OK</statusString>\n"
    b"<subStatusCode>ok</subStatusCode>\n</ResponseStatus>\n"
)
ISAPI_INVALID = ISAPI_OK.replace(b"<statusCode>1<", b"<statusCode>4<").replace(
    b">ok<", b">invalidOperation<"
)
DIGEST = Auth(scheme="digest", user="admin", password=SecretStr("s3cret-Pass"))
BASIC = Auth(scheme="basic", user="admin", password=SecretStr("s3cret-Pass"))


def alarm_event(seq: int = 42, state: str = "alarm") -> Event:
    return Event(
        kind=Kind.INPUT,
        state=state,
        cause=Cause.INPUT,
        utc_us=1_765_000_000_123_000,
        mono_ns=1,
        boot_id="boot",
        clock_synced=True,
        channel="IN1",
        dvr_channel="CH1",
        source="IN1",
        seq=seq,
    )


def run(action: Action, phase: str = "alarm", ref: str | None = None) -> ActionResult:
    assert phase in ("alarm", "clear")
    return asyncio.run(run_action(action, phase, alarm_event(), "dev1-42", ref=ref))  # type: ignore[arg-type]


def test_hikvision_output_follows_isapi_with_digest() -> None:
    # Hikvision ISAPI Core Protocol: PUT /ISAPI/System/IO/outputs/<ID>/trigger, IOPortData.
    with running_peer("digest") as peer:
        peer.answer("PUT", "/ISAPI/System/IO/outputs/2/trigger", Reply(200, ISAPI_OK))
        action = HikvisionOutput(name="nvr", base_url=peer.url, auth=DIGEST, output_id=2)
        on = run(action, "alarm")
        off = run(action, "clear")
    assert on.ok and off.ok, (on, off)
    bodies = [seen.body.decode() for seen in peer.authorized_requests()]
    assert len(bodies) == 2
    assert "<outputState>high</outputState>" in bodies[0]
    assert "<outputState>low</outputState>" in bodies[1]
    assert all('<IOPortData version="2.0"' in body for body in bodies)
    # the first try of each was refused and answered with a Digest challenge
    assert [seen.authorized for seen in peer.seen] == [False, True, False, True]
    assert peer.authorized_requests()[0].headers["Content-Type"] == "application/xml"


def test_hikvision_refusal_is_reported_not_retried() -> None:
    with running_peer("digest") as peer:
        peer.answer("PUT", "/ISAPI/System/IO/outputs/2/trigger", Reply(200, ISAPI_INVALID))
        result = run(HikvisionOutput(name="nvr", base_url=peer.url, auth=DIGEST, output_id=2))
    assert not result.ok
    assert result.attempts == 1
    assert "statusCode 4" in result.summary and "invalidOperation" in result.summary


def test_hikvision_manual_recording_uses_the_main_stream_track() -> None:
    # Hikvision ISAPI: /ISAPI/ContentMgmt/record/control/manual/start|stop/tracks/<ch*100+1>
    with running_peer("digest") as peer:
        for verb in ("start", "stop"):
            peer.answer(
                "PUT",
                f"/ISAPI/ContentMgmt/record/control/manual/{verb}/tracks/301",
                Reply(200, ISAPI_OK),
            )
        action = HikvisionRecord(name="rec", base_url=peer.url, auth=DIGEST, channel=3)
        assert run(action, "alarm").ok
        assert run(action, "clear").ok
    targets = [seen.target for seen in peer.authorized_requests()]
    assert targets == [
        "/ISAPI/ContentMgmt/record/control/manual/start/tracks/301",
        "/ISAPI/ContentMgmt/record/control/manual/stop/tracks/301",
    ]


def test_dahua_alarm_output_and_record_mode_with_basic_auth() -> None:
    # Dahua HTTP API for IPC & NVR: configManager.cgi?action=setConfig&AlarmOut[i].Mode=1|0
    with running_peer("basic") as peer:
        base = "/cgi-bin/configManager.cgi?action=setConfig&"
        for query in ("AlarmOut[1].Mode=1", "AlarmOut[1].Mode=0", "RecordMode[2].Mode=1"):
            peer.answer("GET", base + query, Reply(200, b"OK\r\n"))
        output = DahuaOutput(name="dvr", base_url=peer.url, auth=BASIC, index=1)
        assert run(output, "alarm").ok
        assert run(output, "clear").ok
        assert run(DahuaRecord(name="rec", base_url=peer.url, auth=BASIC, channel=2)).ok
    targets = [seen.target for seen in peer.seen]
    assert targets == [
        base + "AlarmOut[1].Mode=1",
        base + "AlarmOut[1].Mode=0",
        base + "RecordMode[2].Mode=1",
    ]
    assert all(seen.authorized for seen in peer.seen)  # Basic is sent up front


def test_dahua_error_answer_is_a_refusal() -> None:
    with running_peer("basic") as peer:
        peer.answer(
            "GET",
            "/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=1",
            Reply(200, b"Error\r\nBad Request!\r\n"),
        )
        result = run(DahuaOutput(name="dvr", base_url=peer.url, auth=BASIC))
    assert not result.ok and result.summary.startswith("refused: Error")


def test_axis_virtual_input_activate_and_deactivate() -> None:
    # Axis VAPIX virtual input API: /axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=N
    with running_peer("digest") as peer:
        for verb in ("activate", "deactivate"):
            peer.answer(
                "GET",
                f"/axis-cgi/virtualinput/{verb}.cgi?schemaversion=1&port=5",
                Reply(200, b"<StateChanged>true</StateChanged>", "text/xml"),
            )
        action = AxisVirtualInput(name="cam", base_url=peer.url, auth=DIGEST, port=5)
        assert run(action, "alarm").ok
        assert run(action, "clear").ok
    assert [seen.target.split("?")[0] for seen in peer.authorized_requests()] == [
        "/axis-cgi/virtualinput/activate.cgi",
        "/axis-cgi/virtualinput/deactivate.cgi",
    ]


def test_frigate_event_is_created_and_ended_with_its_id() -> None:
    # Frigate HTTP API: POST /api/events/<camera>/<label>/create, PUT /api/events/<id>/end
    created = {"success": True, "message": "Successfully created event.", "event_id": "1733.5-abc"}
    with running_peer() as peer:
        peer.answer(
            "POST",
            "/api/events/front_door/alarm/create",
            Reply(200, json.dumps(created).encode(), "application/json"),
        )
        peer.answer("PUT", "/api/events/1733.5-abc/end", Reply(200, b'{"success": true}'))
        action = FrigateEvent(name="frigate", base_url=peer.url, camera="front_door")
        on = run(action, "alarm")
        off = run(action, "clear", ref=on.ref)
        nothing = run(action, "clear", ref=None)
    assert on.ok and on.ref == "1733.5-abc"
    assert off.ok and off.sent
    assert nothing.ok and not nothing.sent and nothing.attempts == 0
    body = json.loads(peer.seen[0].body)
    assert body == {
        "source_type": "api",
        "sub_label": "AlarmBridge IN1 alarm (#42)",
        "duration": None,
        "include_recording": True,
    }
    assert [seen.target for seen in peer.seen] == [
        "/api/events/front_door/alarm/create",
        "/api/events/1733.5-abc/end",
    ]


def test_generic_http_fills_the_event_fields() -> None:
    with running_peer() as peer:
        peer.answer("PUT", "/hooks/IN1?seq=42", Reply(204))
        action = GenericHttp(
            name="vms",
            base_url=peer.url,
            method="PUT",
            path="/hooks/$channel?seq=$seq",
            headers={"X-Alarm-Key": "$key"},
            alarm_body='{"input": "$channel", "state": "$state", "at": "$time", "x": "$unknown"}',
        )
        result = run(action)
        quiet = run(action, "clear")
    assert result.ok and result.summary == "HTTP 204"
    assert quiet.ok and not quiet.sent
    (seen,) = peer.seen
    assert seen.headers["X-Alarm-Key"] == "dev1-42"
    assert json.loads(seen.body) == {
        "input": "IN1",
        "state": "alarm",
        "at": "2025-12-06T05:46:40.123Z",
        "x": "$unknown",
    }


def test_wrong_password_is_reported_at_once() -> None:
    with running_peer("digest") as peer:
        wrong = Auth(scheme="digest", user="admin", password=SecretStr("wrong"))
        result = run(HikvisionOutput(name="nvr", base_url=peer.url, auth=wrong, retries=3))
    assert not result.ok
    assert result.summary.startswith("HTTP 401")
    assert result.attempts == 1


def test_server_errors_are_retried_until_one_passes() -> None:
    with running_peer("basic") as peer:
        target = "/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=1"
        peer.answer("GET", target, Reply(500, b"busy"), Reply(503), Reply(200, b"OK"))
        result = run(DahuaOutput(name="dvr", base_url=peer.url, auth=BASIC, retries=3))
    assert result.ok and result.attempts == 3


def test_a_recorder_that_hangs_times_out_and_fails_after_its_retries() -> None:
    with running_peer() as peer:
        peer.answer("PUT", "/ISAPI/System/IO/outputs/1/trigger", Reply(200, ISAPI_OK, delay_s=2.0))
        action = HikvisionOutput(name="nvr", base_url=peer.url, timeout_s=0.3, retries=1)
        result = run(action)
    assert not result.ok
    assert result.attempts == 2
    assert result.summary == "no answer within 0.3 s"


def test_a_refused_connection_says_where_it_tried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    result = run(DahuaOutput(name="dvr", base_url=f"http://127.0.0.1:{port}", retries=0))
    assert not result.ok
    assert result.summary.startswith(f"could not reach http://127.0.0.1:{port}")


def test_configuration_errors_are_clear() -> None:
    adapter: TypeAdapter[Action] = TypeAdapter(Action)
    with pytest.raises(ValidationError, match="is not an http:// or https:// address"):
        adapter.validate_python({"kind": "dahua-output", "name": "x", "base_url": "192.0.2.1"})
    with pytest.raises(ValidationError, match="kind"):
        adapter.validate_python({"kind": "teleport", "name": "x"})
    action = adapter.validate_python(
        {"kind": "hikvision-record", "name": "x", "base_url": "http://192.0.2.1/", "channel": 3}
    )
    assert isinstance(action, HikvisionRecord) and action.base_url == "http://192.0.2.1"
