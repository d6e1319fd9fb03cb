#!/usr/bin/python3
"""alarmbridge-update: install a new alarmbridge package safely, and go back.

    alarmbridge-update FILE.deb --sha256 HEX     # or --sums SHA256SUMS
    alarmbridge-update --rollback                # back to the version before the last update
    alarmbridge-update --check                   # the health check alone

An update: checks the file's SHA-256 (refuses on a mismatch), keeps the installed
package in /var/lib/alarmbridge-updates/ (rebuilt from dpkg's database the first time,
if it is not there yet), backs up the databases with SQLite's online backup (consistent
while the services run), installs the file with apt-get, and runs the health check: the
io process answers (``alarmbridge status``) and the web UI answers 200 on /login. If
the installation or the check fails, it rolls back by itself.

A rollback stops the services; a database whose schema the update changed is moved
aside (``<name>.rolled-back-<version>-<time>``, never deleted) and the backup made
before the update is put in its place (an older version refuses a newer schema); a
database with the same schema is kept as it is, so nothing logged since is lost. Then
it installs the previous package and runs the health check.

Runs with the system's python3 and its standard library only, not the bundled venv, so
it works whatever state the package being replaced is in.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PACKAGE = "alarmbridge"
STORE = Path(os.environ.get("ALARMBRIDGE_UPDATES_DIR", "/var/lib/alarmbridge-updates"))
ENV_FILE = Path(os.environ.get("ALARMBRIDGE_ENV_FILE", "/etc/alarmbridge/alarmbridge.env"))
SERVICES = ["alarmbridge-io.service", "alarmbridge-web.service"]
KEEP_BACKUPS = 3


class UpdateError(Exception):
    pass


def say(message: str) -> None:
    print(f"alarmbridge-update: {message}", flush=True)


def run(cmd: list[str], *, check: bool = True, quiet: bool = False) -> str:
    result = subprocess.run(cmd, text=True, capture_output=True, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise UpdateError(f"{' '.join(cmd)} failed: " + " / ".join(detail))
    if not quiet and result.returncode != 0:
        sys.stderr.write(result.stderr)
    return result.stdout


def now_tag() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- settings -----------------------------------------------------------------------


def settings() -> dict[str, str]:
    """The KEY=value lines of the settings file (shell quoting removed), then the
    environment's ALARMBRIDGE_* (they win, as in /usr/bin/alarmbridge)."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in ENV_FILE.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    values.update({k: v for k, v in os.environ.items() if k.startswith("ALARMBRIDGE_")})
    return values


def databases(conf: dict[str, str]) -> list[tuple[str, Path]]:
    """(what, path) of each database: the event log, and the accounts (web dir)."""
    data = Path(conf.get("ALARMBRIDGE_DATA_DIR", "/var/lib/alarmbridge"))
    web = Path(conf.get("ALARMBRIDGE_WEB_DIR", "") or data)
    return [("event log", data / "alarmbridge.db"), ("accounts", web / "auth.db")]


# -- the health check ---------------------------------------------------------------


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def check_once(conf: dict[str, str]) -> list[str]:
    """What is wrong now (empty: healthy)."""
    problems: list[str] = []
    if systemd_running():
        for unit in SERVICES:
            state = run(["systemctl", "is-active", unit], check=False, quiet=True).strip()
            if state != "active":
                problems.append(f"{unit} is {state or 'unknown'}")
    status = subprocess.run(
        ["alarmbridge", "status", "--json"], capture_output=True, text=True, check=False
    )
    if status.returncode != 0:
        problems.append("the io process does not answer: " + status.stderr.strip()[-200:])
    host = conf.get("ALARMBRIDGE_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = conf.get("ALARMBRIDGE_PORT", "8080")
    tls = conf.get("ALARMBRIDGE_TLS", "off") != "off"
    url = f"{'https' if tls else 'http'}://{host}:{port}/login"
    context = ssl._create_unverified_context() if tls else None  # its own certificate
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            if response.status != 200:
                problems.append(f"{url} answered {response.status}")
    except urllib.error.HTTPError as exc:
        problems.append(f"{url} answered {exc.code}")
    except OSError as exc:
        problems.append(f"{url} does not answer: {exc}")
    return problems


def health_check(timeout: float) -> bool:
    conf = settings()
    deadline = time.monotonic() + timeout
    while True:
        problems = check_once(conf)
        if not problems:
            say("health check passed: the io process and the web UI answer")
            return True
        if time.monotonic() >= deadline:
            say("health check FAILED: " + "; ".join(problems))
            return False
        time.sleep(1)


# -- packages -----------------------------------------------------------------------


def installed_version() -> str | None:
    out = run(
        ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", PACKAGE], check=False, quiet=True
    ).split()
    if len(out) == 2 and out[1] == "ii":
        return out[0]
    return None


def machine_arch() -> str:
    return run(["dpkg", "--print-architecture"]).strip()


def deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "--field", str(deb), field]).strip()


def stored_deb(version: str, arch: str) -> Path:
    return STORE / f"{PACKAGE}_{version}_{arch}.deb"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(deb: Path, given: str | None, sums: Path | None) -> str:
    if given is not None:
        return given.strip().lower()
    assert sums is not None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == deb.name:
            return parts[0].lower()
    raise UpdateError(f"{sums} has no line for {deb.name}")


def repack_installed(dest: Path) -> None:
    """Rebuild the installed package from dpkg's database (its files, control fields
    and maintainer scripts), for a machine that was installed without keeping it."""
    with tempfile.TemporaryDirectory(dir=STORE) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for line in run(["dpkg-query", "-L", PACKAGE]).splitlines():
            path = Path(line)
            if line in ("/.", "") or not path.is_absolute():
                continue
            target = root / line.lstrip("/")
            if path.is_dir():  # also /lib on a merged-/usr system: a directory in the package
                target.mkdir(parents=True, exist_ok=True)
            elif path.is_symlink():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(os.readlink(path))
            elif path.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            else:
                raise UpdateError(f"{path} of the installed package is missing: cannot keep it")
        control = root / "DEBIAN"
        control.mkdir()
        fields = [
            line
            for line in run(["dpkg-query", "-s", PACKAGE]).splitlines()
            if not line.startswith(("Status:", "Config-Version:"))
        ]
        (control / "control").write_text("\n".join(fields) + "\n")
        info = Path("/var/lib/dpkg/info")
        for name in ("preinst", "postinst", "prerm", "postrm", "md5sums"):
            source = info / f"{PACKAGE}.{name}"
            if source.exists():
                shutil.copy2(source, control / name)
                (control / name).chmod(0o644 if name == "md5sums" else 0o755)
        partial = dest.with_suffix(".partial")
        run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(partial)])
        partial.rename(dest)


def keep_installed() -> tuple[str, Path]:
    """The installed version and its package file in the store (kept now if needed)."""
    version = installed_version()
    if version is None:
        raise UpdateError(
            f"{PACKAGE} is not installed (or half-installed): install it with "
            "'apt-get install ./FILE.deb', or go back with 'alarmbridge-update --rollback'"
        )
    arch = machine_arch()
    kept = stored_deb(version, arch)
    if not kept.exists():
        say(f"keeping the installed version {version} first (rebuilt from dpkg's database)")
        repack_installed(kept)
    return version, kept


def apt_install(deb: Path) -> bool:
    env = {
        **os.environ,
        "DEBIAN_FRONTEND": "noninteractive",
        "SKIP_ALARMBRIDGE_HEALTH_CHECK": "1",
    }
    cmd = ["apt-get", "install", "-y", "-q", "--reinstall", "--allow-downgrades"]
    cmd += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    cmd.append(str(deb.resolve()))
    say("running " + " ".join(cmd))
    return subprocess.run(cmd, env=env, check=False).returncode == 0


# -- databases ----------------------------------------------------------------------


def schema_version(path: Path) -> str | None:
    """The event log's Alembic revision, or the accounts' user_version."""
    if not path.exists():
        return None
    uri = f"file:{path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            if row is not None:
                return f"alembic {row[0]}"
        except sqlite3.OperationalError:
            pass
        return f"user_version {db.execute('PRAGMA user_version').fetchone()[0]}"


def backup_databases(version: str) -> Path:
    """SQLite's online backup of every database into STORE/backup-<version>-<time>/."""
    folder = STORE / f"backup-{version}-{now_tag()}"
    folder.mkdir(mode=0o700, parents=True)
    manifest: dict[str, Any] = {"version": version, "files": {}}
    for what, path in databases(settings()):
        if not path.exists():
            continue
        copy = folder / path.name
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            with contextlib.closing(sqlite3.connect(copy)) as dest:
                source.backup(dest)
                dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            source.close()
        manifest["files"][path.name] = {"path": str(path), "schema": schema_version(copy)}
        say(f"backed up the {what} {path} -> {copy}")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def restore_databases(backup: Path, newer: str) -> None:
    """Put back the backup of a database whose schema changed since; move the
    changed file (and its -wal, -shm) aside, never delete it."""
    manifest = json.loads((backup / "manifest.json").read_text())
    tag = f"rolled-back-{newer}-{now_tag()}"
    for name, entry in manifest["files"].items():
        live = Path(entry["path"])
        saved = backup / name
        now = schema_version(live)
        if now == entry["schema"]:
            say(f"{live}: schema unchanged ({now}): kept as it is")
            continue
        owner = live.stat() if live.exists() else live.parent.stat()
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{live}{suffix}")
            if part.exists():
                aside = Path(f"{live}.{tag}{suffix}")
                part.rename(aside)
                say(f"{live}: schema {now}, backup {entry['schema']}: moved {part} -> {aside}")
        temp = Path(f"{live}.restoring")
        shutil.copyfile(saved, temp)
        os.chown(temp, owner.st_uid, owner.st_gid)
        temp.chmod(0o640 if name == "alarmbridge.db" else 0o600)
        temp.rename(live)
        say(f"{live}: restored the backup made before the update ({saved})")


def prune() -> None:
    """Keep the last KEEP_BACKUPS backups, and the package files the state names."""
    backups = sorted(STORE.glob("backup-*"), key=lambda p: p.stat().st_mtime)
    state = load_state()
    keep = {state.get("backup"), state.get("previous_deb"), state.get("current_deb")}
    for old in backups[:-KEEP_BACKUPS]:
        if str(old) not in keep:
            shutil.rmtree(old)
    for deb in STORE.glob(f"{PACKAGE}_*.deb"):
        if str(deb) not in keep:
            deb.unlink()


# -- state --------------------------------------------------------------------------


def load_state() -> dict[str, Any]:
    try:
        return dict(json.loads((STORE / "state.json").read_text()))
    except FileNotFoundError:
        return {}


def save_state(state: dict[str, Any]) -> None:
    temp = STORE / "state.json.new"
    temp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temp, STORE / "state.json")


# -- commands -----------------------------------------------------------------------


def update(deb: Path, given: str | None, sums: Path | None, timeout: float) -> int:
    if not deb.is_file():
        raise UpdateError(f"no such file {deb}")
    want = expected_sha256(deb, given, sums)
    have = sha256(deb)
    if have != want:
        raise UpdateError(
            f"REFUSED: {deb} has SHA-256 {have}, expected {want}: the file is damaged or "
            "not the one published; nothing was changed"
        )
    say(f"{deb.name}: SHA-256 {have} matches")
    package, new, arch = (deb_field(deb, f) for f in ("Package", "Version", "Architecture"))
    if package != PACKAGE:
        raise UpdateError(f"REFUSED: {deb} is the package {package!r}, not {PACKAGE}")
    if arch not in (machine_arch(), "all"):
        raise UpdateError(f"REFUSED: {deb} is for {arch}, this machine is {machine_arch()}")

    STORE.mkdir(mode=0o700, parents=True, exist_ok=True)
    old, old_deb = keep_installed()
    if new == old:
        say(f"version {new} is installed already: nothing to do")
        return 0
    say(f"updating {PACKAGE} {old} -> {new}")
    backup = backup_databases(old)
    new_deb = stored_deb(new, arch)
    if deb.resolve() != new_deb.resolve():
        shutil.copyfile(deb, new_deb.with_suffix(".partial"))
        new_deb.with_suffix(".partial").rename(new_deb)
    state = {
        "previous": old,
        "previous_deb": str(old_deb),
        "backup": str(backup),
        "current": new,
        "current_deb": str(new_deb),
        "updated_at": now_tag(),
    }
    save_state(state)  # before installing: a crash half-way can still be rolled back

    if not apt_install(new_deb):
        say(f"installing {new} FAILED: rolling back to {old}")
        rollback(timeout)
        return 1
    if not health_check(timeout):
        say(f"version {new} is not healthy: rolling back to {old}")
        rollback(timeout)
        return 1
    prune()
    say(f"updated to {new}. To go back to {old}: alarmbridge-update --rollback")
    return 0


def rollback(timeout: float) -> int:
    state = load_state()
    previous = state.get("previous")
    if not previous:
        raise UpdateError("nothing to roll back to: no update was made, or it was rolled back")
    deb = Path(state["previous_deb"])
    if not deb.exists():
        raise UpdateError(f"the previous package {deb} is missing: cannot roll back")
    current = installed_version() or state.get("current", "unknown")
    say(f"rolling back {PACKAGE} {current} -> {previous}")
    if systemd_running():
        say("stopping the services")
        run(["systemctl", "stop", *reversed(SERVICES)], check=False)
    restore_databases(Path(state["backup"]), str(current))
    if not apt_install(deb):
        raise UpdateError(f"installing {deb} FAILED: see the messages above")
    save_state(
        {
            "previous": None,
            "current": previous,
            "current_deb": str(deb),
            "rolled_back_from": current,
            "rolled_back_at": now_tag(),
            "backup": state["backup"],
        }
    )
    if not health_check(timeout):
        say(f"rolled back to {previous}, but it is NOT healthy: see journalctl -u alarmbridge-io")
        return 1
    say(f"rolled back to {previous}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alarmbridge-update", description="Install an alarmbridge package safely."
    )
    parser.add_argument("deb", nargs="?", type=Path, help="the new alarmbridge_*.deb")
    digest = parser.add_mutually_exclusive_group()
    digest.add_argument("--sha256", help="the package's published SHA-256")
    digest.add_argument("--sums", type=Path, help="a SHA256SUMS file that lists it")
    parser.add_argument("--rollback", action="store_true", help="back to the previous version")
    parser.add_argument("--check", action="store_true", help="only run the health check")
    parser.add_argument(
        "--timeout", type=float, default=60, help="seconds the health check waits (60)"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            return 0 if health_check(args.timeout) else 1
        if os.geteuid() != 0:
            raise UpdateError("run it as root (sudo alarmbridge-update ...)")
        if args.rollback:
            if args.deb is not None:
                parser.error("--rollback takes no package file")
            return rollback(args.timeout)
        if args.deb is None:
            parser.error("give the package file, --rollback or --check")
        if args.sha256 is None and args.sums is None:
            parser.error("give the package's checksum: --sha256 HEX or --sums SHA256SUMS")
        return update(args.deb, args.sha256, args.sums, args.timeout)
    except (UpdateError, OSError, sqlite3.Error) as exc:
        say(f"FAILED: {exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
