"""MQTT topics and payloads, and the Home Assistant discovery document.

Topics (``<prefix>`` is ``alarmbridge/<device id>`` unless set; docs/integrations.md):

* ``<prefix>/availability``: ``online`` / ``offline`` (retained; ``offline`` is the
  last will, so it shows when the appliance goes away without a word);
* ``<prefix>/input/<slug>/state``: ``ON`` (in alarm) / ``OFF`` (retained);
* ``<prefix>/output/<slug>/state``: ``ON`` (active) / ``OFF`` (retained);
* ``<prefix>/fault/state``: ``ON`` while any fault is active (retained), its list in
  ``<prefix>/fault/attributes`` (retained JSON);
* ``<prefix>/event``: one JSON object per log row (not retained), with ``seq`` and
  ``key`` (the idempotency key ``<device id>-<seq>``);
* ``<prefix>/input/<slug>/event``: each change of that input (not retained), as
  Home Assistant's MQTT ``event`` entity reads it: ``{"event_type": "alarm", ...}``;
* commands (only with ``mqtt_commands`` on): ``<prefix>/output/<slug>/set``
  (``ON``: start until stopped, ``OFF``: stop), ``<prefix>/trigger/press``, and
  ``<prefix>/virtual/<slug or v1..v8>/set`` (a virtual input: ``ON`` active, ``OFF``
  normal, ``PULSE <seconds>``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from app import __version__
from app.events import Event, Kind

ON, OFF = "ON", "OFF"
#: binary_sensor device classes per input kind (app.config.InputKind)
DEVICE_CLASS = {"alarm": "motion", "24h": "safety", "dvr": "motion", "armed-state": None}
#: Home Assistant ``event`` entity: the event type of each input state in the log
EVENT_TYPE = {
    "alarm": "alarm",
    "alarm-not-armed": "alarm_not_armed",
    "alarm-bypassed": "alarm_bypassed",
    "normal": "restore",
    "armed": "armed",
    "disarmed": "disarmed",
}
#: the event types an input of each kind can fire (HA ignores any other)
EVENT_TYPES = {
    "alarm": ["alarm", "alarm_not_armed", "alarm_bypassed", "restore", "armed", "disarmed"],
    "24h": ["alarm", "alarm_bypassed", "restore"],
    "dvr": ["alarm", "alarm_bypassed", "restore"],
    "armed-state": ["armed", "disarmed"],
}
#: the event entity's device class (HA knows button, doorbell and motion)
EVENT_DEVICE_CLASS = {"alarm": "motion", "dvr": "motion"}


def slug(name: str) -> str:
    """A channel's name as one topic level: lower case, ``_`` for anything else.

    >>> slug("Front door #2")
    'front_door_2'
    """
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "_"


def event_payload(key: str, event: Event, device_id: str) -> bytes:
    """The JSON of ``<prefix>/event``: the log row, its idempotency key, the device."""
    return json.dumps(
        {"key": key, "device_id": device_id, **event.to_json()}, separators=(",", ":")
    ).encode()


def input_event(prefix: str, key: str, event: Event) -> tuple[str, bytes] | None:
    """An input's change for its Home Assistant ``event`` entity: ``(topic, payload)``
    with the ``event_type`` and, as the event's attributes, its key, seq, state, cause,
    source and time; None for any other row."""
    if event.kind is not Kind.INPUT or not event.channel:
        return None
    event_type = EVENT_TYPE.get(event.state)
    if event_type is None:
        return None
    payload = {
        "event_type": event_type,
        "key": key,
        "seq": event.seq,
        "state": event.state,
        "cause": str(event.cause),
        "source": event.source,
        "utc_us": event.utc_us,
    }
    topic = f"{prefix}/input/{slug(event.channel)}/event"
    return topic, json.dumps(payload, separators=(",", ":")).encode()


def input_on(state: str) -> bool | None:
    """An input event's state as ON (alarm) / OFF (normal), None for the others."""
    if state.startswith("alarm"):
        return True
    if state == "normal":
        return False
    return None


def state_updates(
    prefix: str, event: Event, faults: dict[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    """The retained state topics an event changes (``faults`` is updated in place)."""
    if event.kind is Kind.INPUT and event.channel:
        on = input_on(event.state)
        if on is not None:
            return [(f"{prefix}/input/{slug(event.channel)}/state", ON if on else OFF)]
    if event.kind is Kind.OUTPUT and event.channel and event.state in ("active", "idle"):
        value = ON if event.state == "active" else OFF
        return [(f"{prefix}/output/{slug(event.channel)}/state", value)]
    if event.kind is Kind.FAULT:
        detail = event.detail or {}
        key = f"{event.channel or ''}:{detail.get('code', '')}"
        if event.state == "raised":
            faults[key] = {"code": detail.get("code"), "message": detail.get("message")}
        elif event.state == "cleared":
            faults.pop(key, None)
        return fault_topics(prefix, faults)
    return []


def fault_topics(prefix: str, faults: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    attributes = json.dumps({"faults": list(faults.values())}, separators=(",", ":"))
    return [
        (f"{prefix}/fault/state", ON if faults else OFF),
        (f"{prefix}/fault/attributes", attributes),
    ]


def status_topics(
    prefix: str, status: dict[str, Any]
) -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """Every retained state topic from the io process's ``status`` (at connect)."""
    topics = [
        (f"{prefix}/input/{slug(i['name'])}/state", ON if i.get("alarm") else OFF)
        for i in status.get("inputs", [])
    ]
    topics += [
        (f"{prefix}/output/{slug(o['name'])}/state", ON if o.get("active") else OFF)
        for o in status.get("outputs", [])
    ]
    faults = {
        f["key"]: {"code": f.get("code"), "message": f.get("message")}
        for f in status.get("faults", [])
    }
    return topics + fault_topics(prefix, faults), faults


def discovery(
    device_id: str, prefix: str, discovery_prefix: str, status: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Home Assistant's device discovery: ``(topic, document)`` for
    ``homeassistant/device/<device id>/config``, one device block with every entity."""
    components: dict[str, dict[str, Any]] = {}
    for i in status.get("inputs", []):
        s = slug(i["name"])
        entity: dict[str, Any] = {
            "p": "binary_sensor",
            "name": i["name"],
            "unique_id": f"{device_id}_input_{s}",
            "state_topic": f"{prefix}/input/{s}/state",
        }
        kind = str(i.get("kind"))
        if device_class := DEVICE_CLASS.get(kind):
            entity["device_class"] = device_class
        components[f"input_{s}"] = entity
        happened: dict[str, Any] = {  # for automations: one trigger per alarm
            "p": "event",
            "name": f"{i['name']} event",
            "unique_id": f"{device_id}_input_{s}_event",
            "state_topic": f"{prefix}/input/{s}/event",
            "event_types": EVENT_TYPES.get(kind, sorted(set(EVENT_TYPE.values()))),
        }
        if device_class := EVENT_DEVICE_CLASS.get(kind):
            happened["device_class"] = device_class
        components[f"input_{s}_event"] = happened
    for o in status.get("outputs", []):
        s = slug(o["name"])
        components[f"output_{s}"] = {
            "p": "switch",
            "name": o["name"],
            "unique_id": f"{device_id}_output_{s}",
            "state_topic": f"{prefix}/output/{s}/state",
            "command_topic": f"{prefix}/output/{s}/set",
        }
    components["trigger"] = {
        "p": "button",
        "name": "Manual trigger",
        "unique_id": f"{device_id}_trigger",
        "command_topic": f"{prefix}/trigger/press",
    }
    components["fault"] = {
        "p": "binary_sensor",
        "name": "Fault",
        "unique_id": f"{device_id}_fault",
        "device_class": "problem",
        "entity_category": "diagnostic",
        "state_topic": f"{prefix}/fault/state",
        "json_attributes_topic": f"{prefix}/fault/attributes",
    }
    document = {
        "dev": {
            "ids": [device_id],
            "name": f"AlarmBridge {device_id}",
            "mf": "AlarmBridge",
            "mdl": str(status.get("board") or "AlarmBridge"),
            "sw": __version__,
        },
        "o": {"name": "alarmbridge", "sw": __version__},
        "availability_topic": f"{prefix}/availability",
        "qos": 1,
        "cmps": components,
    }
    return f"{discovery_prefix}/device/{device_id}/config", document
