"""The SIA settings refuse what would not work, naming the field (#21)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.network.sia.settings import ReceiverSettings, SenderSettings, SiaAccount


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
