"""Who is at the other end of the control socket, for the commands not every
client of the socket may send.

The kernel says who connected (``SO_PEERCRED``). Each restricted command is
accepted from the io process's own user (the development setup, where one user
runs every process, and the CLI beside them) and from the users that own the
directories of the processes that send it: the web process's (``--web-dir``; on
the Pi ``/var/lib/alarmbridge-web``, made by the package for ``alarmbridge-web``)
and the network process's (``--network-dir``; ``/var/lib/alarmbridge-network``,
``alarmbridge-network``). No setting to get wrong: a process's user is the one that
owns its files.

=================  ====================================================
``security``       the web process's user (access events, the audit log)
``network-fault``  the network process's user (its faults, a silent panel)
``sia-refused``    the network process's user (frames the receiver refused)
``annotate``       the network process's user (recorders' results, #20)
``signal``         the network or web process's user (virtual inputs)
=================  ====================================================
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.io.commands import Annotate, NetworkFault, SecurityEvent, SiaRefused, Signal

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process that connected ``sock`` (None: unknown)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):  # not a Unix socket, or not Linux
        return None
    return int(_UCRED.unpack(creds)[1])


def owner(path: Path) -> int | None:
    """The uid that owns ``path`` (None: it does not exist, or cannot be seen)."""
    try:
        return path.stat().st_uid
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class PeerRule:
    """A restricted command's senders: this process's own user, and the owners of
    ``dirs`` (a directory that does not exist yet: nobody through it)."""

    who: str  # for the refusal: "the web process's user"
    dirs: tuple[Path, ...]
    own_uid: int | None = None  # None: this process's (a test sets another)
    owner_of: Callable[[Path], int | None] = owner

    def allows(self, uid: int | None) -> bool:
        if uid is None:
            return False
        if uid == (os.geteuid() if self.own_uid is None else self.own_uid):
            return True
        return any(uid == self.owner_of(directory) for directory in self.dirs)

    def refusal(self, cmd: str) -> str:
        return f"{cmd!r} is accepted only from {self.who}"


def peer_rules(web_dir: Path, network_dir: Path, **how: Any) -> dict[str, PeerRule]:
    """Each restricted command's rule (the table in the module's docstring);
    ``how``: PeerRule's ``own_uid`` and ``owner_of``, for a test."""
    web = PeerRule("the web process's user", (web_dir,), **how)
    network = PeerRule("the network process's user", (network_dir,), **how)
    either = PeerRule("the network or web process's user", (network_dir, web_dir), **how)
    return {
        SecurityEvent.cmd: web,
        NetworkFault.cmd: network,
        SiaRefused.cmd: network,
        Annotate.cmd: network,
        Signal.cmd: either,
    }
