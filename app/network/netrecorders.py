"""The recorders' section of the stored network settings (app.network.netsettings):
where its secrets are, how it is stored with them, and the rule beside
``ALARMBRIDGE_RECORDERS_FILE`` (issue #20, ADR 0017).

The section is :class:`~app.network.actions.linkage.RecordersConfig`, the same
document the file holds. Its secrets are each HTTP action's and HTTP camera's
``auth.password``, and a password written in an action's ``base_url`` or a camera's
``url`` (``rtsp://user:pass@host/...``). They are paired across two documents by
the action's or camera's name, so reordering the lists keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from app.network.actions.linkage import RecordersConfig

VARIABLE = "ALARMBRIDGE_RECORDERS_FILE"

#: (field path, the dict holding it, its key, an identity): as netsettings._secret_slots
Slot = tuple[str, dict[str, Any], str, str]


def revealed(config: RecordersConfig) -> dict[str, Any]:
    """The section as JSON with its passwords in clear (pydantic writes a SecretStr as
    stars): what is stored, fingerprinted and compared, never shown."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        raise TypeError(f"{type(value).__name__} is not JSON")

    data: dict[str, Any] = json.loads(json.dumps(config.model_dump(mode="python"), default=plain))
    return data


def configures_anything(config: RecordersConfig) -> bool:
    return bool(config.actions or config.cameras or config.links)


def _named(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(path, item, identity) for each action and camera of a raw recorders section."""
    for listed, key, what in (("actions", "name", "action"), ("cameras", "camera", "camera")):
        items = doc.get(listed)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield f"recorders.{listed}.{i}", item, f"recorders-{what}:{item.get(key)}"


def password_slots(doc: dict[str, Any]) -> Iterator[Slot]:
    """Each ``auth.password`` of a raw document's recorders section."""
    section = doc.get("recorders")
    if not isinstance(section, dict):
        return
    for path, item, ident in _named(section):
        auth = item.get("auth")
        if isinstance(auth, dict):
            yield f"{path}.auth.password", auth, "password", ident


def url_slots(doc: dict[str, Any]) -> Iterator[Slot]:
    """Each URL of the recorders section that may hold a password in its userinfo."""
    section = doc.get("recorders")
    if not isinstance(section, dict):
        return
    for path, item, ident in _named(section):
        for key in ("base_url", "url"):
            if isinstance(item.get(key), str):
                yield f"{path}.{key}", item, key, f"{ident}:{key}"


def url_password(url: str) -> str | None:
    """The password written in ``url``'s userinfo (as written: percent-encoded), if any."""
    userinfo, at, _ = _netloc(url).rpartition("@")
    if not at:
        return None
    _, colon, password = userinfo.partition(":")
    return password if colon and password else None


def with_password(url: str, password: str) -> str:
    """``url`` with the password of its userinfo replaced (it has one)."""
    scheme, sep, rest = url.partition("://")
    netloc = _netloc(url)
    userinfo, _, hostport = netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:{password}@{hostport}{rest[len(netloc) :]}"


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""


def env_clash(config: RecordersConfig, variable: str = VARIABLE) -> dict[str, str] | None:
    """The problem of a stored section that configures anything while the file runs."""
    if not configures_anything(config):
        return None
    return {
        "field": "recorders",
        "message": f"the recorders are set by the environment ({variable}) on this appliance: "
        "leave this section empty, or remove the variable and restart alarmbridge-network",
    }


def input_problems(config: RecordersConfig, inputs: list[str]) -> list[dict[str, str]]:
    """Each link whose input is not one of the io process's (named by its field)."""
    known = ", ".join(sorted(inputs)) or "none"
    return [
        {"field": f"recorders.links.{name}", "message": f"no input {name!r} (the inputs: {known})"}
        for name in config.links
        if name not in inputs
    ]
