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
``signal``         the network or web process's user (virtual inputs)
=================  ====================================================
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from app.io.commands import NetworkFault, SecurityEvent, SiaRefused, Signal

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process that connected ``sock`` (None: unknown)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):  # not a Unix socket, or not Linux
        return None
    return int(_UCRED.unpack(creds)[1])


@dataclass(frozen=True, slots=True)
class PeerRule:
    """A restricted command's senders: this process's own user, and the owners of
    ``dirs`` (a directory that does not exist yet: nobody through it)."""

    who: str  # for the refusal: "the web process's user"
    dirs: tuple[Path, ...]

    def allows(self, uid: int | None) -> bool:
        if uid is None:
            return False
        if uid == os.geteuid():
            return True
        for directory in self.dirs:
            try:
                if uid == directory.stat().st_uid:
                    return True
            except OSError:
                continue
        return False

    def refusal(self, cmd: str) -> str:
        return f"{cmd!r} is accepted only from {self.who}"


def peer_rules(web_dir: Path, network_dir: Path) -> dict[str, PeerRule]:
    """Each restricted command's rule (the table in the module's docstring)."""
    web = PeerRule("the web process's user", (web_dir,))
    network = PeerRule("the network process's user", (network_dir,))
    either = PeerRule("the network or web process's user", (network_dir, web_dir))
    return {
        SecurityEvent.cmd: web,
        NetworkFault.cmd: network,
        SiaRefused.cmd: network,
        Signal.cmd: either,
    }
