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

This file holds the checks; the disk, QEMU and network plumbing is in guest.py.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# guest.py is in this script's directory, which Python puts first on sys.path
from guest import (
    DISK_SIZE,
    BootPartition,
    Guest,
    RootPartition,
    boot_guest,
    console_has,
    extract_kernel,
    http_get,
    kernel_cmdline,
    log,
    need_tools,
    prepare_disk,
    run,
    ssh_banner,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "image-test"

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
SSH_ID = "id_ed25519"  # the test's SSH key (virt only), in the machine's directory


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


# ---------------------------------------------------------------- one machine


def test_machine(machine: str, image: Path, boot_timeout: float, firstboot_wait: float) -> Result:
    res = Result(machine)
    work = ARTIFACTS / machine
    boot = prepare_disk(machine, image, work)
    names, cmdline_txt = check_image(res, boot)
    pubkey = write_settings(machine, work, boot)
    kernel = extract_kernel(machine, work, boot, names)
    if kernel is None:
        res.check("image", "kernel and initrd on the boot partition", False, " ".join(names))
        return res

    guest = boot_guest(machine, work, kernel, kernel_cmdline(machine, cmdline_txt))
    try:
        wait_for_http(res, guest, boot_timeout)
        check_ssh(res, guest, pubkey)
        if guest.running():
            wait_for_firstboot(guest, boot, firstboot_wait)
            shut_down(res, machine, guest)
    finally:
        guest.stop()
    res.timings["qemu_s"] = round(time.monotonic() - guest.started, 1)

    root = RootPartition(work / "disk.img")
    check_root(res, root, pubkey)
    check_journal(res, root, work)
    check_firstboot(res, work, boot, root)
    return res


# ---- before the boot: the image checks, the settings


def check_image(res: Result, boot: BootPartition) -> tuple[list[str], str]:
    """The ``image`` checks; the boot partition's file names and its cmdline.txt."""
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
    return names, cmdline_txt


def write_settings(machine: str, work: Path, boot: BootPartition) -> str:
    """The test alarmbridge.txt onto the boot partition; the SSH public key given in it."""
    settings = work / "alarmbridge.txt"
    # raspi3b: no key, SSH must stay off; virt: a key, SSH must let us in as root
    ssh_id = work / SSH_ID
    pubkey = ""
    if machine == "virt":
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "image-test", "-f", str(ssh_id))
        pubkey = ssh_id.with_suffix(".pub").read_text().strip()
    settings.write_text(TEST_SETTINGS.format(ssh_key=pubkey))
    boot.put(settings, "alarmbridge.txt")
    return pubkey


# ---- the running guest


def wait_for_http(res: Result, guest: Guest, boot_timeout: float) -> None:
    """Up to boot_timeout seconds from the start for HTTP 200 from /login."""
    status, chain = None, ""
    while time.monotonic() - guest.started < boot_timeout and guest.running():
        status, chain = http_get(guest.http_port)
        if status == 200:
            break
        time.sleep(2)
    up = time.monotonic() - guest.started
    qemu_state = "running" if guest.running() else f"exited {guest.proc.returncode}"
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
        res.check("boot", what, console_has(guest.work, pattern))


def check_ssh(res: Result, guest: Guest, pubkey: str) -> None:
    """Without a key SSH does not answer; with one, it lets the test's key in as root."""
    if guest.running() and not pubkey:
        banner = ssh_banner(guest.ssh_port)
        res.check(
            "boot",
            "SSH is off (no ssh_key given)",
            not banner.startswith("SSH-"),
            banner or "no banner",
        )
    elif guest.running():
        out = ""
        for _ in range(20):  # first boot starts ssh.service without waiting for it
            proc = guest.ssh(guest.work / SSH_ID, "hostname")
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


def wait_for_firstboot(guest: Guest, boot: BootPartition, firstboot_wait: float) -> None:
    """The first-boot files, watched on the live image (the guest flushes vfat on close);
    at least SETTLE_S more seconds, so that a unit that dies soon after starting shows in
    the journal."""
    t1 = time.monotonic()
    while time.monotonic() - t1 < firstboot_wait and guest.running():
        present = set(boot.names())
        wanted = {"alarmbridge-setup-code.txt", "alarmbridge-report.txt"}
        if wanted <= present and time.monotonic() - t1 >= SETTLE_S:
            break
        time.sleep(3)


def shut_down(res: Result, machine: str, guest: Guest) -> None:
    """Clean shutdown: Ctrl-Alt-Del (reboot.target; -no-reboot makes QEMU stop)."""
    log(f"{machine}: shutting down (Ctrl-Alt-Del)")
    t2 = time.monotonic()
    try:
        guest.ctrl_alt_del()
    except (OSError, ConnectionError) as exc:
        log(f"{machine}: QMP: {exc}")
    done = r"reboot: (Restarting system|Power down)|Reboot failed|System halted"
    while time.monotonic() - t2 < 240 and guest.running() and not console_has(guest.work, done):
        time.sleep(1)
    clean = console_has(guest.work, done) or guest.proc.poll() == 0
    res.timings["shutdown_s"] = round(time.monotonic() - t2, 1)
    res.check(
        "boot",
        "clean shutdown",
        clean,
        f"{time.monotonic() - t2:.0f} s" + ("" if clean else " (timed out; QEMU stopped)"),
    )


# ---- after the shutdown: the root and boot partitions read back


def check_root(res: Result, root: RootPartition, pubkey: str) -> None:
    """The root file system: clean, grown, a machine-id, SSH as the settings asked."""
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


def check_journal(res: Result, root: RootPartition, work: Path) -> None:
    """The guest's persistent journal (kept in work): the system and the ``app`` units."""
    files, journal = root.journal(work)
    res.check("boot", "persistent journal kept", bool(files) and "-- No entries --" not in journal)
    res.check(
        "boot",
        "systemd reached multi-user.target",
        "Reached target multi-user.target" in journal,
    )
    failed = sorted(set(re.findall(r"Failed to start (\S+)", journal)))
    others = [u for u in failed if not u.startswith("alarmbridge-")]
    res.check("boot", "no system unit failed to start (journal)", not others, " ".join(others))
    for unit in (
        "alarmbridge-io.service",
        "alarmbridge-web.service",
        "alarmbridge-firstboot.service",
    ):
        started = re.search(rf"(Started|Finished) {re.escape(unit)}", journal) is not None
        res.check(
            "app",
            f"{unit} ran without failing",
            started and unit not in failed,
            unit_failure(unit, journal) if unit in failed else "",
        )


def unit_failure(unit: str, journal: str) -> str:
    """Why a unit failed: systemd's result and the first two errors AlarmBridge logged."""
    result = re.findall(rf"{re.escape(unit)}: (Failed with result .*)$", journal, re.M)
    errors = re.findall(r"alarmbridge\[\d+\]: (alarmbridge: .*)$", journal, re.M)
    return "; ".join(sorted(set(result)) + sorted(set(errors))[:2])


def check_firstboot(res: Result, work: Path, boot: BootPartition, root: RootPartition) -> None:
    """What ``alarmbridge firstboot`` did; the boot partition's files are kept in work."""
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
    localtime = root.debugfs("stat /etc/localtime")
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
