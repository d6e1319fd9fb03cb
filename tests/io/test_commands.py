"""The io socket's commands (app/io/commands.py): strict models, one per command,
the messages a malformed request gets through the real socket, and the docs' table
made from the models."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import MAX_MS, MIN_MS
from app.io.commands import (
    COMMANDS,
    Changed,
    ClearFault,
    InvalidCommandError,
    SecurityEvent,
    SetConfig,
    Simulate,
    StartOutput,
    StopOutput,
    explain,
    parse,
)
from app.io.commands_doc import BEGIN, END, table, with_table
from app.io.protocol import Client, ControlError
from app.web.models import StartRequest
from tests.io.conftest import IoProc

REPO = Path(__file__).resolve().parents[2]


def refused(cmd: str, **arguments: Any) -> str:
    with pytest.raises(InvalidCommandError) as caught:
        parse(cmd, arguments)
    return str(caught.value)


def test_each_command_has_its_model_and_keeps_its_wire_names() -> None:
    assert set(COMMANDS) == {
        "status",
        "start",
        "stop",
        "trigger",
        "sim",
        "signal",
        "config-get",
        "config-set",
        "reload",
        "board",
        "security",
        "fault-clear",
        "bypass",
        "bypass-end",
        "arming-override",
        "arming-override-end",
        "walk-test-start",
        "walk-test-pulse",
        "walk-test-confirm",
        "walk-test-end",
        "network-fault",
        "sia-refused",
        "annotate",
        "subscribe",
    }
    start = StartOutput(output=3, duration_ms=5000, user="ann")
    assert start.arguments() == {"output": 3, "duration_ms": 5000, "user": "ann"}
    assert parse("start", {"output": 3, "duration_ms": None, "user": "ann"}) == StartOutput(
        output=3, user="ann"
    )
    assert parse("stop", {"output": 1}) == StopOutput(output=1, user="local")  # as before
    assert parse("sim", {"action": "close", "input": 1}) == Simulate(action="close", input=1)


def test_a_network_fault_names_its_code_and_state() -> None:
    assert "code must match" in refused("network-fault", code="Not A Code", active=True)
    assert "active must be a valid boolean" in refused("network-fault", code="mqtt-x", active=1)
    assert "active is required" in refused("network-fault", code="mqtt-x")


def test_a_switch_or_a_string_is_not_a_number() -> None:
    assert "output must be a whole number" in refused("start", output=True, user="ann")
    assert "output must be a whole number" in refused("stop", output="3")
    assert "output must be a whole number" in refused("stop", output=2.0)
    assert "duration_ms must be a whole number" in refused("start", output=1, duration_ms=False)
    assert "input must be a whole number" in refused("sim", action="open", input=True)
    assert "output must be a whole number of 1 or more" in refused("stop", output=0)
    assert "virtual must be a whole number from 1 to 8" in refused(
        "signal", virtual=True, action="active"
    )
    assert "pulse_s must be a whole number" in refused(
        "signal", virtual=1, action="pulse", pulse_s="3"
    )


@pytest.mark.parametrize("duration", [MIN_MS - 1, MAX_MS + 1, -5])
def test_a_duration_outside_the_configurations_limits_is_refused(duration: int) -> None:
    message = refused("start", output=1, duration_ms=duration)
    assert f"duration_ms must be a whole number from {MIN_MS} to {MAX_MS}" in message


@pytest.mark.parametrize("duration", [MIN_MS, MAX_MS])
def test_the_limits_themselves_are_fine(duration: int) -> None:
    assert StartOutput(output=1, duration_ms=duration).duration_ms == duration


def test_an_unknown_field_or_command_is_refused_by_name() -> None:
    message = refused("start", output=1, durations_ms=500)
    assert message == "invalid 'start' command: durations_ms is not an argument of this command"
    assert "user is not an argument" in refused("status", user="ann")
    assert "unknown command 'strat'" in refused("strat", output=1)
    assert "output is required" in refused("stop")


@pytest.mark.parametrize(
    "user", ["ann\nforged line", "\u202eevil", "   ", "", "x" * 65, "nul\x00"], ids=repr
)
def test_a_user_name_follows_the_rules_for_names(user: str) -> None:
    assert "invalid 'trigger' command: user " in refused("trigger", user=user)
    with pytest.raises(ValidationError):
        StopOutput(output=1, user=user)


def test_an_api_tokens_user_name_is_fine() -> None:
    assert StopOutput(output=1, user="token:" + "v" * 40).user.startswith("token:")


def test_the_simulation_action_is_one_of_four_and_takes_an_input_only_for_a_contact() -> None:
    assert "action must be 'close', 'open', 'press' or 'release'" in refused("sim", action="shut")
    assert "close needs the input's number" in refused("sim", action="close")
    assert "press is the button's" in refused("sim", action="press", input=2)
    assert Simulate(action="release").input is None


def test_security_events_are_known_states_with_a_few_short_safe_strings() -> None:
    assert SecurityEvent(state="login", user="ann", detail={"address": "10.0.0.1"})
    assert "state must be 'setup'" in refused("security", state="hacked", user="ann")
    assert "detail must have at most 8 items" in refused(
        "security", state="login", detail={f"k{n}": "v" for n in range(9)}
    )
    assert "detail.address" in refused("security", state="login", detail={"address": "1\n2"})
    assert "detail.note" in refused("security", state="login", detail={"note": "x" * 121})
    assert "detail.n" in refused("security", state="login", detail={"n": 3})


def test_a_fault_code_is_a_short_slug_and_a_config_is_checked_as_a_whole() -> None:
    assert ClearFault(code="eventlog-corrupt").code == "eventlog-corrupt"
    assert "code must match" in refused("fault-clear", code="Eventlog corrupt")
    message = refused("config-set", config={"inputs": [], "outputs": [], "colour": 1})
    assert message.endswith("config.colour is not a known field")
    with pytest.raises(ValidationError):
        SetConfig.model_validate({"config": "{}"})


def test_the_reply_types_are_the_wire_shapes() -> None:
    assert StopOutput.reply.validate_python({"changed": False}) == Changed(changed=False)
    assert StopOutput.reply.dump_python(Changed(changed=True), mode="json") == {"changed": True}
    assert Simulate.reply.validate_python("press") == "press"
    assert StartOutput.reply.validate_python(None) is None
    with pytest.raises(ValidationError):
        StopOutput.reply.validate_python({"changed": 1})


def test_explain_names_every_field_at_fault() -> None:
    with pytest.raises(ValidationError) as caught:
        StartOutput.model_validate({"output": "1", "duration_ms": 10**9, "user": "a\rb"})
    message = explain(caught.value)
    assert message.count(";") == 2
    for field in ("output", "duration_ms", "user"):
        assert field in message


# -- through the real socket ----------------------------------------------------------


def raw(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        stream = sock.makefile("rwb")
        stream.write(json.dumps(request).encode() + b"\n")
        stream.flush()
        reply: dict[str, Any] = json.loads(stream.readline())
        stream.close()
        return reply


def test_the_io_process_refuses_a_malformed_command_naming_the_field(io_proc: IoProc) -> None:
    io_proc.start()
    path = io_proc.client.path
    assert raw(path, {"cmd": "start", "output": True, "user": "ann"}) == {
        "ok": False,
        "error": "invalid 'start' command: output must be a whole number of 1 or more",
    }
    reply = raw(path, {"cmd": "start", "output": 1, "duration_ms": 10, "colour": "red"})
    assert reply["ok"] is False
    assert "duration_ms must be a whole number from 25 to 86400000" in reply["error"]
    assert "colour is not an argument of this command" in reply["error"]
    reply = raw(path, {"cmd": "sim", "action": "shut", "input": 1})
    assert reply == {
        "ok": False,
        "error": "invalid 'sim' command: action must be 'close', 'open', 'press' or 'release'",
    }
    with pytest.raises(ControlError, match="user must not contain control"):
        io_proc.client.request("trigger", user="ann\nforged")
    status = io_proc.client.request("status")
    assert not any(o["active"] for o in status["outputs"])  # nothing was done


def test_typed_commands_and_replies_through_the_socket(io_proc: IoProc) -> None:
    io_proc.start()
    client = Client(io_proc.client.path)
    assert client.send(Simulate(action="close", input=2, user="ann")) == "close"
    assert client.send(StopOutput(output=4, user="ann")) == Changed(changed=False)
    client.send(StartOutput(output=4, duration_ms=60_000, user="ann"))
    assert client.send(StopOutput(output=4, user="ann")) == Changed(changed=True)


# -- the docs ---------------------------------------------------------------------------


def test_the_docs_command_table_is_the_one_the_models_make() -> None:
    doc = (REPO / "docs" / "io-protocol.md").read_text()
    assert f"{BEGIN}\n{table()}{END}" in doc, (
        "docs/io-protocol.md's command table differs from app/io/commands.py: "
        "run 'python -m app.io.commands_doc --write docs/io-protocol.md'"
    )
    assert with_table(doc) == doc


def test_the_table_shows_the_limits_from_the_configuration() -> None:
    (start,) = [row for row in table().splitlines() if row.startswith("| `start`")]
    assert f"{MIN_MS:,} .. {MAX_MS:,}" in start
    assert "`output` (1 or more)" in start


def test_the_web_api_takes_its_start_limits_from_the_same_constants() -> None:
    schema = StartRequest.model_json_schema()["properties"]["duration_s"]["anyOf"][0]
    assert (schema["minimum"], schema["maximum"]) == (MIN_MS / 1000, MAX_MS / 1000)


def test_override_commands_are_typed() -> None:
    from app.io.commands import BypassInput, OverrideArming

    assert parse("bypass", {"input": 2, "duration_s": 3600, "user": "ann"}) == BypassInput(
        input=2, duration_s=3600, user="ann"
    )
    assert "duration_s must be a whole number from 60 to 604800" in refused(
        "bypass", input=2, duration_s=30
    )
    assert "armed must be a valid boolean" in refused("arming-override", armed="yes", duration_s=60)
    assert parse("arming-override", {"armed": False, "duration_s": 60}) == OverrideArming(
        armed=False, duration_s=60
    )
