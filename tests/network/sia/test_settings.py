"""The SIA settings refuse what would not work, naming the field, and the panel
walkthrough's examples in docs/integrations.md are settings that load (#21)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Config, InputKind, VirtualInputConfig, default_config
from app.network.sia.service import load_sia
from app.network.sia.settings import ReceiverSettings, SenderSettings, SiaAccount
from hardware import preset


def _error(model: type[ReceiverSettings | SenderSettings | SiaAccount], data: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return str(caught.value)


def test_accounts_keys_and_mapping_are_checked() -> None:
    account = SiaAccount.model_validate({"account": "12ab", "key": "0123456789ABCDEF"})
    assert account.account == "12AB"  # upper case, as on the wire
    assert "16, 24 or 32 printable ASCII characters" in _error(
        SiaAccount, {"account": "1234", "key": "short"}
    )
    assert "account" in _error(SiaAccount, {"account": "12"})  # 3 to 16 hex digits
    assert "account" in _error(SiaAccount, {"account": "XYZ1"})
    assert "virtual" in _error(SiaAccount, {"account": "123", "zones": [{"zone": 1, "virtual": 9}]})
    assert "used twice" in _error(
        ReceiverSettings, {"accounts": [{"account": "123"}, {"account": "123"}]}
    )
    assert "Extra inputs are not permitted" in _error(SiaAccount, {"account": "123", "pin": 1})


def test_sender_defaults_are_contact_id_and_a_supervised_link() -> None:
    sender = SenderSettings()
    assert (sender.codes.alarm, sender.codes.h24, sender.codes.fault) == (130, 137, 300)
    assert (sender.null_s, sender.timeout_s, sender.receiver) == (60, 10, "0")
    assert "port" in _error(SenderSettings, {"primary": {"host": "arc", "port": 0}})


def _checked_blocks() -> dict[str, object]:
    """The JSON blocks of docs/integrations.md marked ``checked by ...test_settings.py``."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "integrations.md").read_text()
    found = {}
    for name, block in re.findall(r"test_settings\.py: ([\w.]+) -->\n```json\n(.*?)```", doc, re.S):
        found[name] = json.loads(block)
    return found


def test_the_walkthrough_s_examples_are_valid_settings(tmp_path: Path) -> None:
    blocks = _checked_blocks()
    assert set(blocks) == {"virtual_inputs", "sia.json"}
    path = tmp_path / "sia.json"
    path.write_text(json.dumps(blocks["sia.json"]))
    sia = load_sia(path)
    (account,) = sia.receiver.accounts
    assert (account.account, account.poll_s, account.armed_virtual) == ("1234", 90, 3)
    assert sia.receiver.port == 12000 and sia.receiver.udp
    assert [(z.zone, z.area, z.virtual) for z in account.zones] == [(3, None, 1), (4, 2, 2)]
    virtual = blocks["virtual_inputs"]
    assert isinstance(virtual, list)
    board = preset("default")
    config = default_config(board).model_dump(mode="json")
    config["virtual_inputs"] = virtual  # with the rest of a configuration: armed_by's rule
    assert Config.model_validate(config).fits(board) == []
    inputs = [VirtualInputConfig.model_validate(v) for v in virtual]
    assert len(inputs) >= max(z.virtual for z in account.zones)
    armed = inputs[(account.armed_virtual or 0) - 1]
    assert (armed.kind, armed.stuck_after_s) == (InputKind.ARMED_STATE, 0)
