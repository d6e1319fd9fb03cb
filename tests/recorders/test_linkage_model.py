"""The recorders document and the annotate command: clear errors, limits, the rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.clock import ManualClock
from app.events import Cause, Event, EventStamper, Kind, NewEvent
from app.io.annotate import Annotations
from app.io.commands import Annotate, InvalidCommandError, parse
from app.io.protocol import ControlError
from app.network.actions.linkage import (
    RecordersConfig,
    RecordersConfigError,
    load_recorders,
    parse_recorders,
)
from app.network.actions.model import FrigateEvent, HikvisionRecord, ZoneMinderTrigger
from app.network.actions.playback import hikvision_playback, recording_link
from app.network.actions.runner import phase_of
from tests.io.conftest import IoProc
from tests.network.conftest import wait_until
from tests.recorders.conftest import annotations_in, write_recorders

NVR = {"kind": "hikvision-record", "name": "NVR", "base_url": "http://192.0.2.10", "channel": 1}
CAM = {"kind": "http", "camera": "Gate", "url": "http://192.0.2.10/snap.jpg"}


def doc(**links: Any) -> dict[str, Any]:
    return {"actions": [NVR], "cameras": [CAM], "links": links}


def problem(data: Any, inputs: list[str] | None = None) -> str:
    with pytest.raises(RecordersConfigError) as caught:
        parse_recorders(data, inputs)
    return str(caught.value)


def test_a_link_names_known_actions_cameras_and_inputs() -> None:
    good = parse_recorders(doc(IN1={"on_alarm": ["NVR"], "cameras": ["Gate"]}), ["IN1", "IN2"])
    assert good.links["IN1"].offsets_s == [0.0, 2.0]  # at once and two seconds later
    assert good.action("NVR").channel == 1
    said = problem(doc(IN1={"on_alarm": ["NRV"], "on_clear": ["NVR"], "cameras": ["Door"]}))
    assert "links.IN1.on_alarm: no action 'NRV' (the actions: NVR)" in said
    assert "links.IN1.cameras: no camera 'Door' (the cameras: Gate)" in said
    assert "on_clear" not in said
    assert "links: no input 'IN9' (the inputs: IN1, IN2)" in problem(
        doc(IN9={"on_alarm": ["NVR"]}), ["IN1", "IN2"]
    )
    # without the io process's input names, the input is not checked (the runner says so)
    assert parse_recorders(doc(IN9={"on_alarm": ["NVR"]})).unknown_inputs(["IN1"]) == [
        "links: no input 'IN9' (the inputs: IN1)"
    ]


def test_names_offsets_and_limits_are_checked() -> None:
    twice = {"actions": [NVR, NVR], "cameras": [CAM, CAM]}
    said = problem(twice)
    assert "two actions named 'NVR'" in said and "two cameras named 'Gate'" in said
    assert "61 s is not from 0 to 60 s" in problem(doc(IN1={"offsets_s": [0, 61]}))
    assert "each offset once" in problem(doc(IN1={"offsets_s": [2, 2]}))
    assert "max_age_s" in problem({"max_age_s": 1})
    assert "evidence.quota_mb" in problem({"evidence": {"quota_mb": 0}})
    assert "surprise" in problem({"surprise": 1})
    assert RecordersConfig().links == {}


def test_the_file_errors_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(RecordersConfigError, match="cannot read the recorders file"):
        load_recorders(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(RecordersConfigError, match="is not JSON"):
        load_recorders(bad)
    good = write_recorders(tmp_path / "good.json", doc(IN1={"on_alarm": ["NVR"]}))
    assert load_recorders(good, ["IN1"]).links["IN1"].on_alarm == ["NVR"]


def test_what_sets_a_link_going() -> None:
    stamper = EventStamper("boot", ManualClock())

    def event(kind: Kind, state: str, cause: Cause = Cause.INPUT) -> Event:
        made = stamper.make(kind, state, cause, channel="IN1")
        return Event(**{f: getattr(made, f) for f in made.__dataclass_fields__}, seq=1)

    assert phase_of(event(Kind.INPUT, "alarm")) == "alarm"
    assert phase_of(event(Kind.INPUT, "normal")) == "clear"
    assert phase_of(event(Kind.INPUT, "alarm-not-armed")) is None  # like the relays
    assert phase_of(event(Kind.INPUT, "alarm-bypassed")) is None
    assert phase_of(event(Kind.INPUT, "normal", Cause.CONFIG)) is None  # a config change
    assert phase_of(event(Kind.OUTPUT, "active")) is None
    frigate = FrigateEvent(name="F", base_url="http://f:5000", camera="front")
    assert recording_link(frigate, "1.5-ab") == "http://f:5000/api/events/1.5-ab/clip.mp4"
    zm = ZoneMinderTrigger(name="ZM", host="zm.lan", monitor=2)
    assert recording_link(zm, "77") == "http://zm.lan/zm/index.php?view=event&eid=77"
    assert recording_link(frigate, None) is None


def test_annotate_is_strict_about_what_it_logs() -> None:
    base = {"event": 5, "what": "snapshot", "name": "Gate", "ok": True}
    assert parse("annotate", base) == Annotate(event=5, what="snapshot", name="Gate", ok=True)
    assert "sha256" in str(_refused({**base, "sha256": "ABC"}))
    assert "link" in str(_refused({**base, "link": "javascript:alert(1)"}))
    assert "what" in str(_refused({**base, "what": "anything"}))
    assert "summary" in str(_refused({**base, "summary": "x" * 301}))
    assert "name" in str(_refused({**base, "name": "a\nforged line"}))
    assert "event must be a whole number of 1 or more" in str(_refused({**base, "event": 0}))


def _refused(arguments: dict[str, Any]) -> InvalidCommandError:
    with pytest.raises(InvalidCommandError) as caught:
        parse("annotate", arguments)
    return caught.value


def test_the_rate_limit_drops_and_counts_then_says_how_many() -> None:
    written: list[NewEvent] = []
    now = [0.0]
    limit = Annotations(
        EventStamper("boot", ManualClock()),
        written.append,
        rate_per_s=10,
        burst=5,
        monotonic=lambda: now[0],
    )
    command = Annotate(event=3, what="network-action", name="NVR", ok=False, summary="HTTP 500")
    answers = [limit.handle(command).changed for _ in range(8)]
    assert answers == [True] * 5 + [False] * 3
    assert len(written) == 5
    now[0] += 0.1  # one token back
    assert limit.handle(command).changed
    assert [e.state for e in written[5:]] == ["annotations-dropped", "network-action"]
    assert written[5].detail == {"dropped": 3, "limit": "10/s, bursts of 5"}
    assert written[6].detail == {
        "event": 3,
        "ok": False,
        "summary": "HTTP 500",
        "attempts": 0,
        "elapsed_ms": 0,
    }
    assert written[6].source == "NVR"


def test_the_io_process_logs_an_annotation_against_its_event(io_proc: IoProc) -> None:
    sha = "ab" * 32
    annotation = Annotate(
        event=1, what="snapshot", name="Gate", channel="IN1", ok=True, sha256=sha, size=1234
    )
    assert io_proc.client.send(annotation).changed  # submitted; the writer commits it soon
    wait_until(lambda: annotations_in(io_proc, 1), 10, "the annotation committed")
    (row,) = annotations_in(io_proc, 1)
    assert (row.kind, row.state, row.channel, row.source) == ("system", "snapshot", "IN1", "Gate")
    assert row.detail == {
        "event": 1,
        "ok": True,
        "summary": "",
        "attempts": 0,
        "elapsed_ms": 0,
        "sha256": sha,
        "size": 1234,
    }
    with pytest.raises(ControlError, match="sha256"):
        io_proc.client.request("annotate", event=1, what="snapshot", name="G", ok=True, sha256="x")


def test_hikvision_playback_link_is_on_the_recorders_clock() -> None:
    # Hikvision's RTSP playback URI (ISAPI ContentMgmt's playbackURI form):
    # rtsp://<host>:<port>/Streaming/tracks/<ch>01?starttime=YYYYMMDDTHHMMSSZ
    alarm_us = 1_765_000_000_123_000  # 2025-12-06T05:46:40.123Z
    nvr = HikvisionRecord(
        name="NVR", base_url="https://admin@192.0.2.10:8443", channel=12, rtsp_port=5554
    )
    assert hikvision_playback(nvr, alarm_us) == (
        "rtsp://192.0.2.10:5554/Streaming/tracks/1201?starttime=20251206T054630Z"
    )
    tokyo = nvr.model_copy(update={"recorder_tz": "Asia/Tokyo", "playback_preroll_s": 0})
    assert hikvision_playback(tokyo, alarm_us).endswith("?starttime=20251206T144640Z")
    v6 = HikvisionRecord(name="v6", base_url="http://[2001:db8::5]", channel=1)
    assert hikvision_playback(v6, alarm_us).startswith("rtsp://[2001:db8::5]:554/")
    with pytest.raises(ValidationError, match="is not a time zone name"):
        HikvisionRecord(name="x", base_url="http://h", channel=1, recorder_tz="Mars/Base")
    # the link is accepted by io's annotate (rtsp://), a javascript: one is not
    base = {"event": 5, "what": "network-action", "name": "NVR", "ok": True}
    link = hikvision_playback(nvr, alarm_us)
    expected = Annotate(event=5, what="network-action", name="NVR", ok=True, link=link)
    assert parse("annotate", {**base, "link": link}) == expected
