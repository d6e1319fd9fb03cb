"""A configuration change in words: the ``config changed`` event carries the whole
old and new configuration; an auditor wants "IN1 contact NO -> NC, by admin"."""

from __future__ import annotations

from typing import Any


def _text(value: Any) -> str:
    """
    >>> _text(None), _text(True), _text([1, 2]), _text(""), _text(50)
    ('none', 'on', '1, 2', '(empty)', '50')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "none"
    if value == "":
        return "(empty)"
    return str(value)


def _fields(label: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new), key=lambda k: (k != "name", k)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) or isinstance(after, dict):
            changes.append(f"{label} {key} changed")
        else:
            changes.append(f"{label} {key} {_text(before)} -> {_text(after)}")
    return changes


def _schedules(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    before = {s["name"]: s for s in old}
    after = {s["name"]: s for s in new}
    changes = [f"schedule {name} added" for name in after if name not in before]
    changes += [f"schedule {name} removed" for name in before if name not in after]
    changes += [
        f"schedule {name} windows changed"
        for name in after
        if name in before and before[name] != after[name]
    ]
    return changes


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Each difference between two configuration documents, in words.

    >>> old = {"inputs": [{"name": "IN1", "contact": "NO"}], "outputs": [],
    ...        "button": {"action": "pulse", "duration_ms": 3000}, "healthy_output": None}
    >>> new = {"inputs": [{"name": "Door", "contact": "NC"}], "outputs": [],
    ...        "button": {"action": "pulse", "duration_ms": 5000}, "healthy_output": 4}
    >>> config_changes(old, new)
    ['IN1 name IN1 -> Door', 'IN1 contact NO -> NC', 'button duration_ms 3000 -> 5000', \
'healthy relay none -> output 4']
    """
    changes: list[str] = []
    for section in ("inputs", "outputs"):
        for before, after in zip(old.get(section) or [], new.get(section) or [], strict=False):
            changes += _fields(str(before.get("name")), before, after)
    changes += _fields("button", old.get("button") or {}, new.get("button") or {})
    if old.get("healthy_output") != new.get("healthy_output"):

        def relay(n: Any) -> str:
            return "none" if n is None else f"output {n}"

        changes.append(
            f"healthy relay {relay(old.get('healthy_output'))} -> "
            f"{relay(new.get('healthy_output'))}"
        )
    changes += _schedules(old.get("schedules") or [], new.get("schedules") or [])
    other = sorted(
        k
        for k in set(old) | set(new)
        if k not in ("inputs", "outputs", "button", "healthy_output", "schedules")
        and old.get(k) != new.get(k)
    )
    changes += [f"{k} {_text(old.get(k))} -> {_text(new.get(k))}" for k in other]
    return changes


def change_summary(detail: dict[str, Any], who: str | None, shown: int = 3) -> str:
    """One line for the event table: the first few changes and who made them.

    >>> change_summary({"old": {"inputs": [{"name": "IN1", "contact": "NO"}]},
    ...                 "new": {"inputs": [{"name": "IN1", "contact": "NC"}]}}, "admin")
    'IN1 contact NO -> NC, by admin'
    """
    old, new = detail.get("old"), detail.get("new")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return "by " + who if who else ""
    changes = config_changes(old, new) or ["no difference"]
    text = "; ".join(changes[:shown])
    if len(changes) > shown:
        text += f" (and {len(changes) - shown} more)"
    return text + (f", by {who}" if who else "")
