"""HTTPS for the web UI: the user's own certificate, or a per-device self-signed
one made at first start (with ``openssl``, which every Raspberry Pi OS has)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from app.settings import Settings

DAYS = 3650


class TlsError(RuntimeError):
    """A certificate that cannot be made or found; the message says what to do."""


def _names() -> list[str]:
    host = socket.gethostname().lower() or "alarmbridge"
    return sorted({host, f"{host}.local", "localhost"})


def ensure_self_signed(directory: Path) -> tuple[Path, Path]:
    """This device's certificate and key in ``directory``, made once (the key
    readable by this user only). Returns (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("making a self-signed certificate needs openssl: apt install openssl")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = _names()
    alt = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1", "IP:::1"])
    temp_key = key.with_suffix(".tmp")
    old_umask = os.umask(0o077)
    try:
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                str(DAYS),
                "-subj",
                f"/CN={names[0]}",
                "-addext",
                f"subjectAltName={alt}",
                "-keyout",
                str(temp_key),
                "-out",
                str(cert.with_suffix(".tmp")),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise TlsError(f"openssl could not make a certificate: {exc}") from None
    finally:
        os.umask(old_umask)
    temp_key.replace(key)
    cert.with_suffix(".tmp").replace(cert)
    return cert, key


def fingerprint(cert: Path) -> str:
    """The certificate's SHA-256 fingerprint, to check in the browser on first visit."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return "unknown (no openssl)"
    out = subprocess.run(
        [openssl, "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.strip().partition("=")[2]


def tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """(certificate, key) to serve HTTPS with, or None for plain HTTP."""
    if settings.tls == "off":
        return None
    if settings.tls == "self-signed":
        return ensure_self_signed(settings.web_state_dir / "tls")
    if settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("tls 'own' needs --tls-cert and --tls-key (PEM files)")
    for path in (settings.tls_cert, settings.tls_key):
        if not path.is_file():
            raise ValueError(f"cannot read the TLS file {path}")
    return settings.tls_cert, settings.tls_key
