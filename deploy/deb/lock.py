"""Regenerate the pinned, hashed wheel lists the Debian package is built from.

    .venv/bin/python deploy/deb/lock.py            # both architectures
    .venv/bin/python deploy/deb/lock.py arm64      # one

For each Debian architecture it asks pip for the runtime dependencies in
pyproject.toml ``[project].dependencies`` plus ``lgpio`` (the default pin backend on
a Pi) and ``av`` (RTSP snapshots), as CPython 3.11 binary wheels for that platform
(Debian 12 has glibc 2.36), and writes ``requirements-<arch>.lock``: every wheel,
exact version and its sha256.

pip evaluates environment markers against the machine it runs on, not the target, so
after the download every wheel's own requirements are evaluated again for the target
(``platform_machine`` aarch64 or x86_64, Linux, CPython 3.11) and the script fails if
one the target needs is missing, or if a wheel is there that nothing on the target needs.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# the Pi's pin backend (the 'pi' extra), and PyAV for RTSP snapshots (the 'rtsp' extra:
# app/network/evidence; it bundles FFmpeg, so the appliance needs no ffmpeg package)
EXTRA = ["lgpio", "av>=14.0"]
MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC_MINOR = range(17, 37)  # manylinux_2_17 (manylinux2014) .. 2_36 (bookworm's glibc)


def platforms(arch: str) -> list[str]:
    """pip's --platform values for a Debian architecture (pip adds no older glibc)."""
    machine = MACHINE[arch]
    return [f"manylinux2014_{machine}"] + [f"manylinux_2_{m}_{machine}" for m in GLIBC_MINOR]


def pip_target_args(arch: str) -> list[str]:
    """The pip options that select CPython 3.11 wheels for ``arch``."""
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    args += ["--abi", "cp311"]
    for platform in platforms(arch):
        args += ["--platform", platform]
    return args


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *EXTRA]


def target_environment(arch: str) -> dict[str, str]:
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(
        platform_machine=MACHINE[arch],
        platform_system="Linux",
        sys_platform="linux",
        os_name="posix",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        python_version="3.11",
        python_full_version="3.11.2",
    )
    return env


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(zf.read(name).decode())
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def check_closure(arch: str, wheels: dict[str, Path], roots: list[str]) -> None:
    """Every requirement the target needs is among ``wheels``, and nothing more."""
    env = target_environment(arch)
    needed: set[str] = set()
    todo = [Requirement(r) for r in roots]
    problems: list[str] = []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        if name in needed:
            continue
        needed.add(name)
        if name not in wheels:
            problems.append(f"{arch}: {req} is needed on the target but was not downloaded")
            continue
        for sub in wheel_requirements(wheels[name]):
            if sub.marker is not None and not sub.marker.evaluate({**env, "extra": ""}):
                continue
            todo.append(sub)
    extra_wheels = sorted(set(wheels) - needed)
    if extra_wheels:
        problems.append(f"{arch}: downloaded but not needed on the target: {extra_wheels}")
    if problems:
        raise SystemExit("\n".join(problems))


def lock(arch: str) -> Path:
    roots = runtime_requirements()
    if any(Requirement(r).extras for r in roots):
        raise SystemExit("a runtime requirement with extras: teach lock.py about it")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", tmp]
        cmd += pip_target_args(arch) + roots
        subprocess.run(cmd, check=True)
        wheels: dict[str, Path] = {}
        for path in sorted(Path(tmp).iterdir()):
            if path.suffix != ".whl":
                raise SystemExit(f"{arch}: pip downloaded {path.name}, not a wheel")
            wheels[canonicalize_name(parse_wheel_filename(path.name)[0])] = path
        check_closure(arch, wheels, roots)
        lines = [
            f"# The runtime wheels of the alarmbridge Debian package for {arch} (CPython 3.11).",
            "# Generated by deploy/deb/lock.py from pyproject.toml; do not edit by hand.",
        ]
        for name, path in sorted(wheels.items()):
            version = parse_wheel_filename(path.name)[1]
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} --hash=sha256:{digest}  # {path.name}")
    out = HERE / f"requirements-{arch}.lock"
    out.write_text("\n".join(lines) + "\n")
    return out


def lock_build_tools() -> Path:
    """requirements-build.lock: what building the app's own wheel needs ([build-system])."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", tmp]
        subprocess.run([*cmd, "--only-binary=:all:", *requires], check=True)
        lines = [
            "# The tools that build the alarmbridge wheel for the Debian package (pure Python).",
            "# Generated by deploy/deb/lock.py from pyproject.toml; do not edit by hand.",
        ]
        for path in sorted(Path(tmp).iterdir()):
            name, version, *_ = parse_wheel_filename(path.name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} --hash=sha256:{digest}  # {path.name}")
    out = HERE / "requirements-build.lock"
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str]) -> int:
    arches = argv or sorted(MACHINE)
    if not argv:
        print(f"wrote {lock_build_tools().relative_to(ROOT)}")
    for arch in arches:
        if arch not in MACHINE:
            raise SystemExit(f"unknown architecture {arch!r}: amd64 or arm64")
        print(f"wrote {lock(arch).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
