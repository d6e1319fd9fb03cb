"""The recorders' section of the stored network settings (app.network.netrecorders,
app.network.netsettings): its passwords (in ``auth`` and in a URL's userinfo) masked
on the way out, paired by name on the way in, stored in clear in the network
process's own file, and the rule beside ALARMBRIDGE_RECORDERS_FILE (#20)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.network.netbuild import clashes
from app.network.netrecorders import url_password, with_password
from app.network.netsettings import MASK, NetSettings, SettingsProblemsError, masked, parse
from app.network.netstore import SettingsStore

NVR_PASSWORD = "nvr:pass@word"  # a colon and an at sign: percent-encoded in a URL
RTSP_PASSWORD = "p%40ss%3Aw0rd"  # as written in the URL (p@ss:w0rd)


def section() -> dict[str, Any]:
    auth = {"scheme": "digest", "user": "admin", "password": NVR_PASSWORD}
    return {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR",
                "base_url": "http://192.0.2.9",
                "channel": 1,
                "auth": auth,
            },
            {
                "kind": "dahua-output",
                "name": "Dahua",
                "base_url": "http://u:dahua-pw@192.0.2.8:8080",
            },
            {"kind": "generic-event", "name": "VMS", "host": "192.0.2.7"},
        ],
        "cameras": [
            {
                "kind": "rtsp",
                "camera": "Gate",
                "url": f"rtsp://viewer:{RTSP_PASSWORD}@192.0.2.6:554/s1",
            },
            {"kind": "http", "camera": "Door", "url": "http://192.0.2.9/pic", "auth": auth},
            {"kind": "rtsp", "camera": "Open", "url": "rtsp://192.0.2.5/s1"},
        ],
        "links": {"IN1": {"on_alarm": ["NVR", "VMS"], "cameras": ["Gate", "Door"]}},
    }


def test_every_password_is_masked_and_nothing_else() -> None:
    stored = parse({"recorders": section()}, NetSettings())
    shown = masked(stored)["recorders"]
    text = json.dumps(shown)
    for secret in (NVR_PASSWORD, "dahua-pw", RTSP_PASSWORD):
        assert secret not in text
    assert shown["actions"][0]["auth"] == {"scheme": "digest", "user": "admin", "password": MASK}
    assert shown["actions"][1]["base_url"] == f"http://u:{MASK}@192.0.2.8:8080"
    assert shown["actions"][2] == {**section()["actions"][2], **shown["actions"][2]}
    assert shown["cameras"][0]["url"] == f"rtsp://viewer:{MASK}@192.0.2.6:554/s1"
    assert shown["cameras"][1]["auth"]["password"] == MASK
    assert shown["cameras"][2]["url"] == "rtsp://192.0.2.5/s1"  # no password: as it is
    assert shown["links"]["IN1"]["cameras"] == ["Gate", "Door"]


def test_the_masked_document_sent_back_reordered_keeps_each_password_by_name() -> None:
    stored = parse({"recorders": section()}, NetSettings())
    doc = masked(stored)
    doc["recorders"]["actions"].reverse()
    doc["recorders"]["cameras"].reverse()
    again = parse(doc, stored).recorders
    nvr, dahua = again.action("NVR"), again.action("Dahua")
    assert nvr.auth.password.get_secret_value() == NVR_PASSWORD
    assert dahua.base_url == "http://u:dahua-pw@192.0.2.8:8080"
    assert again.camera("Gate").url == f"rtsp://viewer:{RTSP_PASSWORD}@192.0.2.6:554/s1"
    assert again.camera("Door").auth.password.get_secret_value() == NVR_PASSWORD
    # a host changed beside a kept password: the password stays with its camera
    doc["recorders"]["cameras"][-1]["url"] = f"rtsp://viewer:{MASK}@192.0.2.60/s2"
    assert parse(doc, stored).recorders.camera("Gate").url == (
        f"rtsp://viewer:{RTSP_PASSWORD}@192.0.2.60/s2"
    )


def test_a_mask_with_nothing_stored_names_each_field() -> None:
    stored = parse({"recorders": section()}, NetSettings())
    doc = masked(stored)
    doc["recorders"]["actions"][0]["name"] = "Renamed NVR"  # another name: not paired
    doc["recorders"]["links"]["IN1"]["on_alarm"] = ["Renamed NVR"]
    doc["recorders"]["cameras"][0]["camera"] = "Renamed gate"
    doc["recorders"]["links"]["IN1"]["cameras"] = ["Renamed gate", "Door"]
    with pytest.raises(SettingsProblemsError) as caught:
        parse(doc, stored)
    assert {p["field"] for p in caught.value.problems} == {
        "recorders.actions.0.auth.password",
        "recorders.cameras.0.url",
    }
    with pytest.raises(SettingsProblemsError) as caught:
        parse(masked(stored), NetSettings())  # an export onto another appliance
    assert len(caught.value.problems) == 4


def test_wrong_references_and_fields_are_named_by_path() -> None:
    doc = section()
    doc["links"]["IN1"]["on_clear"] = ["Nope"]
    doc["links"]["IN2"] = {"cameras": ["Nowhere"], "offsets_s": [90]}
    doc["cameras"][2]["url"] = "http://not-rtsp/"
    with pytest.raises(SettingsProblemsError) as caught:
        parse({"recorders": doc}, NetSettings())
    fields = {p["field"] for p in caught.value.problems}
    assert "recorders.cameras.2.rtsp.url" in fields
    assert "recorders.links.IN2.offsets_s" in fields
    doc["cameras"][2]["url"] = "rtsp://192.0.2.5/s1"
    doc["links"]["IN2"]["offsets_s"] = [0]
    with pytest.raises(SettingsProblemsError) as caught:
        parse({"recorders": doc}, NetSettings())
    problems = {p["field"]: p["message"] for p in caught.value.problems}
    assert problems == {
        "recorders.links.IN1.on_clear": "no action 'Nope' (the actions: Dahua, NVR, VMS)",
        "recorders.links.IN2.cameras": "no camera 'Nowhere' (the cameras: Door, Gate, Open)",
    }


def test_stored_with_its_passwords_in_the_network_processs_own_file(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "network.db")
    try:
        settings = parse({"recorders": section()}, NetSettings())
        store.save(settings, "admin")
        loaded, version = store.load()
    finally:
        store.close()
    assert version == 1 and loaded == settings
    assert loaded.recorders.action("NVR").auth.password.get_secret_value() == NVR_PASSWORD
    with sqlite3.connect(tmp_path / "network.db") as db:
        (text,) = db.execute("SELECT document FROM net_settings").fetchone()
    assert NVR_PASSWORD in text  # in clear in its own file, as the other secrets


def test_an_older_document_without_the_section_loads_empty() -> None:
    old: dict[str, Any] = {"mqtt": {}, "webhooks": [], "mail": {}, "apprise": {}, "sia": {}}
    loaded = NetSettings.model_validate(old)
    assert loaded.recorders.actions == [] and loaded.recorders.links == {}


def test_the_file_refuses_a_stored_section_that_configures_anything() -> None:
    env = {"recorders": "ALARMBRIDGE_RECORDERS_FILE"}
    settings = parse({"recorders": section()}, NetSettings())
    (problem,) = clashes(settings, env)
    assert problem["field"] == "recorders"
    assert "ALARMBRIDGE_RECORDERS_FILE" in problem["message"]
    assert clashes(NetSettings(), env) == []
    assert clashes(settings, {}) == []


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("rtsp://u:pw@h/x", "pw"),
        ("rtsp://u@h/x", None),
        ("rtsp://h/x", None),
        ("http://u:@h", None),
        ("http://u:a%40b@[2001:db8::1]:80/p", "a%40b"),
    ],
)
def test_a_urls_password(url: str, password: str | None) -> None:
    assert url_password(url) == password
    if password is not None:
        assert url_password(with_password(url, MASK)) == MASK
        assert with_password(with_password(url, MASK), password) == url
