"""First boot on the SD image: ``alarmbridge firstboot --boot /boot/firmware``.

Runs as root at every boot, before the network and the appliance start
(``alarmbridge-firstboot.service``). It applies ``alarmbridge.txt`` from the boot
partition (host name, time zone, board preset, Wi-Fi, SSH key), removes the Wi-Fi
password from the file, and writes ``alarmbridge-report.txt`` beside it saying what
it did and what was wrong, so a user with no screen on the Pi can read the outcome
on any computer.

``--setup-code-only`` (``alarmbridge-setup-code.service``, after the web service)
puts the one-time setup code on the boot partition while the appliance is
unclaimed, and removes it once an admin exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app import __version__
from app.firstboot.apply import Applier, write_if_changed
from app.firstboot.bootfile import (
    FILE_NAME,
    REPORT_NAME,
    SETUP_CODE_NAME,
    TEMPLATE,
    blank_secrets,
    decode,
    parse,
)
from app.settings import Settings


def run(boot: Path, root: Path = Path("/"), *, live: bool | None = None) -> int:
    """Apply the boot file; 0 when every line applied, 1 when something was wrong.
    Either way the report says what happened."""
    live = root == Path("/") if live is None else live
    source = boot / FILE_NAME
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        return 0  # nothing asked for
    text, encoding_note = decode(raw)
    found = parse(text)
    outcome = Applier(root, boot, live=live).apply(found.values)
    if "wifi_password" in found.values:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        blanked = blank_secrets(
            text, f"wifi_password was applied at first boot ({stamp}) and removed from this file"
        )
        if blanked is not None:
            write_if_changed(source, blanked)
    notes = [*([encoding_note] if encoding_note else []), *found.notes, *outcome.notes]
    problems = [*found.problems, *outcome.problems]
    write_report(boot / REPORT_NAME, outcome.done, problems, notes)
    return 1 if problems else 0


def write_report(path: Path, done: list[str], problems: list[str], notes: list[str]) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out = [
        f"AlarmBridge {__version__}: first-boot report, {when}",
        "(the clock may be wrong until the appliance reaches a time server)",
        "",
        "Applied from alarmbridge.txt:" if done else "Nothing to apply in alarmbridge.txt.",
        *(f"  - {line}" for line in done),
    ]
    if problems:
        out += ["", "Problems (these lines were skipped; fix them and restart):"]
        out += [f"  - {line}" for line in problems]
    if notes:
        out += ["", "Notes:", *(f"  - {line}" for line in notes)]
    out += ["", "The setup code, until the appliance is claimed: " + SETUP_CODE_NAME, ""]
    # The clock line changes every boot; only rewrite when something else did.
    with contextlib.suppress(FileNotFoundError):
        if path.read_text().split("\n")[1:] == out[1:]:
            return
    write_if_changed(path, "\n".join(out))


def sync_setup_code(boot: Path, settings: Settings, *, wait_s: float = 60.0) -> int:
    """Put the setup code on the boot partition while the appliance is unclaimed;
    remove it once claimed. The code is read (or made) as the user that owns the
    web directory, so every file there stays that user's."""
    target = boot / SETUP_CODE_NAME
    web_dir = settings.web_state_dir
    deadline = time.monotonic() + wait_s
    while not web_dir.is_dir():  # the web service makes it (StateDirectory=)
        if time.monotonic() > deadline:
            print(f"alarmbridge: no web directory at {web_dir}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    owner = web_dir.stat()
    try:
        if os.geteuid() == 0 and owner.st_uid != 0:
            code = as_user(owner.st_uid, owner.st_gid, lambda: current_code(settings))
        else:
            code = current_code(settings)
    except (OSError, RuntimeError) as exc:
        print(f"alarmbridge: cannot read the setup code: {exc}", file=sys.stderr)
        return 1
    if code is None:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return 0
    name = socket.gethostname()
    write_if_changed(
        target,
        f"AlarmBridge setup code: {code}\n\n"
        f"Open http://{name}.local/ (or the appliance's IP address) in a browser and\n"
        "enter this code to create the first administrator account. It works once;\n"
        "this file is removed at the next start after the appliance is claimed.\n",
    )
    return 0


def current_code(settings: Settings) -> str | None:
    """The setup code (made if needed), or None once an admin exists."""
    from app.auth import setup_code

    return setup_code.current(settings.auth_db_path, settings.web_state_dir)


def as_user(uid: int, gid: int, work: Callable[[], str | None]) -> str | None:
    """``work()`` in a child process running as ``uid``/``gid`` (no other groups,
    files private to it); its result or its error comes back through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(0o077)  # as the web service makes its files (UMask=0077)
            reply = {"result": work()}
            status = 0
        except BaseException as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, json.dumps(reply).encode())
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        reply = json.loads(data)
    except ValueError:
        raise RuntimeError("the child process gave no answer") from None
    if "error" in reply:
        raise RuntimeError(reply["error"])
    result: str | None = reply["result"]
    return result


__all__ = ["TEMPLATE", "run", "sync_setup_code"]
