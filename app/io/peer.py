"""Who is at the other end of the control socket, for the commands not every
client of the socket may send (``security``: access events in the audit log).

The kernel says who connected (``SO_PEERCRED``): such a command is accepted from
the io process's own user (the development setup, where one user runs both
processes, and the CLI beside them) and from the user that owns the web
process's directory (``--web-dir``; on the Pi ``/var/lib/alarmbridge-web``, made
by the package for the ``alarmbridge-web`` user). No setting to get wrong: the
web process's user is the one that owns its files.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

PeerCheck = Callable[[int | None], bool]
_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process that connected ``sock`` (None: unknown)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):  # not a Unix socket, or not Linux
        return None
    return int(_UCRED.unpack(creds)[1])


def web_process_users(web_dir: Path) -> PeerCheck:
    """The check: is a peer uid this process's own user, or the web directory's owner?"""

    def allowed(uid: int | None) -> bool:
        if uid is None:
            return False
        if uid == os.geteuid():
            return True
        try:
            return uid == web_dir.stat().st_uid
        except OSError:  # no web directory (yet): only our own user
            return False

    return allowed
