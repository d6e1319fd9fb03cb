"""The stored network settings document (app.network.netsettings): strict, every
error naming its field, secrets masked on the way out and kept on the way in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.network.netbuild import clashes
from app.network.netsettings import (
    MASK,
    NetSettings,
    SettingsProblemsError,
    masked,
    parse,
)
from app.network.netstore import SettingsStore

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = "0123456789abcdef"


def full() -> dict[str, Any]:
    return {
        "mqtt": {
            "enabled": True,
            "url": "mqtts://broker.lan:8883",
            "username": "site",
            "password": "mqtt pass",
        },
        "webhooks": [
            {"name": "vms", "url": "https://vms.lan/a", "secret": SECRET},
            {"name": "psim", "url": "https://psim.lan/b", "secret": ""},
        ],
        "mail": {
            "enabled": True,
            "host": "mail.example.com",
            "username": "ops@example.com",
            "password": "mail pass",
            "to": ["ops@example.com"],
        },
        "apprise": {"enabled": True, "url": "ntfy://ntfy.sh/topic-with-token"},
        "sia": {
            "sender": {"enabled": True, "primary": {"host": "arc.lan", "port": 12000}, "key": KEY},
            "receiver": {"accounts": [{"account": "1234", "key": KEY}, {"account": "abc"}]},
        },
    }


def problems(doc: Any, stored: NetSettings | None = None) -> dict[str, str]:
    with pytest.raises(SettingsProblemsError) as caught:
        parse(doc, stored or NetSettings())
    return {p["field"]: p["message"] for p in caught.value.problems}


def test_every_secret_is_masked_and_kept_when_sent_back_masked() -> None:
    stored = parse(full(), NetSettings())
    shown = masked(stored)
    text = str(shown)
    for secret in ("mqtt pass", "mail pass", SECRET, "topic-with-token", KEY):
        assert secret not in text
    assert shown["mqtt"]["password"] == MASK
    assert shown["webhooks"][0]["secret"] == MASK
    assert shown["webhooks"][1]["secret"] == ""  # not set: not masked
    assert shown["sia"]["receiver"]["accounts"][0]["key"] == MASK
    assert shown["sia"]["receiver"]["accounts"][1]["key"] is None
    # sent back masked, and reordered: each secret follows its webhook / account
    shown["webhooks"].reverse()
    shown["sia"]["receiver"]["accounts"].reverse()
    again = parse(shown, stored)
    assert again.webhooks[1].secret == SECRET
    assert again.sia.receiver.accounts[1].key == KEY
    assert again.mqtt.password == "mqtt pass"
    assert again.apprise.url == "ntfy://ntfy.sh/topic-with-token"


def test_a_masked_secret_with_nothing_stored_names_each_field() -> None:
    shown = masked(parse(full(), NetSettings()))
    shown["webhooks"][0]["name"] = "renamed"
    found = problems(shown, parse(full(), NetSettings()))
    assert list(found) == ["webhooks.0.secret"]
    assert "type the secret again" in found["webhooks.0.secret"]
    elsewhere = problems(masked(parse(full(), NetSettings())))  # another appliance
    assert set(elsewhere) == {
        "mqtt.password",
        "mail.password",
        "apprise.url",
        "webhooks.0.secret",
        "sia.sender.key",
        "sia.receiver.accounts.0.key",
    }


def test_every_problem_names_its_field() -> None:
    doc = full()
    doc["mqtt"]["url"] = "mqtt://user:pw@broker.lan"
    doc["webhooks"][0]["secret"] = "whsec_short"
    doc["webhooks"][1]["name"] = "mqtt"
    doc["mail"]["security"] = "none"
    doc["apprise"]["per_minute"] = "5"
    doc["sia"]["receiver"]["accounts"][0]["key"] = "short"
    doc["extra"] = 1
    found = problems(doc)
    assert set(found) == {
        "mqtt.url",
        "webhooks.0.secret",
        "webhooks.1.name",
        "mail.security",
        "apprise.per_minute",
        "sia.receiver.accounts.0.key",
        "extra",
    }, found
    assert "username and password fields" in found["mqtt.url"]
    assert "in clear" in found["mail.security"]
    assert problems([]) == {"": "the settings are a JSON object"}
    same = full()
    same["webhooks"][1]["name"] = "vms"
    assert "used twice" in problems(same)["webhooks"]


def test_a_destination_the_environment_sets_clashes() -> None:
    doc = parse(full(), NetSettings())
    env = {"mqtt": "ALARMBRIDGE_MQTT_URL", "vms": "x", "sia": "ALARMBRIDGE_SIA_FILE"}
    fields = [c["field"] for c in clashes(doc, env)]
    assert fields == ["mqtt.enabled", "webhooks.0.name", "sia"]
    doc.mqtt.enabled = False
    assert "mqtt.enabled" not in [c["field"] for c in clashes(doc, env)]


def test_the_store_keeps_one_document_and_counts_versions(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "network.db")
    try:
        assert store.load() == (NetSettings(), 0)
        doc = parse(full(), NetSettings())
        assert store.save(doc, "ann") == 1
        assert store.save(doc, "ann") == 2
    finally:
        store.close()
    again = SettingsStore(tmp_path / "network.db")
    try:
        assert again.load() == (doc, 2)
    finally:
        again.close()
