"""``alarmbridge setup-code`` and ``alarmbridge users``: the web process's accounts from a shell.

Kept apart from app/cli.py so that module stays about the order of things at start
(``alarmbridge io`` claims its relays before heavy imports); everything here is
imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings


def add_parser(
    sub: Any, common: argparse.ArgumentParser, settings: Callable[[argparse.Namespace], Settings]
) -> None:
    """Register ``setup-code`` and ``users``; ``settings`` reads the common options."""

    def cmd_setup_code(args: argparse.Namespace) -> int:
        return setup_code(settings(args), create=args.create)

    def cmd_users(args: argparse.Namespace) -> int:
        return users(settings(args), args)

    code = sub.add_parser(
        "setup-code", parents=[common], help="print the one-time code that claims the appliance"
    )
    code.add_argument(
        "--create", action="store_true", help="make the data directory if it does not exist"
    )
    code.set_defaults(func=cmd_setup_code)
    accounts = sub.add_parser("users", parents=[common], help="list users, or reset a password")
    accounts.add_argument("action", choices=["list", "reset-password"])
    accounts.add_argument("name", nargs="?")
    accounts.add_argument(
        "--password-stdin", action="store_true", help="read the new password from stdin"
    )
    accounts.set_defaults(func=cmd_users)


def setup_code(settings: Settings, *, create: bool) -> int:
    """Print the one-time setup code (none once an admin exists)."""
    from app.auth import setup_code as codes
    from app.cli_log import UsageError

    if not settings.data_dir.is_dir() and not create:
        raise UsageError(
            f"there is no data directory {settings.data_dir}: give the appliance's own "
            "--data-dir, or add --create to make a new one there"
        )
    code = codes.current(settings.auth_db_path, settings.web_state_dir)
    if code is None:
        raise UsageError("setup is closed: this appliance has an admin already")
    print(code)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    from app.cli_log import UsageError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def users(settings: Settings, args: argparse.Namespace) -> int:
    """List the users, or reset one's password (their sessions end)."""
    from app.auth import passwords
    from app.auth.store import AuthError, AuthStore
    from app.cli_log import UsageError
    from app.io.commands import SecurityEvent
    from app.io.protocol import Client, ControlError
    from app.text import printable

    store = AuthStore(settings.auth_db_path)
    try:
        if args.action == "list":
            for u in store.users():
                print(f"{printable(u.name)}\t{u.role}")
            return 0
        if not args.name:
            raise UsageError("reset-password needs the user's name")
        if store.user(args.name) is None:
            raise UsageError(f"there is no user {args.name!r}")
        password = _read_password(args)
        problems = passwords.problems(password, args.name)
        if problems:
            raise UsageError("; ".join(problems))
        try:
            store.set_password(args.name, passwords.hash_password(password))
        except AuthError as exc:
            raise UsageError(str(exc)) from None
        print(f"password of {args.name} changed; their sessions have ended")
        with contextlib.suppress(ControlError):  # logged when the io process runs
            Client(settings.socket_path).send(
                SecurityEvent(state="password-reset", user="cli", detail={"account": args.name})
            )
    finally:
        store.close()
    return 0
