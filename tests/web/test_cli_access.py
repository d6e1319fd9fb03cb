"""The device-side commands: ``alarmbridge setup-code`` and ``users reset-password``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.auth import passwords, setup_code
from app.auth.store import AuthStore, Role
from app.cli import main


def test_setup_code_is_printed_until_an_admin_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup-code", "--data-dir", str(tmp_path)]) == 0
    code = capsys.readouterr().out.strip()
    assert code == setup_code.code_path(tmp_path).read_text().strip()
    assert main(["setup-code", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == code  # the same code until it is used
    store = AuthStore(tmp_path / "auth.db")
    store.create_first_admin("owner", passwords.hash_password("a long passphrase here"))
    store.close()
    assert main(["setup-code", "--data-dir", str(tmp_path)]) == 1
    assert "setup is closed" in capsys.readouterr().err
    assert not setup_code.code_path(tmp_path).exists()


def test_reset_password_on_the_device_ends_the_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AuthStore(tmp_path / "auth.db")
    user = store.add_user("guard", Role.OPERATOR, passwords.hash_password("forgotten passphrase"))
    session, _ = store.new_session(user, "10.0.0.9")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    args = ["users", "reset-password", "guard", "--password-stdin", "--data-dir", str(tmp_path)]
    assert main(args) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(args) == 0
    stored = store.user("guard")
    assert stored is not None and passwords.verify(stored.password_hash, "a brand new passphrase")
    assert store.session(session) is None
    store.close()
    assert main(["users", "list", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "guard\toperator"
