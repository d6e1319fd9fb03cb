"""The system test: the .deb installed in a Debian 12 root that boots under
systemd-nspawn, with real dpkg, real systemd, real HTTP.

The root is made by debootstrap once and kept as a tarball in deploy/.cache/nspawn/
(git-ignored), named by the package list, so later runs only unpack it. The container
has a private network (loopback only); HTTP requests go to it from this machine's
python inside the container's network namespace (nsenter -n), commands run in all its
namespaces (nsenter -a).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import CACHE, BuildDeb, debian_version, missing, need_root, need_tools

SUITE = "bookworm"
MIRROR = os.environ.get("ALARMBRIDGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
INCLUDE = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "adduser",
    "openssl",
    "avahi-daemon",
    "avahi-utils",
    "libnss-mdns",
    "ca-certificates",
]
HOSTNAME = "alarmbridge-test"
NEWER = debian_version() + "+systemtest1"
PASSWORD = "correct horse battery staple 42"

HTTP_CLIENT = r"""
import json, sys, urllib.request, urllib.error
method, url, body, cookie = json.loads(sys.argv[1])
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None if method != "GET" else super().redirect_request(*a, **k)
request = urllib.request.Request(url, method=method, data=None if body is None else
    json.dumps(body).encode())
request.add_header("Origin", "http://127.0.0.1")
if body is not None:
    request.add_header("Content-Type", "application/json")
if cookie:
    request.add_header("Cookie", cookie)
try:
    with urllib.request.build_opener(Keep).open(request, timeout=10) as r:
        status, headers, text, final = r.status, r.headers, r.read().decode(), r.url
except urllib.error.HTTPError as e:
    status, headers, text, final = e.code, e.headers, e.read().decode(), url
cookies = [v.split(";")[0] for v in headers.get_all("Set-Cookie") or []]
print(json.dumps({"status": status, "body": text, "url": final, "cookies": cookies}))
"""


class Container:
    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self) -> None:
        cmd = ["systemd-nspawn", "--quiet", "--keep-unit", "--register=no", "--boot"]
        cmd += ["--directory", str(self.root), "--private-network", f"--machine={HOSTNAME}"]
        cmd += ["--console=pipe"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"nspawn exited:\n{self.log.read_text()[-3000:]}"
            children = subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
            ).stdout.split()
            if children:
                self.leader = int(children[0])
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.5)
        pytest.fail(f"the container did not boot in 60 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.leader, signal.SIGRTMIN + 4)  # systemd: power off
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def run(
        self, *cmd: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command in all the container's namespaces, as root."""
        result = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "--", *cmd],
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, (
                f"{cmd}: {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def as_web_user(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        setpriv = ["setpriv", "--reuid=alarmbridge-web", "--regid=alarmbridge-web"]
        return self.run(*setpriv, "--init-groups", "--", *cmd, check=False)

    def http(
        self, method: str, path: str, body: Any = None, cookie: str | None = None
    ) -> dict[str, Any]:
        """Real HTTP to the web process on the container's port 80."""
        request = json.dumps([method, f"http://127.0.0.1{path}", body, cookie])
        netns = ["nsenter", "-t", str(self.leader), "-n", "--"]
        result = subprocess.run(
            [*netns, sys.executable, "-c", HTTP_CLIENT, request],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def wait_active(self, timeout: float = 60) -> None:
        units = ["alarmbridge-io.service", "alarmbridge-network.service", "alarmbridge-web.service"]
        deadline = time.monotonic() + timeout
        while True:
            states = self.run("systemctl", "is-active", *units, check=False).stdout.split()
            if states == ["active"] * len(units):
                break
            if time.monotonic() > deadline:
                journal = self.run("journalctl", "--no-pager", "-n", "60", check=False).stdout
                pytest.fail(f"services {states}:\n{journal}")
            time.sleep(0.5)
        # active (Type=exec) is not yet listening: the health check waits for both to answer
        left = str(max(5, deadline - time.monotonic()))
        check = self.run("alarmbridge-update", "--check", "--timeout", left, check=False)
        assert check.returncode == 0, check.stdout + check.stderr

    def version(self) -> str:
        return self.run("dpkg-query", "-W", "-f=${Version}", "alarmbridge").stdout

    def events(self) -> list[dict[str, Any]]:
        out = self.run("alarmbridge", "events", "--json", "--limit", "1000").stdout
        return [json.loads(line) for line in out.splitlines()]

    def ids(self, name: str) -> tuple[int, int]:
        """(uid, gid) of a user of the container."""
        for line in (self.root / "etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == name:
                return int(parts[2]), int(parts[3])
        raise KeyError(name)

    def gid(self, group: str) -> int:
        for line in (self.root / "etc/group").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == group:
                return int(parts[2])
        raise KeyError(group)


def debian_root(work: Path) -> Path:
    """A bookworm root with INCLUDE, unpacked from the cached tarball (made if missing)."""
    key = hashlib.sha256(json.dumps([SUITE, MIRROR, "minbase", INCLUDE]).encode()).hexdigest()
    tarball = CACHE / "nspawn" / f"{SUITE}-{key[:16]}.tar"
    root = work / "root"
    if not tarball.exists():
        build = work / "debootstrap"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}"]
        result = subprocess.run(
            [*cmd, SUITE, str(build), MIRROR], capture_output=True, text=True, timeout=900
        )
        if result.returncode != 0:
            log = (
                (build / "debootstrap/debootstrap.log").read_text()[-2000:]
                if build.exists()
                else ""
            )
            missing(f"debootstrap failed: {result.stderr[-1000:]} {log}")
        (build / "etc/hostname").write_text(HOSTNAME + "\n")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(build), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
        shutil.rmtree(build)
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", str(tarball)], check=True)
    return root


def nspawn_works() -> None:
    """systemd-nspawn keeps its propagation directory under /run/systemd/nspawn and
    refuses one on a disk file system: give it a tmpfs where /run is not one."""
    path = Path("/run/systemd/nspawn")
    path.mkdir(parents=True, exist_ok=True)
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True
    ).stdout.strip()
    if fs != "tmpfs":
        mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], check=False)
        if mounted.returncode != 0:
            missing("cannot mount a tmpfs on /run/systemd/nspawn")


@pytest.fixture(scope="module")
def container(build_deb: BuildDeb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    need_root()
    need_tools("debootstrap", "systemd-nspawn", "nsenter", "dpkg-deb")
    nspawn_works()
    work = tmp_path_factory.mktemp("nspawn")
    started = time.monotonic()
    root = debian_root(work)
    deb = build_deb("amd64")
    shutil.copy(deb, root / "root" / deb.name)
    install = subprocess.run(
        [
            *("systemd-nspawn", "--quiet", "--keep-unit", "--register=no", "--pipe"),
            *("--directory", str(root), "--setenv=DEBIAN_FRONTEND=noninteractive"),
            *("apt-get", "install", "-y", "-q", f"/root/{deb.name}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # The SD card's boot partition, as a user edited it on a Windows machine: first
    # boot must apply it (the root's own name is something else).
    (root / "etc/hostname").write_text("debian-root\n")
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (boot / "alarmbridge.txt").write_bytes(
        f"# edited in Notepad\r\nHostname = {HOSTNAME}\r\nboard=waveshare-rpi-relay\r\n".encode()
    )
    machine = Container(root, work / "console.log")
    machine.boot()
    print(f"container ready in {time.monotonic() - started:.1f} s")
    try:
        yield machine
    finally:
        machine.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def admin_cookie(container: Container) -> str:
    """Claim the appliance through the web UI's API with the setup code, as a person
    would; the session cookie of that first admin."""
    container.wait_active()
    code = container.run("alarmbridge", "setup-code").stdout.strip()
    # The same code is on the boot partition, for a user with no screen on the Pi.
    card = container.root / "boot/firmware/alarmbridge-setup-code.txt"
    deadline = time.monotonic() + 30
    while not card.exists():
        assert time.monotonic() < deadline, container.run("journalctl", "--no-pager").stdout
        time.sleep(0.5)
    assert f"AlarmBridge setup code: {code}\n" in card.read_text()
    assert f"http://{HOSTNAME}.local/" in card.read_text()
    claimed = container.http(
        "POST", "/api/v1/setup", {"code": code, "name": "admin", "password": PASSWORD}
    )
    assert claimed["status"] == 201, claimed
    # Claimed: the code leaves the card at the next start of the unit.
    container.run("systemctl", "start", "alarmbridge-setup-code.service")
    assert not card.exists()
    return str(claimed["cookies"][0])


def test_installed_package_boots_and_serves(container: Container, admin_cookie: str) -> None:
    container.wait_active()

    # First boot applied the card's file before the services started.
    report = (container.root / "boot/firmware/alarmbridge-report.txt").read_text()
    assert f"host name: {HOSTNAME}" in report and "Problems" not in report, report
    assert (container.root / "etc/hostname").read_text() == HOSTNAME + "\n"
    assert container.run("hostname").stdout.strip() == HOSTNAME
    env = (container.root / "etc/alarmbridge/alarmbridge.env").read_text()
    assert "ALARMBRIDGE_BOARD=waveshare-rpi-relay\n" in env, env
    live = json.loads(container.run("alarmbridge", "status", "--json").stdout)
    assert live["board"] == "waveshare-rpi-relay", live  # the io process runs that preset

    # The io process: its own user with gpio, the socket for group alarmbridge only.
    io_pid = container.run("systemctl", "show", "-P", "MainPID", "alarmbridge-io").stdout.strip()
    status = container.run("cat", f"/proc/{io_pid}/status").stdout
    uid, _ = container.ids("alarmbridge")
    assert re.search(rf"^Uid:\s+{uid}\s", status, re.M), status
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M)
    assert groups and str(container.gid("gpio")) in groups[1].split()
    sock = (container.root / "var/lib/alarmbridge/io.sock").lstat()
    assert oct(sock.st_mode & 0o777) == oct(0o660)
    assert (sock.st_uid, sock.st_gid) == (uid, container.gid("alarmbridge"))
    web_pid = container.run("systemctl", "show", "-P", "MainPID", "alarmbridge-web").stdout.strip()
    web_uid, _ = container.ids("alarmbridge-web")
    web_status = container.run("cat", f"/proc/{web_pid}/status").stdout
    assert re.search(rf"^Uid:\s+{web_uid}\s", web_status, re.M)
    assert re.search(r"^CapAmb:\s+0000000000000400$", web_status, re.M)  # NET_BIND_SERVICE

    # The network process: its own user, in group alarmbridge (the log, read-only), no
    # GPIO; its status socket reached by the CLI as root (which drops to the web user).
    net_pid = container.run(
        "systemctl", "show", "-P", "MainPID", "alarmbridge-network"
    ).stdout.strip()
    net_status = container.run("cat", f"/proc/{net_pid}/status").stdout
    net_uid, _ = container.ids("alarmbridge-network")
    assert re.search(rf"^Uid:\s+{net_uid}\s", net_status, re.M), net_status
    net_groups = re.search(r"^Groups:\s*(.*)$", net_status, re.M)
    assert net_groups and str(container.gid("alarmbridge")) in net_groups[1].split()
    assert str(container.gid("gpio")) not in net_groups[1].split()
    shown = container.run("alarmbridge", "network", "status", "--json", check=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["device_id"].startswith("ab-")

    # Files the CLI made as root belong to the web user (the wrapper drops to it).
    auth = (container.root / "var/lib/alarmbridge-web/auth.db").stat()
    assert auth.st_uid == web_uid and auth.st_mode & 0o077 == 0

    # The health check, and /login over real HTTP.
    check = container.run("alarmbridge-update", "--check", "--timeout", "30", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    login = container.http("GET", "/login")
    assert login["status"] == 200 and "<form" in login["body"], login

    # The web process reads the event log (over HTTP, logged in)...
    page = container.http("GET", "/api/v1/events?limit=50", cookie=admin_cookie)
    assert page["status"] == 200, page
    kinds = {(e["kind"], e.get("state")) for e in json.loads(page["body"])["events"]}
    assert ("system", "started") in kinds, kinds
    # ...and its user can read it directly but never write it.
    db = "/var/lib/alarmbridge/alarmbridge.db"
    read = container.as_web_user(
        "python3",
        "-c",
        f"import sqlite3; c = sqlite3.connect('file:{db}?mode=ro', uri=True); "
        "print(c.execute('SELECT count(*) FROM events').fetchone()[0])",
    )
    assert read.returncode == 0 and int(read.stdout) > 0, read.stderr
    write = container.as_web_user("python3", "-c", f"open('{db}', 'r+b')")
    assert write.returncode != 0 and "Permission denied" in write.stderr, write
    sql_write = container.as_web_user(
        "python3",
        "-c",
        f"import sqlite3; c = sqlite3.connect('file:{db}?mode=rw', uri=True); "
        "c.execute('DELETE FROM events'); c.commit()",
    )
    assert sql_write.returncode != 0, sql_write
    assert "readonly database" in sql_write.stderr or "unable to open" in sql_write.stderr

    # mDNS: avahi announces the web UI under the machine's name.
    deadline = time.monotonic() + 30
    while True:
        journal = container.run("journalctl", "-u", "avahi-daemon", "--no-pager").stdout
        if (
            f'Service "{HOSTNAME}" (/services/alarmbridge.service) successfully established'
            in journal
        ):
            break
        assert time.monotonic() < deadline, journal
        time.sleep(0.5)
    browse = container.run("avahi-browse", "--terminate", "--resolve", "--parsable", "_http._tcp")
    assert any(
        line.startswith("=") and f";{HOSTNAME};" in line and line.endswith(';80;"path=/"')
        for line in browse.stdout.splitlines()
    ), browse.stdout
    resolved = container.run("avahi-resolve", "--name", f"{HOSTNAME}.local")
    assert resolved.stdout.startswith(f"{HOSTNAME}.local"), resolved.stdout

    # The units, as installed, verify clean on the system that runs them.
    verify = container.run(
        "systemd-analyze",
        "verify",
        "--man=no",
        *(
            f"/lib/systemd/system/alarmbridge-{u}.service"
            for u in ("io", "network", "web", "firstboot", "setup-code")
        ),
        check=False,
    )
    assert verify.returncode == 0 and "alarmbridge" not in verify.stderr, verify.stderr


def test_update_keeps_data_and_rolls_back(
    container: Container, admin_cookie: str, build_deb: BuildDeb
) -> None:
    container.wait_active()
    old = container.version()
    assert old == debian_version()
    container.run("alarmbridge", "start", "1", "--for", "1", "--user", "deploy-test")
    before = container.events()
    assert any("deploy-test" in json.dumps(e) for e in before), before[-5:]

    newer = build_deb("amd64", NEWER)
    shutil.copy(newer, container.root / "root" / newer.name)
    path = f"/root/{newer.name}"
    digest = hashlib.sha256(newer.read_bytes()).hexdigest()

    # A wrong checksum is refused and changes nothing.
    refused = container.run("alarmbridge-update", path, "--sha256", "0" * 64, check=False)
    assert refused.returncode == 1 and "REFUSED" in refused.stdout, refused.stdout
    assert container.version() == old

    def update() -> None:
        done = container.run("alarmbridge-update", path, "--sha256", digest, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "health check passed" in done.stdout, done.stdout
        assert container.version() == NEWER
        container.wait_active()

    def same_data() -> None:
        seqs = {e["seq"] for e in container.events()}
        assert {e["seq"] for e in before} <= seqs
        login = container.http("POST", "/api/v1/login", {"name": "admin", "password": PASSWORD})
        assert login["status"] == 200, login

    update()
    same_data()
    kept = container.root / "var/lib/alarmbridge-updates"
    assert (kept / f"alarmbridge_{old}_amd64.deb").exists()
    assert (kept / f"alarmbridge_{NEWER}_amd64.deb").exists()
    assert list(kept.glob("backup-*/alarmbridge.db")) and list(kept.glob("backup-*/auth.db"))

    # Rollback with the same schema: the databases are kept as they are.
    back = container.run("alarmbridge-update", "--rollback", check=False)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "schema unchanged" in back.stdout and "health check passed" in back.stdout
    assert container.version() == old
    container.wait_active()
    same_data()

    # Rollback after a schema migration: as if the new version had migrated the log,
    # the old one would refuse it. The backup goes back, the newer file is moved aside.
    update()
    container.run("systemctl", "stop", "alarmbridge-web", "alarmbridge-io")
    live = "/var/lib/alarmbridge/alarmbridge.db"
    container.run(
        "python3",
        "-c",
        f"import sqlite3; c = sqlite3.connect('{live}'); "
        "c.execute(\"UPDATE alembic_version SET version_num = 'ffff_future'\"); c.commit()",
    )
    back = container.run("alarmbridge-update", "--rollback", check=False)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "restored the backup" in back.stdout, back.stdout
    assert container.version() == old
    container.wait_active()
    aside = list((container.root / "var/lib/alarmbridge").glob("alarmbridge.db.rolled-back-*"))
    main_file = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
    assert len(main_file) == 1, aside
    count = container.run(
        "python3",
        "-c",
        f"import sqlite3; c = sqlite3.connect('file:{main_file[0].relative_to(container.root)}"
        "?mode=ro', uri=True); print(c.execute('SELECT count(*) FROM events').fetchone()[0], "
        "c.execute('SELECT version_num FROM alembic_version').fetchone()[0])".replace(
            "file:var", "file:/var"
        ),
    )
    moved_count, moved_schema = count.stdout.split()
    assert int(moved_count) >= len(before) and moved_schema == "ffff_future"
    same_data()
