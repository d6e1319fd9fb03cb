"""The plumbing of ``make image-test`` (deploy/image/test.py), which holds the checks: the
host's tools; the card image's partitions (read and written with mtools and debugfs;
nothing is mounted); a fresh disk, the kernel, initrd and device tree taken out of it and
the QEMU command line; the running guest (QMP, Ctrl-Alt-Del, stopping it) and what the
checks ask of it (HTTP, the SSH banner, ssh, the console log).
"""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

DISK_SIZE = 4 << 30  # bytes; a power of two for -M raspi3b, bigger than the image


def log(msg: str) -> None:
    print(f"[image-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*cmd: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload,no-any-return]


# ---------------------------------------------------------------- the host's tools


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
    """Install the missing host tools with apt (as root), or say which packages to install."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"image-test: missing tools; apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)


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

    def journal(self, work: Path) -> tuple[list[str], str]:
        """The persistent journal, copied to work/journal/ and printed to work/journal.txt:
        its files and journalctl's output."""
        self.rdump("/var/log/journal", work / "journal")
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
        return files, proc.stdout


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
        *("-kernel", str(kernel["vmlinuz"]), "-initrd", str(kernel["initrd"])),
        *("-append", cmdline, "-netdev", fwd),
        *("-display", "none", "-monitor", "none", "-no-reboot"),
        *("-chardev", f"file,id=ser0,path={work / 'console.log'}", "-serial", "chardev:ser0"),
        *("-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off"),
    ]
    disk = str(work / "disk.img")
    if machine == "raspi3b":
        return [
            *("qemu-system-aarch64", "-M", "raspi3b", "-dtb", str(kernel["dtb"])),
            *("-drive", f"file={disk},if=sd,format=raw"),
            *("-device", "usb-net,netdev=net0", "-device", "usb-kbd"),
            *common,
        ]
    return [
        *("qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53", "-smp", "2", "-m", "1G"),
        *("-drive", f"file={disk},if=none,id=disk0,format=raw"),
        *("-device", "virtio-blk-pci,drive=disk0", "-device", "virtio-net-pci,netdev=net0"),
        *("-device", "qemu-xhci", "-device", "usb-kbd"),
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


# ---------------------------------------------------------------- the running guest


class Guest:
    """QEMU running ``cmd`` (from qemu_command) in its own session; its output in
    work/qemu.out, its console in work/console.log."""

    def __init__(self, cmd: list[str], work: Path, http_port: int, ssh_port: int) -> None:
        self.work = work
        self.http_port = http_port
        self.ssh_port = ssh_port
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=(work / "qemu.out").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.qmp: Qmp | None = None

    def running(self) -> bool:
        return self.proc.poll() is None

    def ctrl_alt_del(self) -> None:
        """Press Ctrl-Alt-Del on the emulated USB keyboard (raises OSError, ConnectionError)."""
        self.qmp = Qmp(self.work / "qmp.sock")
        self.qmp.cmd(
            "send-key",
            keys=[{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")],
        )

    def ssh(self, key: Path, command: str) -> subprocess.CompletedProcess[str]:
        """``command`` as root through the forwarded SSH port, logging in with ``key``."""
        return run(
            *("ssh", "-i", str(key), "-p", str(self.ssh_port)),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", "BatchMode=yes", "-o", "ConnectTimeout=10"),
            *("root@127.0.0.1", command),
            check=False,
        )

    def stop(self) -> None:
        """QMP quit if it is still running, then SIGTERM and SIGKILL to its session."""
        qemu, qmp = self.proc, self.qmp
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


# ---------------------------------------------------------------- preparing and booting a guest


def prepare_disk(machine: str, image: Path, work: Path) -> BootPartition:
    """A fresh work directory with disk.img: the image, grown to DISK_SIZE."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk = work / "disk.img"
    log(f"{machine}: copying the image to {disk} and growing it to {DISK_SIZE >> 30} GiB")
    run("cp", "--sparse=always", str(image), str(disk))
    with disk.open("r+b") as f:
        f.truncate(DISK_SIZE)
    return BootPartition(disk)


def extract_kernel(
    machine: str, work: Path, boot: BootPartition, names: list[str]
) -> dict[str, Path] | None:
    """The kernel, initrd and (raspi3b) device tree copied into work (None without a kernel
    or initrd)."""
    kernel: dict[str, Path] = {}
    vmlinuz = sorted(n for n in names if n.startswith("vmlinuz-"))
    initrd = sorted(n for n in names if n.startswith("initrd.img-"))
    if not vmlinuz or not initrd:
        return None
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
        add_board_revision(kernel["dtb"])
    return kernel


def add_board_revision(path: Path) -> None:
    """What the Pi firmware adds to the device tree it hands the kernel (QEMU loads the
    kernel itself): the board revision, which gpiozero reads from
    /proc/device-tree/system/linux,revision (arm64 /proc/cpuinfo has none).
    a02082: Pi 3 Model B 1.2, 1 GB, Sony UK."""
    dtb = str(path)
    if shutil.which("fdtput"):
        run("fdtput", "-c", dtb, "/system")
        run("fdtput", "-t", "x", dtb, "/system", "linux,revision", "a02082")
        run("fdtput", "-t", "x", dtb, "/system", "linux,serial", "0", "51ab1e00")
    else:
        log("fdtput missing (apt-get install device-tree-compiler): no board revision")


def kernel_cmdline(machine: str, cmdline_txt: str) -> str:
    """The image's own command line; the consoles become QEMU's PL011 (ttyAMA0)."""
    args = [a for a in cmdline_txt.split() if not a.startswith("console=")]
    args += ["console=ttyAMA0,115200"]
    if machine == "raspi3b":
        args += ["modprobe.blacklist=bcm2835_wdt"]
    return " ".join(args)


def boot_guest(machine: str, work: Path, kernel: dict[str, Path], cmdline: str) -> Guest:
    """QEMU started on work/disk.img, its command line kept in work/qemu-command.txt."""
    http_port, ssh_port = free_port(), free_port()
    cmd = qemu_command(machine, work, kernel, cmdline, http_port, ssh_port)
    (work / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    log(f"{machine}: booting (HTTP on 127.0.0.1:{http_port}); console: {work / 'console.log'}")
    return Guest(cmd, work, http_port, ssh_port)
