"""Helpers for the Debian package tests: building the .deb, and what they need.

The tools come from deploy/deb/install-tools.sh (run by `make test`). A test that
lacks one is skipped with the reason, or fails when ALARMBRIDGE_REQUIRE_DEPLOY=1
(CI, .ci/run), so a broken install step cannot pass as a skip.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEB_DIR = REPO / "deploy" / "deb"
CACHE = REPO / "deploy" / ".cache"
REQUIRED = os.environ.get("ALARMBRIDGE_REQUIRE_DEPLOY") == "1"


def missing(reason: str) -> None:
    """Skip, or fail where the deploy tests are required."""
    if REQUIRED:
        pytest.fail(f"{reason} (ALARMBRIDGE_REQUIRE_DEPLOY=1)")
    pytest.skip(f"{reason}: run deploy/deb/install-tools.sh as root")


def need_tools(*commands: str) -> None:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    absent = [c for c in commands if shutil.which(c, path=path) is None]
    if absent:
        missing(f"missing {', '.join(absent)}")


def need_root() -> None:
    if os.geteuid() != 0:
        missing("needs root")


def debian_version() -> str:
    """The package version build.sh derives from pyproject.toml."""
    script = runpy.run_path(str(REPO / "deploy" / "deb" / "debversion.py"))
    version: str = script["from_pyproject"](REPO / "pyproject.toml")
    return version


BuildDeb = Callable[..., Path]


@pytest.fixture(scope="session")
def build_deb(tmp_path_factory: pytest.TempPathFactory) -> BuildDeb:
    """build_deb(arch, version=None) -> the .deb, built once per session each."""
    out = tmp_path_factory.mktemp("debs")
    built: dict[tuple[str, str | None], Path] = {}

    def build(arch: str = "amd64", version: str | None = None) -> Path:
        key = (arch, version)
        if key not in built:
            need_tools("dpkg-deb")
            cmd = ["bash", str(DEB_DIR / "build.sh"), "--arch", arch, "--out", str(out)]
            if version is not None:
                cmd += ["--version", version]
            env = {**os.environ, "PYTHON": sys.executable}
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            assert result.returncode == 0, f"build.sh failed:\n{result.stdout}\n{result.stderr}"
            debver = version or debian_version()
            deb = out / f"alarmbridge_{debver}_{arch}.deb"
            assert deb.is_file(), result.stdout
            built[key] = deb
        return built[key]

    return build
