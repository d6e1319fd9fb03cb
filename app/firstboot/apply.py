"""Apply the boot-partition settings to the system under ``root``.

Every step is idempotent and writes a file only when its content changes (an SD
card wears with every write). With ``live`` (the real system, ``root`` = ``/``)
the running system is told too: the kernel's host name, NetworkManager,
systemd; tests run it against a directory tree with ``live`` off.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hardware import preset

ENV_FILE = "etc/alarmbridge/alarmbridge.env"
WIFI_FILE = "etc/NetworkManager/system-connections/alarmbridge-wifi.nmconnection"
FIRMWARE_CUSTOM = "etc/default/raspi-firmware-custom"  # Debian's raspi-firmware appends it
EXTRA_CMDLINE = "etc/default/raspi-extra-cmdline"  # ... and this to cmdline.txt
BLOCK_START = "# alarmbridge: relays off from power-on"
BLOCK_END = "# end alarmbridge"
REGDOM = "cfg80211.ieee80211_regdom="


@dataclass
class Outcome:
    """What applying did: lines for the report, and problems."""

    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Replace ``path`` atomically with ``text`` unless it already holds it."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == text.encode():
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(text.encode())
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)
    return True


def _run(command: Sequence[str], outcome: Outcome, *, best_effort: bool = False) -> bool:
    """Run a helper program; a failure is a problem in the report (a note when
    ``best_effort``: something that also takes effect at the next boot), not a crash."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        failed = f"could not run {command[0]}: {exc}"
    else:
        if done.returncode == 0:
            return True
        detail = " ".join((done.stderr or done.stdout).split())[:200]
        failed = f"{' '.join(command)} failed: {detail}"
    (outcome.notes if best_effort else outcome.problems).append(failed)
    return False


def _active(unit: str) -> bool:
    """Whether a systemd unit is running now (first boot runs before most)."""
    try:
        done = subprocess.run(
            ["systemctl", "is-active", "--quiet", unit], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class Applier:
    def __init__(self, root: Path, boot: Path, *, live: bool) -> None:
        self.root = root
        self.boot = boot
        self.live = live
        self.outcome = Outcome()

    def apply(self, values: dict[str, str]) -> Outcome:
        steps = (
            ("hostname", self.hostname),
            ("timezone", self.timezone),
            ("board", self.board),
            ("wifi_country", self.wifi_country),
            ("wifi_ssid", self.wifi),
            ("ssh_key", self.ssh_key),
        )
        for key, step in steps:
            if key in values:
                try:
                    step(values)
                except OSError as exc:
                    self.outcome.problems.append(f"{key}: {exc}")
        return self.outcome

    def _firmware_file(self, on_card: str, kept: str, edit: Callable[[str], str]) -> None:
        """Edit a firmware file on the boot partition, and the file under /etc/default
        that Debian's raspi-firmware builds it from at each kernel update (when that
        package is there: Raspberry Pi OS has neither)."""
        card = self.boot / on_card
        if card.exists():
            write_if_changed(card, edit(card.read_text()))
        source = self.root / kept
        if source.exists() or (self.root / "etc/default/raspi-firmware").exists():
            write_if_changed(source, edit(source.read_text() if source.exists() else ""))

    # -- each setting -------------------------------------------------------------

    def hostname(self, values: dict[str, str]) -> None:
        name = values["hostname"]
        write_if_changed(self.root / "etc/hostname", name + "\n")
        hosts = self.root / "etc/hosts"
        try:
            text = hosts.read_text()
        except FileNotFoundError:
            text = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
        line = f"127.0.1.1\t{name}"
        if re.search(r"^127\.0\.1\.1\s.*$", text, flags=re.M):
            text = re.sub(r"^127\.0\.1\.1\s.*$", line, text, count=1, flags=re.M)
        else:
            text = text.rstrip("\n") + "\n" + line + "\n"
        write_if_changed(hosts, text)
        if self.live and socket.gethostname() != name:
            socket.sethostname(name)
        self.outcome.done.append(f"host name: {name} (browse to http://{name}.local/)")

    def timezone(self, values: dict[str, str]) -> None:
        zone = values["timezone"]
        zone_file = Path("/usr/share/zoneinfo") / zone
        if not (self.root / zone_file.relative_to("/")).is_file():
            self.outcome.problems.append(f"timezone: {zone} is not installed on this system")
            return
        link = self.root / "etc/localtime"
        with contextlib.suppress(FileNotFoundError):
            if os.readlink(link) != str(zone_file):
                link.unlink()
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(zone_file)
        write_if_changed(self.root / "etc/timezone", zone + "\n")
        self.outcome.done.append(f"time zone: {zone}")

    def board(self, values: dict[str, str]) -> None:
        name = values["board"]
        spec = preset(name)
        set_env(self.root / ENV_FILE, "ALARMBRIDGE_BOARD", name)
        block = [BLOCK_START + f" (board {name})", *spec.config_txt_lines(), BLOCK_END]
        self._firmware_file("config.txt", FIRMWARE_CUSTOM, lambda text: replace_block(text, block))
        self.outcome.done.append(
            f"board: {name} ({spec.title}); relays held off from power-on with "
            + " ".join(spec.config_txt_lines())
            + " in config.txt (the firmware sets them at power-on)"
        )

    def wifi_country(self, values: dict[str, str]) -> None:
        country = values["wifi_country"]
        self._firmware_file("cmdline.txt", EXTRA_CMDLINE, lambda t: set_kernel_arg(t, country))
        if self.live:
            # Now as well as from the next boot's kernel command line; a board with
            # no Wi-Fi (or no driver loaded yet) refuses, which is only a note.
            if shutil.which("iw"):
                _run(["iw", "reg", "set", country], self.outcome, best_effort=True)
            if shutil.which("rfkill"):
                _run(["rfkill", "unblock", "wifi"], self.outcome, best_effort=True)
        self.outcome.done.append(f"Wi-Fi country: {country}")

    def wifi(self, values: dict[str, str]) -> None:
        ssid = values["wifi_ssid"]
        password = values.get("wifi_password")
        path = self.root / WIFI_FILE
        if password is None and path.exists() and nm_ssid(path.read_text()) == ssid:
            self.outcome.done.append(f"Wi-Fi: {ssid}, unchanged (its password was applied before)")
            return
        changed = write_if_changed(path, nm_connection(ssid, password), mode=0o600)
        if changed and self.live and _active("NetworkManager.service"):
            _run(["nmcli", "connection", "reload"], self.outcome)  # else it reads it at start
        security = "open network, no password" if password is None else "WPA password set"
        self.outcome.done.append(f"Wi-Fi: {ssid} ({security})")

    def ssh_key(self, values: dict[str, str]) -> None:
        key = values["ssh_key"]
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        present = keys.read_text().splitlines() if keys.exists() else []
        if key not in present:
            write_if_changed(keys, "\n".join([*present, key]) + "\n", mode=0o600)
        if self.live:
            if shutil.which("ssh-keygen"):
                _run(["ssh-keygen", "-A"], self.outcome)  # host keys, if the image has none
            _run(["systemctl", "enable", "--now", "--no-block", "ssh.service"], self.outcome)
        comment = key.split(" ", 2)[2] if key.count(" ") >= 2 else key.split(" ")[0]
        self.outcome.done.append(f"SSH: on, as root with the key {comment!r}")


# -- file formats -------------------------------------------------------------------


def set_env(path: Path, key: str, value: str) -> bool:
    """Set ``KEY=value`` in an environment file, keeping its other lines."""
    text = path.read_text() if path.exists() else ""
    line = f"{key}={value}"
    pattern = re.compile(rf"^{re.escape(key)}=.*$", flags=re.M)
    if pattern.search(text):
        text = pattern.sub(line, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n" if text.strip() else "") + line + "\n"
    return write_if_changed(path, text)


def replace_block(text: str, block: list[str]) -> str:
    """``text`` with our marked block replaced (or added at the end).

    >>> replace_block("arm_64bit=1\\n", ["# alarmbridge: x", "gpio=1=op,dl", "# end alarmbridge"])
    'arm_64bit=1\\n# alarmbridge: x\\ngpio=1=op,dl\\n# end alarmbridge\\n'
    """
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith(BLOCK_START):
            inside = True
        elif inside and line.startswith(BLOCK_END):
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, *block]) + "\n"


def set_kernel_arg(text: str, country: str) -> str:
    """A kernel command line (one line) with the Wi-Fi regulatory domain set.

    >>> set_kernel_arg("console=tty1 root=LABEL=RASPIROOT\\n", "BE")
    'console=tty1 root=LABEL=RASPIROOT cfg80211.ieee80211_regdom=BE\\n'
    """
    words = [w for w in text.split() if not w.startswith(REGDOM)]
    return " ".join([*words, REGDOM + country]) + "\n"


def _keyfile_string(value: str) -> str:
    """Escape a value for a GKeyFile (NetworkManager's keyfile format)."""
    value = value.replace("\\", "\\\\")
    if value.startswith(" "):
        value = "\\s" + value[1:]
    if value.endswith(" "):
        value = value[:-1] + "\\s"
    return value


def nm_connection(ssid: str, password: str | None) -> str:
    """A NetworkManager keyfile for the Wi-Fi network. The name is written as bytes,
    so any character in it (``;``, ``=``, spaces) is taken literally."""
    ssid_bytes = "".join(f"{b};" for b in ssid.encode())
    text = (
        "# Written by AlarmBridge's first boot from alarmbridge.txt\n"
        "[connection]\n"
        "id=alarmbridge-wifi\n"
        "type=wifi\n"
        "autoconnect=true\n"
        "\n"
        "[wifi]\n"
        "mode=infrastructure\n"
        f"ssid={ssid_bytes}\n"
        "\n"
    )
    if password is not None:
        text += f"[wifi-security]\nkey-mgmt=wpa-psk\npsk={_keyfile_string(password)}\n\n"
    return text + "[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n"


def nm_ssid(text: str) -> str | None:
    """The network name in a keyfile :func:`nm_connection` wrote."""
    found = re.search(r"^ssid=((?:\d+;)+)$", text, flags=re.M)
    if not found:
        return None
    return bytes(int(b) for b in found.group(1).rstrip(";").split(";")).decode(errors="replace")
