"""The Debian package, without booting it: lock files, contents, cross-arch binaries,
the units (systemd-analyze verify), and the bundled venv running on this machine."""

from __future__ import annotations

import itertools
import re
import runpy
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import DEB_DIR, REPO, BuildDeb, debian_version, need_tools

SITE = "opt/alarmbridge/venv/lib/python3.11/site-packages"
UNITS = ["io", "network", "web", "firstboot", "setup-code"]
ELF_MACHINE = {"amd64": 0x3E, "arm64": 0xB7}  # e_machine: EM_X86_64, EM_AARCH64
LOCK_LINE = re.compile(
    r"^(?P<name>[a-z0-9-]+)==(?P<version>[A-Za-z0-9.+!-]+) --hash=sha256:[0-9a-f]{64}  # \S+\.whl$"
)


def lock_entries(arch: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (DEB_DIR / f"requirements-{arch}.lock").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        match = LOCK_LINE.match(line)
        assert match, f"requirements-{arch}.lock: not an exact, hashed pin: {line}"
        entries[match["name"]] = match["version"]
    return entries


def test_lock_files_pin_and_hash_every_runtime_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted: set[str] = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    wanted |= {"lgpio", "av"}  # the pin backend; PyAV for RTSP snapshots
    amd64, arm64 = lock_entries("amd64"), lock_entries("arm64")
    assert wanted <= set(amd64), f"not in the amd64 lock: {wanted - set(amd64)}"
    assert amd64 == arm64, "both architectures ship the same versions"
    assert "rpi-gpio" not in amd64  # a legacy extra, not shipped
    for line in (DEB_DIR / "requirements-build.lock").read_text().splitlines():
        assert line.startswith("#") or LOCK_LINE.match(line), line


def extract(deb: Path, where: Path) -> Path:
    root = where / deb.stem
    subprocess.run(["dpkg-deb", "--raw-extract", str(deb), str(root)], check=True)
    return root


def field(deb: Path, name: str) -> str:
    out = subprocess.run(["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_package_contents(arch: str, build_deb: BuildDeb, tmp_path: Path) -> None:
    deb = build_deb(arch)
    assert deb.name == f"alarmbridge_{debian_version()}_{arch}.deb"
    assert field(deb, "Package") == "alarmbridge"
    assert field(deb, "Architecture") == arch
    assert (
        field(deb, "Depends") == "python3 (>= 3.11), python3 (<< 3.12), adduser, openssl, systemd"
    )
    assert field(deb, "Recommends") == "avahi-daemon"
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}

    root = extract(deb, tmp_path)
    for path in [
        "usr/bin/alarmbridge",
        "usr/sbin/alarmbridge-update",
        *(f"lib/systemd/system/alarmbridge-{u}.service" for u in UNITS),
        "lib/udev/rules.d/60-alarmbridge-gpio.rules",
        "etc/avahi/services/alarmbridge.service",
        "usr/share/alarmbridge/alarmbridge.env.example",
        f"{SITE}/app/cli.py",
        f"{SITE}/app/web/templates/login.html",
        f"{SITE}/migrations/versions/0001_initial.py",
        f"{SITE}/lgpio.py",
        f"{SITE}/av/__init__.py",  # RTSP snapshots (the rtsp extra), FFmpeg bundled
    ]:
        assert (root / path).exists(), path
    for script in ("postinst", "prerm", "postrm"):
        assert (root / "DEBIAN" / script).stat().st_mode & 0o111, script
    assert not (root / "DEBIAN" / "conffiles").exists()  # updates never ask anything
    assert not (root / "etc/alarmbridge/alarmbridge.env").exists()  # made by postinst

    venv = root / "opt/alarmbridge/venv"
    assert (venv / "bin/python").readlink() == Path("/usr/bin/python3")
    assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text()
    assert not (root / SITE / "bin").exists()  # the build machine's console scripts
    # byte-compiled at build time for 3.11
    assert list((root / SITE / "app/__pycache__").glob("cli.cpython-311.pyc"))

    objects = list((root / SITE).rglob("*.so"))
    assert len(objects) >= 5, objects  # pydantic-core, lgpio, sqlalchemy, cffi, markupsafe...
    for so in objects:
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", so
        machine = int.from_bytes(header[18:20], "little")
        assert machine == ELF_MACHINE[arch], f"{so.name}: e_machine {machine:#x}"


def test_amd64_venv_runs_here(build_deb: BuildDeb, tmp_path: Path) -> None:
    """The hand-made venv works with Debian's own python3 (this machine is Debian 12)."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3")
    root = extract(build_deb("amd64"), tmp_path)
    python = root / "opt/alarmbridge/venv/bin/python"
    # PyAV's bundled FFmpeg loads: the MJPEG encoder RTSP snapshots are made with
    code = (
        "import app.cli, fastapi, lgpio, argon2, sqlalchemy, av; "
        "av.CodecContext.create('mjpeg', 'w'); print(app.cli.__file__)"
    )
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(root / SITE)), out.stdout
    version = subprocess.run(
        [python, "-I", "-m", "app.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("alarmbridge ")


def test_version_can_be_given(build_deb: BuildDeb) -> None:
    deb = build_deb("amd64", "0.1.0~dev0+test1")
    assert field(deb, "Version") == "0.1.0~dev0+test1"
    newer = subprocess.run(
        ["dpkg", "--compare-versions", "0.1.0~dev0+test1", "gt", debian_version()], check=False
    )
    assert newer.returncode == 0


def test_units_pass_systemd_analyze_verify(build_deb: BuildDeb, tmp_path: Path) -> None:
    """`systemd-analyze verify --root` on the package's own files: ExecStart= and
    the rest are checked against the package, not this machine."""
    need_tools("systemd-analyze")
    root = extract(build_deb("amd64"), tmp_path)
    # The units they refer to (sysinit.target, network-pre.target...): this machine's.
    for ours in (root / "lib/systemd/system").iterdir():
        assert not Path("/lib/systemd/system", ours.name).exists(), ours.name
    shutil.copytree(
        "/lib/systemd/system", root / "lib/systemd/system", symlinks=True, dirs_exist_ok=True
    )
    units = [f"/lib/systemd/system/alarmbridge-{u}.service" for u in UNITS]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *units],
        capture_output=True,
        text=True,
    )
    lines = result.stderr.replace(str(root), "").splitlines()
    mentions = [line for line in lines if "alarmbridge-" in line]
    assert result.returncode == 0 and not mentions, result.stderr


def test_shell_scripts_parse() -> None:
    for script in ("postinst", "prerm", "postrm", "alarmbridge.sh"):
        subprocess.run(["sh", "-n", str(DEB_DIR / script)], check=True)
    for script in ("build.sh", "install-tools.sh"):
        subprocess.run(["bash", "-n", str(DEB_DIR / script)], check=True)


@pytest.mark.parametrize(
    ("pep440", "debian"),
    [
        ("0.1.0.dev0", "0.1.0~~dev0"),
        ("1.0a1.dev1", "1.0~a1~dev1"),
        ("1.0.post1.dev0", "1.0+post1~dev0"),
        ("1.0rc1", "1.0~rc1"),
        ("1.0", "1.0"),
        ("1.0.post1", "1.0+post1"),
        ("2.3.4a2", "2.3.4~a2"),
    ],
)
def test_package_versions_follow_pyproject(pep440: str, debian: str) -> None:
    script = runpy.run_path(str(REPO / "deploy" / "deb" / "debversion.py"))
    assert script["debian_version"](pep440) == debian


def test_debian_orders_versions_as_python_does() -> None:
    need_tools("dpkg")
    script = runpy.run_path(str(REPO / "deploy" / "deb" / "debversion.py"))
    ordered = [
        *("0.9.post2", "1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0"),
        *("1.0.post1.dev0", "1.0.post1", "1.0.1.dev0", "1.1.dev3"),
    ]
    for older, newer in itertools.pairwise(ordered):
        a, b = script["debian_version"](older), script["debian_version"](newer)
        compared = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False)
        assert compared.returncode == 0, f"{a} should sort before {b}"
