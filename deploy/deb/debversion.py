"""The Debian version of the package, from pyproject.toml's PEP 440 version.

    python3 deploy/deb/debversion.py pyproject.toml   # prints e.g. 0.1.0~~dev0

Debian must order versions as Python does. ``~`` sorts before anything, ``~~``
before ``~``: 1.0.dev0 -> 1.0~~dev0 < 1.0a1.dev1 -> 1.0~a1~dev1 < 1.0rc1 -> 1.0~rc1
< 1.0 < 1.0.post1.dev0 -> 1.0+post1~dev0 < 1.0.post1 -> 1.0+post1.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.version import Version


def debian_version(pep440: str) -> str:
    version = Version(pep440)
    text = ".".join(map(str, version.release))
    if version.pre:
        text += "~" + "".join(map(str, version.pre))
    if version.post is not None:
        text += f"+post{version.post}"
    if version.dev is not None:
        # before any pre-release of the same version: "~~" sorts before "~a1"
        plain = version.pre is None and version.post is None
        text += f"{'~~' if plain else '~'}dev{version.dev}"
    return text


def from_pyproject(path: Path) -> str:
    return debian_version(tomllib.loads(path.read_text())["project"]["version"])


if __name__ == "__main__":
    print(from_pyproject(Path(sys.argv[1])))
