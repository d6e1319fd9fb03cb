"""``alarmbridge firstboot`` against a directory tree laid out like the SD image
(a boot partition and a root), through the real command."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth import passwords, setup_code
from app.auth.store import AuthStore
from app.cli import main
from app.firstboot.apply import nm_connection, nm_ssid
from hardware import preset

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIakREcwS//OVWWG7AmgkRuCR7GBxI1Y+X5zDtzLKure owner@laptop"
)
IMAGE_CONFIG = (
    "arm_64bit=1\nenable_uart=1\n"
    "# alarmbridge: relays off from power-on (board default)\ngpio=17,27,22,23=op,dl\n"
    "# end alarmbridge\n"
)


@pytest.fixture
def card(tmp_path: Path) -> tuple[Path, Path]:
    """(boot, root) as the image leaves them."""
    boot, root = tmp_path / "boot", tmp_path / "root"
    boot.mkdir()
    (boot / "config.txt").write_text(IMAGE_CONFIG)
    (boot / "cmdline.txt").write_text("console=tty1 root=LABEL=RASPIROOT rw\n")
    for path, text in {
        "etc/hostname": "alarmbridge\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\talarmbridge\n",
        "etc/default/raspi-firmware": "# Debian's raspi-firmware settings\n",
        "etc/alarmbridge/alarmbridge.env": "ALARMBRIDGE_DATA_DIR=/var/lib/alarmbridge\n"
        "ALARMBRIDGE_BOARD=default\nALARMBRIDGE_PORT=80\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    zone = root / "usr/share/zoneinfo/Europe/Brussels"
    zone.parent.mkdir(parents=True)
    zone.write_bytes(b"TZif2")
    return boot, root


def firstboot(boot: Path, root: Path) -> int:
    return main(["firstboot", "--boot", str(boot), "--root", str(root)])


def test_every_setting_is_applied_and_the_password_leaves_the_card(
    card: tuple[Path, Path],
) -> None:
    boot, root = card
    (boot / "alarmbridge.txt").write_bytes(
        (
            "# settings\r\nhostname=Gate-House\r\ntimezone=Europe/Brussels\r\n"
            "board=waveshare-rpi-relay\r\nwifi_ssid=Shop; 2.4=GHz\r\n"
            "wifi_password=\\correct horse \r\nwifi_country=be\r\n"
            f"ssh_key={KEY}\r\n"
        ).encode()
    )
    assert firstboot(boot, root) == 0

    assert (root / "etc/hostname").read_text() == "gate-house\n"
    assert "127.0.1.1\tgate-house" in (root / "etc/hosts").read_text()
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Brussels"
    assert (root / "etc/timezone").read_text() == "Europe/Brussels\n"

    env = (root / "etc/alarmbridge/alarmbridge.env").read_text()
    assert "ALARMBRIDGE_BOARD=waveshare-rpi-relay\n" in env
    assert "ALARMBRIDGE_PORT=80" in env  # the other lines stay
    lines = preset("waveshare-rpi-relay").config_txt_lines()
    config = (boot / "config.txt").read_text()
    assert config.startswith("arm_64bit=1\nenable_uart=1\n")
    assert "gpio=17,27,22,23" not in config  # the old board's block is replaced
    assert config.count("# alarmbridge: relays off") == 1
    assert all(line in config for line in lines)
    assert all(line in (root / "etc/default/raspi-firmware-custom").read_text() for line in lines)

    assert (boot / "cmdline.txt").read_text() == (
        "console=tty1 root=LABEL=RASPIROOT rw cfg80211.ieee80211_regdom=BE\n"
    )
    assert "cfg80211.ieee80211_regdom=BE" in (root / "etc/default/raspi-extra-cmdline").read_text()

    wifi = root / "etc/NetworkManager/system-connections/alarmbridge-wifi.nmconnection"
    assert stat.S_IMODE(wifi.stat().st_mode) == 0o600  # NetworkManager ignores others
    assert nm_ssid(wifi.read_text()) == "Shop; 2.4=GHz"
    assert "psk=\\\\correct horse\n" in wifi.read_text()

    keys = root / "root/.ssh/authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700

    left = (boot / "alarmbridge.txt").read_bytes().decode()
    assert "correct horse" not in left
    assert "\r\nwifi_password=\r\n" in left  # Windows line endings kept
    assert "wifi_ssid=Shop; 2.4=GHz\r\n" in left

    report = (boot / "alarmbridge-report.txt").read_text()
    assert "host name: gate-house (browse to http://gate-house.local/)" in report
    assert "Wi-Fi: Shop; 2.4=GHz (WPA password set)" in report
    assert "SSH: on, as root with the key 'owner@laptop'" in report
    assert "Problems" not in report
    assert "correct horse" not in report


def test_a_second_boot_writes_nothing(card: tuple[Path, Path]) -> None:
    boot, root = card
    (boot / "alarmbridge.txt").write_text(
        "hostname=gate\ntimezone=Europe/Brussels\nboard=sb-pirelay\nwifi_ssid=Shop\n"
        "wifi_password=hunter2hunter2\nwifi_country=GB\n"
    )
    assert firstboot(boot, root) == 0
    files = [p for p in (*boot.rglob("*"), *root.rglob("*")) if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    assert firstboot(boot, root) == 0
    changed = [p.name for p in files if p.stat().st_mtime_ns != before[p]]
    assert changed == ["alarmbridge-report.txt"]
    report = (boot / "alarmbridge-report.txt").read_text()
    assert "Wi-Fi: Shop, unchanged (its password was applied before)" in report
    again = {p: p.stat().st_mtime_ns for p in files}
    assert firstboot(boot, root) == 0
    assert {p: p.stat().st_mtime_ns for p in files} == again  # SD cards wear


def test_bad_lines_are_reported_and_the_rest_applies(card: tuple[Path, Path]) -> None:
    boot, root = card
    (boot / "alarmbridge.txt").write_text(
        "hostname=gate_house\ntimezone=Europe/Brussels\nboard=acme\nwifi_pasword=x\n"
    )
    assert firstboot(boot, root) == 1
    assert (root / "etc/hostname").read_text() == "alarmbridge\n"  # kept
    assert (root / "etc/timezone").read_text() == "Europe/Brussels\n"
    report = (boot / "alarmbridge-report.txt").read_text()
    problems = report.split("Problems (these lines were skipped; fix them and restart):\n")[1]
    assert "line 1: hostname: 'gate_house' is not a valid name" in problems
    assert "line 3: board: unknown board 'acme'" in problems
    assert "line 4: unknown setting 'wifi_pasword' (did you mean 'wifi_password'?)" in problems


def test_a_zone_the_system_lacks_is_a_problem_not_a_broken_link(card: tuple[Path, Path]) -> None:
    boot, root = card
    (boot / "alarmbridge.txt").write_text("timezone=Asia/Tokyo\n")
    assert firstboot(boot, root) == 1
    assert not (root / "etc/localtime").exists()
    assert "Asia/Tokyo is not installed" in (boot / "alarmbridge-report.txt").read_text()


def test_no_file_no_change(card: tuple[Path, Path]) -> None:
    boot, root = card
    assert firstboot(boot, root) == 0
    assert not (boot / "alarmbridge-report.txt").exists()
    assert (boot / "config.txt").read_text() == IMAGE_CONFIG


def test_an_open_network_has_no_security_section() -> None:
    text = nm_connection("Guest", None)
    assert "[wifi-security]" not in text
    assert nm_ssid(text) == "Guest"


def test_the_template_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firstboot", "--print-template"]) == 0
    assert capsys.readouterr().out.startswith("# AlarmBridge first-boot settings.")


# -- the setup code on the boot partition --------------------------------------------


def _nobody() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("dropping to the web directory's owner needs root (CI runs as root)")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory another user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="alarmbridge-firstboot-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_the_setup_code_reaches_the_card_as_the_web_user_until_claimed(
    shared_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = _nobody()
    tmp_path = shared_tmp
    boot, web = tmp_path / "boot", tmp_path / "web"
    boot.mkdir()
    web.mkdir(mode=0o700)
    os.chown(web, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("ALARMBRIDGE_WEB_DIR", str(web))
    monkeypatch.setenv("ALARMBRIDGE_DATA_DIR", str(tmp_path / "data"))
    args = ["firstboot", "--boot", str(boot), "--setup-code-only"]

    assert main(args) == 0
    card = (boot / "alarmbridge-setup-code.txt").read_text()
    code = setup_code.code_path(web).read_text().strip()
    assert f"AlarmBridge setup code: {code}\n" in card
    for made in (setup_code.code_path(web), web / "auth.db"):
        assert made.stat().st_uid == nobody.pw_uid, made  # the web process can use them
        assert made.stat().st_mode & 0o077 == 0, made  # and nobody else can read them
    assert main(args) == 0
    assert (boot / "alarmbridge-setup-code.txt").read_text() == card  # the same code

    store = AuthStore(web / "auth.db")
    store.create_first_admin("owner", passwords.hash_password("a long passphrase here"))
    store.close()
    for path in web.iterdir():
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    assert main(args) == 0
    assert not (boot / "alarmbridge-setup-code.txt").exists()  # claimed: no code on the card
