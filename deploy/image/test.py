#!/usr/bin/env python3
"""Boot the AlarmBridge SD-card image under QEMU and check it (``make image-test``).

For each machine (``-M raspi3b``: the Pi 3's own SoC, SD card and USB networking;
``-M virt``: virtio disk and network, faster), on a fresh copy of the image grown to
4 GiB (a power of two, as the raspi3b SD card needs; the root file system must grow
into it on first boot):

1. writes a test ``alarmbridge.txt`` into the boot partition with mtools;
2. boots the Debian kernel, initrd (and, for raspi3b, device tree) taken out of the
   image, with the image's own cmdline.txt (plus, for QEMU only, a console on the
   PL011 UART and, for raspi3b, no bcm2835 watchdog: QEMU's emulated one resets the
   board);
3. waits for HTTP 200 from ``/login`` through a host port forward to the guest's port
   80, and for the first-boot files on the boot partition;
4. shuts the guest down cleanly (Ctrl-Alt-Del from an emulated USB keyboard), then reads
   the boot partition (mtools) and the root file system (debugfs) back out of the image.

Checks are grouped: ``image`` and ``boot`` are this image's own (the operating system);
``app`` are AlarmBridge's units; ``firstboot`` are the effects of ``alarmbridge firstboot``
(the hostname, the report, the setup code). Every
check prints PASS or FAIL; the console logs, the files read back and a summary go to
test-artifacts/image-test/. Run as root (debugfs/e2fsck on image files need no root,
but the build does).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "image-test"
DISK_SIZE = 4 << 30  # bytes; a power of two for -M raspi3b, bigger than the image

TEST_SETTINGS = """\
# AlarmBridge first-boot settings written by deploy/image/test.py
hostname=qemu-bridge
timezone=Europe/Brussels
board=default
wifi_ssid=qemu-test-network
wifi_password=not-a-real-secret
wifi_country=BE
ssh_key={ssh_key}
"""
TEST_HOSTNAME = "qemu-bridge"
SETTLE_S = 30  # seconds the guest keeps running after HTTP 200, at least


@dataclass
class Check:
    group: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Result:
    machine: str
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def check(self, group: str, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(group, name, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"  [{mark}] {group:9} {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok


def log(msg: str) -> None:
    print(f"[image-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*cmd: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload,no-any-return]


# ---------------------------------------------------------------- the disk image


@dataclass
class Partition:
    number: int
    kind: int
    start: int  # bytes
    size: int  # bytes


def partitions(image: Path) -> list[Partition]:
    """The MBR's primary partitions."""
    with image.open("rb") as f:
        mbr = f.read(512)
    if mbr[510:512] != b"\x55\xaa":
        raise ValueError(f"{image}: no MBR signature")
    parts = []
    for i in range(4):
        entry = mbr[446 + 16 * i : 446 + 16 * (i + 1)]
        kind = entry[4]
        lba, sectors = struct.unpack("<II", entry[8:16])
        if kind:
            parts.append(Partition(i + 1, kind, lba * 512, sectors * 512))
    return parts


class BootPartition:
    """The vfat boot partition, read and written with mtools (nothing is mounted)."""

    def __init__(self, image: Path) -> None:
        boot = partitions(image)[0]
        self.spec = f"{image}@@{boot.start}"
        self.env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}

    def names(self) -> list[str]:
        out = run("mdir", "-b", "-i", self.spec, "::/", env=self.env).stdout
        return [line.rsplit("/", 1)[-1] for line in out.split() if line.strip()]

    def read(self, name: str) -> str | None:
        proc = run("mtype", "-i", self.spec, f"::/{name}", env=self.env, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def get(self, name: str, dest: Path) -> None:
        run("mcopy", "-o", "-n", "-i", self.spec, f"::/{name}", str(dest), env=self.env)

    def put(self, src: Path, name: str) -> None:
        run("mcopy", "-o", "-i", self.spec, str(src), f"::/{name}", env=self.env)


class RootPartition:
    """The ext4 root, read with debugfs through an offset (nothing is mounted)."""

    def __init__(self, image: Path) -> None:
        root = partitions(image)[1]
        self.start = root.start
        self.size = root.size
        self.spec = f"{image}?offset={root.start}"

    def debugfs(self, request: str) -> str:
        return run("debugfs", "-R", request, self.spec, check=False).stdout

    def read(self, path: str) -> str | None:
        proc = run("debugfs", "-R", f"cat {path}", self.spec, check=False)
        if "File not found" in proc.stderr or proc.returncode != 0:
            return None
        return proc.stdout

    def exists(self, path: str) -> bool:
        proc = run("debugfs", "-R", f"stat {path}", self.spec, check=False)
        return proc.returncode == 0 and "File not found" not in proc.stderr and bool(proc.stdout)

    def block_count_bytes(self) -> int:
        out = run("dumpe2fs", "-h", self.spec, check=False).stdout
        blocks = re.search(r"^Block count:\s+(\d+)", out, re.M)
        size = re.search(r"^Block size:\s+(\d+)", out, re.M)
        return int(blocks.group(1)) * int(size.group(1)) if blocks and size else 0

    def fsck(self) -> tuple[bool, str]:
        proc = run("e2fsck", "-fn", self.spec, check=False)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        summary = [line for line in lines if re.search(r"\d+/\d+ files", line)] or lines[-1:]
        return proc.returncode == 0, summary[0] if summary else ""

    def rdump(self, path: str, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        run("debugfs", "-R", f"rdump {path} {dest}", self.spec, check=False)


# ---------------------------------------------------------------- QEMU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Qmp:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(str(path))
        self.buf = b""
        self._recv()  # greeting
        self.cmd("qmp_capabilities")

    def _recv(self) -> dict[str, object]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return dict(json.loads(line))

    def cmd(self, name: str, **args: object) -> dict[str, object]:
        msg: dict[str, object] = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._recv()
            if "return" in reply or "error" in reply:
                return reply

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def qemu_command(
    machine: str, work: Path, kernel: dict[str, Path], cmdline: str, http_port: int, ssh_port: int
) -> list[str]:
    fwd = f"user,id=net0,hostfwd=tcp:127.0.0.1:{http_port}-:80,hostfwd=tcp:127.0.0.1:{ssh_port}-:22"
    common = [
        "-kernel",
        str(kernel["vmlinuz"]),
        "-initrd",
        str(kernel["initrd"]),
        "-append",
        cmdline,
        "-netdev",
        fwd,
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-chardev",
        f"file,id=ser0,path={work / 'console.log'}",
        "-serial",
        "chardev:ser0",
        "-qmp",
        f"unix:{work / 'qmp.sock'},server=on,wait=off",
    ]
    disk = str(work / "disk.img")
    if machine == "raspi3b":
        return [
            "qemu-system-aarch64",
            "-M",
            "raspi3b",
            "-dtb",
            str(kernel["dtb"]),
            "-drive",
            f"file={disk},if=sd,format=raw",
            "-device",
            "usb-net,netdev=net0",
            "-device",
            "usb-kbd",
            *common,
        ]
    return [
        "qemu-system-aarch64",
        "-M",
        "virt",
        "-cpu",
        "cortex-a53",
        "-smp",
        "2",
        "-m",
        "1G",
        "-drive",
        f"file={disk},if=none,id=disk0,format=raw",
        "-device",
        "virtio-blk-pci,drive=disk0",
        "-device",
        "virtio-net-pci,netdev=net0",
        "-device",
        "qemu-xhci",
        "-device",
        "usb-kbd",
        *common,
    ]


def http_get(port: int, path: str = "/login") -> tuple[int | None, str]:
    """GET path with Host 127.0.0.1:port, following this site's redirects (an unclaimed
    appliance sends /login to /setup); the final status and the way there."""
    chain = path
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
            resp = conn.getresponse()
            status, location = resp.status, resp.getheader("Location") or ""
        except (OSError, http.client.HTTPException):
            return None, chain
        finally:
            conn.close()
        if status in (301, 302, 303, 307, 308) and location.startswith("/"):
            path = location
            chain += f" -> {status} {location}"
            continue
        return status, f"{chain} -> {status}"
    return None, chain


def ssh_banner(port: int) -> str:
    """The SSH server's banner on the forwarded port, '' when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            return s.recv(256).decode(errors="replace").strip()
    except OSError:
        return ""


def console_has(work: Path, pattern: str) -> bool:
    path = work / "console.log"
    return path.exists() and re.search(pattern, path.read_text(errors="replace"), re.M) is not None


# ---------------------------------------------------------------- one machine


def test_machine(machine: str, image: Path, boot_timeout: float, firstboot_wait: float) -> Result:
    res = Result(machine)
    work = ARTIFACTS / machine
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk = work / "disk.img"
    log(f"{machine}: copying the image to {disk} and growing it to {DISK_SIZE >> 30} GiB")
    run("cp", "--sparse=always", str(image), str(disk))
    with disk.open("r+b") as f:
        f.truncate(DISK_SIZE)

    boot = BootPartition(disk)
    names = boot.names()
    res.check(
        "image",
        "boot partition has the alarmbridge.txt template",
        "alarmbridge.txt" in names
        and "hostname=alarmbridge" in (boot.read("alarmbridge.txt") or ""),
    )
    config = boot.read("config.txt") or ""
    cmdline_txt = (boot.read("cmdline.txt") or "").strip()
    gpio = re.search(
        r"# alarmbridge: relays off from power-on\n(gpio=.*\n)+# end alarmbridge", config
    )
    res.check(
        "image",
        "config.txt holds the relays off from power-on",
        gpio is not None,
        " ".join(re.findall(r"^gpio=\S+", config, re.M)),
    )
    res.check(
        "image",
        "cmdline.txt has root=LABEL=RASPIROOT",
        "root=LABEL=RASPIROOT" in cmdline_txt,
        cmdline_txt,
    )

    settings = work / "alarmbridge.txt"
    # raspi3b: no key, SSH must stay off; virt: a key, SSH must let us in as root
    ssh_id = work / "id_ed25519"
    pubkey = ""
    if machine == "virt":
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "image-test", "-f", str(ssh_id))
        pubkey = ssh_id.with_suffix(".pub").read_text().strip()
    settings.write_text(TEST_SETTINGS.format(ssh_key=pubkey))
    boot.put(settings, "alarmbridge.txt")

    kernel: dict[str, Path] = {}
    vmlinuz = sorted(n for n in names if n.startswith("vmlinuz-"))
    initrd = sorted(n for n in names if n.startswith("initrd.img-"))
    if not vmlinuz or not initrd:
        res.check("image", "kernel and initrd on the boot partition", False, " ".join(names))
        return res
    for key, name in (
        ("vmlinuz", vmlinuz[-1]),
        ("initrd", initrd[-1]),
        ("dtb", "bcm2837-rpi-3-b.dtb"),
    ):
        if machine == "virt" and key == "dtb":
            continue
        boot.get(name, work / name)
        kernel[key] = work / name

    if "dtb" in kernel:
        # What the Pi firmware adds to the device tree it hands the kernel (QEMU loads the
        # kernel itself): the board revision, which gpiozero reads from
        # /proc/device-tree/system/linux,revision (arm64 /proc/cpuinfo has none).
        # a02082: Pi 3 Model B 1.2, 1 GB, Sony UK.
        dtb = str(kernel["dtb"])
        if shutil.which("fdtput"):
            run("fdtput", "-c", dtb, "/system")
            run("fdtput", "-t", "x", dtb, "/system", "linux,revision", "a02082")
            run("fdtput", "-t", "x", dtb, "/system", "linux,serial", "0", "51ab1e00")
        else:
            log("fdtput missing (apt-get install device-tree-compiler): no board revision")

    # The image's own command line; the consoles become QEMU's PL011 (ttyAMA0).
    args = [a for a in cmdline_txt.split() if not a.startswith("console=")]
    args += ["console=ttyAMA0,115200"]
    if machine == "raspi3b":
        args += ["modprobe.blacklist=bcm2835_wdt"]
    cmdline = " ".join(args)

    http_port, ssh_port = free_port(), free_port()
    cmd = qemu_command(machine, work, kernel, cmdline, http_port, ssh_port)
    (work / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    log(f"{machine}: booting (HTTP on 127.0.0.1:{http_port}); console: {work / 'console.log'}")
    t0 = time.monotonic()
    qemu = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=(work / "qemu.out").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    qmp: Qmp | None = None
    try:
        # ---- HTTP 200
        status, chain = None, ""
        while time.monotonic() - t0 < boot_timeout and qemu.poll() is None:
            status, chain = http_get(http_port)
            if status == 200:
                break
            time.sleep(2)
        up = time.monotonic() - t0
        qemu_state = "running" if qemu.poll() is None else f"exited {qemu.returncode}"
        if status == 200:
            res.timings["http_200_s"] = round(up, 1)
        res.check(
            "boot",
            "HTTP 200 from /login",
            status == 200,
            f"{chain} after {up:.0f} s"
            if status == 200
            else f"last status {status}, qemu {qemu_state} after {up:.0f} s",
        )
        for what, pattern in (
            ("kernel found the root file system", r"EXT4-fs \(\w+\): mounted filesystem"),
        ):
            res.check("boot", what, console_has(work, pattern))

        if qemu.poll() is None and not pubkey:
            banner = ssh_banner(ssh_port)
            res.check(
                "boot",
                "SSH is off (no ssh_key given)",
                not banner.startswith("SSH-"),
                banner or "no banner",
            )
        elif qemu.poll() is None:
            out = ""
            for _ in range(20):  # first boot starts ssh.service without waiting for it
                proc = run(
                    "ssh",
                    "-i",
                    str(ssh_id),
                    "-p",
                    str(ssh_port),
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=10",
                    "root@127.0.0.1",
                    "hostname",
                    check=False,
                )
                out = proc.stdout.strip() if proc.returncode == 0 else proc.stderr.strip()
                if proc.returncode == 0:
                    break
                time.sleep(3)
            res.check(
                "firstboot",
                "SSH lets the given key in as root",
                out == TEST_HOSTNAME,
                f"ssh root@ hostname: {out.splitlines()[-1] if out else ''}",
            )
        if qemu.poll() is None:
            # ---- first-boot files, watched on the live image (the guest flushes vfat on
            # close); at least SETTLE_S more seconds, so that a unit that dies soon after
            # starting shows in the journal
            t1 = time.monotonic()
            while time.monotonic() - t1 < firstboot_wait and qemu.poll() is None:
                present = set(boot.names())
                wanted = {"alarmbridge-setup-code.txt", "alarmbridge-report.txt"}
                if wanted <= present and time.monotonic() - t1 >= SETTLE_S:
                    break
                time.sleep(3)
            # ---- clean shutdown: Ctrl-Alt-Del (reboot.target; -no-reboot makes QEMU stop)
            log(f"{machine}: shutting down (Ctrl-Alt-Del)")
            t2 = time.monotonic()
            try:
                qmp = Qmp(work / "qmp.sock")
                qmp.cmd(
                    "send-key",
                    keys=[{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")],
                )
            except (OSError, ConnectionError) as exc:
                log(f"{machine}: QMP: {exc}")
            done = r"reboot: (Restarting system|Power down)|Reboot failed|System halted"
            while (
                time.monotonic() - t2 < 240 and qemu.poll() is None and not console_has(work, done)
            ):
                time.sleep(1)
            clean = console_has(work, done) or qemu.poll() == 0
            res.timings["shutdown_s"] = round(time.monotonic() - t2, 1)
            res.check(
                "boot",
                "clean shutdown",
                clean,
                f"{time.monotonic() - t2:.0f} s" + ("" if clean else " (timed out; QEMU stopped)"),
            )
    finally:
        if qemu.poll() is None and qmp is not None:
            with contextlib.suppress(OSError, ConnectionError):
                qmp.cmd("quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                qemu.wait(15)
        if qmp is not None:
            qmp.close()
        if qemu.poll() is None:
            os.killpg(qemu.pid, signal.SIGTERM)
            try:
                qemu.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(qemu.pid, signal.SIGKILL)
                qemu.wait()
    res.timings["qemu_s"] = round(time.monotonic() - t0, 1)

    # ---- read back
    root = RootPartition(disk)
    ok, last = root.fsck()
    res.check("boot", "root file system clean (e2fsck -fn)", ok, last)
    grown = root.block_count_bytes()
    res.check(
        "boot",
        "root file system grown to fill the disk",
        grown > 0.9 * (DISK_SIZE - root.start),
        f"{grown / 2**30:.2f} GiB of {(DISK_SIZE - root.start) / 2**30:.2f} GiB",
    )
    machine_id = (root.read("/etc/machine-id") or "").strip()
    res.check("boot", "a machine-id was made", len(machine_id) == 32, machine_id or "empty")
    ssh_enabled = root.exists("/etc/systemd/system/multi-user.target.wants/ssh.service")
    host_key = root.exists("/etc/ssh/ssh_host_ed25519_key")
    if pubkey:
        res.check("firstboot", "ssh.service enabled (ssh_key given)", ssh_enabled)
        res.check("boot", "SSH host keys made on the device", host_key)
    else:
        res.check("boot", "ssh.service not enabled", not ssh_enabled)
        res.check("boot", "no SSH host keys (SSH never started)", not host_key)
    root.rdump("/var/log/journal", work / "journal")
    files = sorted(str(p) for p in (work / "journal").rglob("*.journal"))
    proc = run(
        "journalctl",
        *(f"--file={f}" for f in files),
        "--no-pager",
        "-o",
        "short-monotonic",
        check=False,
    )
    (work / "journal.txt").write_text(proc.stdout + proc.stderr)
    res.check(
        "boot", "persistent journal kept", bool(files) and "-- No entries --" not in proc.stdout
    )
    res.check(
        "boot",
        "systemd reached multi-user.target",
        "Reached target multi-user.target" in proc.stdout,
    )
    failed = sorted(set(re.findall(r"Failed to start (\S+)", proc.stdout)))
    others = [u for u in failed if not u.startswith("alarmbridge-")]
    res.check("boot", "no system unit failed to start (journal)", not others, " ".join(others))
    for unit in (
        "alarmbridge-io.service",
        "alarmbridge-web.service",
        "alarmbridge-firstboot.service",
    ):
        started = re.search(rf"(Started|Finished) {re.escape(unit)}", proc.stdout) is not None
        res.check(
            "app",
            f"{unit} ran without failing",
            started and unit not in failed,
            "; ".join(
                sorted(
                    set(
                        re.findall(
                            rf"{re.escape(unit)}: (Failed with result .*)$", proc.stdout, re.M
                        )
                    )
                )
                + sorted(
                    set(re.findall(r"alarmbridge\[\d+\]: (alarmbridge: .*)$", proc.stdout, re.M))
                )[:2]
            )
            if unit in failed
            else "",
        )

    for name in ("alarmbridge.txt", "alarmbridge-report.txt", "alarmbridge-setup-code.txt"):
        text = boot.read(name)
        if text is not None:
            (work / f"after-{name}").write_text(text)
    report = boot.read("alarmbridge-report.txt")
    res.check(
        "firstboot",
        "alarmbridge-report.txt written",
        report is not None,
        f"{work / 'after-alarmbridge-report.txt'}" if report is not None else "",
    )
    problems = re.search(r"^Problems.*\n((?:  - .*\n?)+)", report or "", re.M)
    res.check(
        "firstboot",
        "the report lists no problems",
        report is not None and problems is None,
        problems.group(1).strip().replace("\n", " ") if problems else "",
    )
    hostname = (root.read("/etc/hostname") or "").strip()
    res.check(
        "firstboot",
        f"hostname applied ({TEST_HOSTNAME})",
        hostname == TEST_HOSTNAME,
        f"/etc/hostname = {hostname!r}; report mentions it: "
        f"{TEST_HOSTNAME in (report or '')}; console: {console_has(work, TEST_HOSTNAME)}",
    )
    localtime = run("debugfs", "-R", "stat /etc/localtime", root.spec, check=False).stdout
    link = re.search(r'Fast link dest: "(.*)"', localtime)
    res.check(
        "firstboot",
        "timezone applied (Europe/Brussels)",
        "Europe/Brussels" in localtime,
        link.group(1) if link else "/etc/localtime is not a symlink",
    )
    after = boot.read("alarmbridge.txt") or ""
    res.check(
        "firstboot",
        "wifi_password blanked in alarmbridge.txt",
        re.search(r"^wifi_password=\s*$", after, re.M) is not None
        and "not-a-real-secret" not in after,
    )
    code = boot.read("alarmbridge-setup-code.txt")
    res.check(
        "firstboot",
        "alarmbridge-setup-code.txt on the boot partition",
        code is not None,
        (code or "").strip().splitlines()[0] if code else "",
    )
    return res


# ---------------------------------------------------------------- main


def find_image() -> Path:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    image = REPO / "dist" / f"alarmbridge-{version}-arm64.img"
    packed = image.with_name(image.name + ".xz")
    if packed.exists() and (not image.exists() or packed.stat().st_mtime > image.stat().st_mtime):
        log(f"unpacking {packed.name}")
        with image.open("wb") as out:
            subprocess.run(["xz", "-dc", str(packed)], stdout=out, check=True)
    if not image.exists():
        sys.exit(f"image-test: no {image.name}[.xz] in dist/ (make image)")
    return image


TOOLS = {
    "qemu-system-aarch64": "qemu-system-arm",
    "mdir": "mtools",
    "mcopy": "mtools",
    "debugfs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "journalctl": "systemd",
    "fdtput": "device-tree-compiler",
    "xz": "xz-utils",
}


def need_tools() -> None:
    """Install the missing tools with apt (as root), or say which packages to install."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"image-test: missing tools; apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: QEMU is stopped


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machine", choices=["raspi3b", "virt", "both"], default="both")
    parser.add_argument(
        "--image", type=Path, help="the .img (default: dist/alarmbridge-VERSION-arm64.img[.xz])"
    )
    parser.add_argument("--boot-timeout", type=float, default=900, help="seconds to HTTP 200")
    parser.add_argument(
        "--firstboot-wait",
        type=float,
        default=180,
        help="seconds after HTTP 200 to wait for the first-boot files",
    )
    parser.add_argument(
        "--optional",
        action="append",
        default=[],
        choices=["app", "firstboot"],
        help="report this group's checks but do not fail on them (repeatable)",
    )
    opts = parser.parse_args()

    need_tools()
    image = opts.image or find_image()
    machines = ["raspi3b", "virt"] if opts.machine == "both" else [opts.machine]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results = []
    for machine in machines:
        log(f"=== {machine} ===")
        results.append(test_machine(machine, image, opts.boot_timeout, opts.firstboot_wait))

    print("\nimage-test summary (" + image.name + ")")
    failed: dict[str, int] = {}
    for res in results:
        bad = [c for c in res.checks if not c.ok]
        timings = ", ".join(f"{k} {v:.0f}" for k, v in res.timings.items())
        print(f"  {res.machine:8} {len(res.checks) - len(bad)}/{len(res.checks)} passed; {timings}")
        for c in bad:
            print(f"           FAIL {c.group}: {c.name}" + (f" ({c.detail})" if c.detail else ""))
            failed[c.group] = failed.get(c.group, 0) + 1
    (ARTIFACTS / "summary.json").write_text(
        json.dumps(
            [
                {
                    "machine": r.machine,
                    "timings": r.timings,
                    "checks": [c.__dict__ for c in r.checks],
                }
                for r in results
            ],
            indent=2,
        )
        + "\n"
    )
    counts = ", ".join(f"{n} {g}" for g, n in sorted(failed.items()))
    if any(g not in opts.optional for g in failed):
        print(f"image-test: FAILED ({counts})")
        return 1
    print("image-test: PASSED" + (f" (optional checks failed: {counts})" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
