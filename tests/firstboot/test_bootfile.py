"""Reading ``alarmbridge.txt``: whatever editor the user had, every value is checked,
and a bad line is named and skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.firstboot.bootfile import TEMPLATE, blank_secrets, decode, lines, parse
from hardware import PRESETS

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIakREcwS//OVWWG7AmgkRuCR7GBxI1Y+X5zDtzLKure owner@laptop"
)


def test_the_template_parses_clean_and_names_every_board() -> None:
    found = parse(TEMPLATE)
    assert found.problems == []
    assert found.values == {"hostname": "alarmbridge", "board": "default"}
    for name in PRESETS:
        assert name in TEMPLATE


def test_a_file_from_notepad() -> None:
    raw = (
        "\ufeffHostname = Gate-House\r\n"
        "TIMEZONE='Europe/London'\r\n"
        'wifi-ssid = "Shop Wi-Fi; 2.4"\r\n'
        "wifi_password = correct horse \r\n"
        "wifi_country = gb\r\n"
        f"ssh_key =   {KEY.replace(' ', '   ')}  \r\n"
    ).encode()
    text, note = decode(raw)
    assert note is None
    found = parse(text)
    assert found.problems == []
    assert found.values == {
        "hostname": "gate-house",
        "timezone": "Europe/London",
        "wifi_ssid": "Shop Wi-Fi; 2.4",
        "wifi_password": "correct horse",
        "wifi_country": "GB",
        "ssh_key": KEY,
    }


def test_old_mac_line_endings_and_a_windows_1252_file() -> None:
    text, note = decode(b"hostname=cafe\rwifi_ssid=Caf\xe9\rwifi_password=12345678\r")
    assert note is not None and "Windows-1252" in note
    assert parse(text).values == {
        "hostname": "cafe",
        "wifi_ssid": "Café",
        "wifi_password": "12345678",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hostname=-bad", "not a valid name"),
        ("hostname=two words", "not a valid name"),
        ("hostname=" + "a" * 64, "not a valid name"),
        ("timezone=Europe/Atlantis", "unknown time zone"),
        ("board=acme-relay", "unknown board 'acme-relay': choose one of default"),
        ("wifi_country=Belgium", "two-letter country code"),
        ("wifi_ssid=" + "x" * 33, "at most 32 bytes"),
        ("ssh_key=AAAAC3NzaC1lZDI1NTE5", "expected a public key line"),
        ("ssh_key=ssh-ed25519 AAAA!!!! me", "base64 part is damaged"),
        ("ssh_key=ssh-rsa " + KEY.split()[1], "does not match its type"),
        ("wifi_pasword=hunter22", "unknown setting 'wifi_pasword' (did you mean 'wifi_password'?)"),
        ("just some words", "expected KEY=VALUE"),
    ],
)
def test_a_bad_line_is_named_and_skipped(line: str, message: str) -> None:
    found = parse(f"# settings\nhostname=front-desk\n{line}\n")
    assert len(found.problems) == 1, found.problems
    assert found.problems[0].startswith("line 3: ")
    assert message in found.problems[0]
    assert found.values.get("hostname", "front-desk") == "front-desk"  # the rest still applies


@pytest.mark.parametrize("password", ["short", "x" * 64, "pass\x7fword", "mot de passe é"])
def test_wifi_passwords_wpa_refuses(password: str) -> None:
    found = parse(f"wifi_ssid=Shop\nwifi_password={password}\n")
    assert "wifi_password" not in found.values
    assert found.problems and "wifi_password" in found.problems[0]


def test_a_64_digit_hex_key_is_a_wpa_password() -> None:
    found = parse("wifi_ssid=Shop\nwifi_password=" + "ab" * 32 + "\n")
    assert found.values["wifi_password"] == "ab" * 32


def test_a_password_without_a_network_changes_nothing() -> None:
    found = parse("wifi_password=correct horse\n")
    assert found.values == {}
    assert found.problems == ["wifi_password is set but wifi_ssid is empty; Wi-Fi not changed"]


def test_a_repeated_key_takes_the_later_line_and_says_so() -> None:
    found = parse("hostname=one\nhostname=two\n")
    assert found.values == {"hostname": "two"}
    assert found.notes == ["line 2: hostname is also on line 1; the later line counts"]


def test_an_empty_later_line_clears_the_value() -> None:
    assert parse("timezone=UTC\ntimezone=\n").values == {}


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_the_password_is_blanked_and_nothing_else_changes(newline: str) -> None:
    text = newline.join(
        ["# my settings", "hostname=gate", "wifi_ssid=Shop", "WiFi_Password = hunter2hunter2", ""]
    )
    blanked = blank_secrets(text, "applied")
    assert blanked == newline.join(
        ["# my settings", "hostname=gate", "wifi_ssid=Shop", "# applied", "WiFi_Password=", ""]
    )
    assert blank_secrets(blanked, "applied") is None  # nothing left to remove
    assert parse(blanked).values == {"hostname": "gate", "wifi_ssid": "Shop"}


ssids = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="#"),
    min_size=1,
    max_size=32,
).filter(lambda s: s.strip() == s and len(s.encode()) <= 32 and s[0] not in "\"'")
passwords = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=63
).filter(lambda s: s[0] not in "\"'")


@given(
    hostname=st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z"),
    ssid=ssids,
    password=passwords,
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
    quote=st.sampled_from(["", '"', "'"]),
    pad=st.sampled_from(["", " ", "\t", "  "]),
    bom=st.booleans(),
)
def test_any_valid_file_reads_back_its_values(
    hostname: str, ssid: str, password: str, newline: str, quote: str, pad: str, bom: bool
) -> None:
    rows = [
        f"hostname{pad}={pad}{quote}{hostname.upper()}{quote}",
        f"{pad}wifi_ssid={quote}{ssid}{quote}{pad}",
        f"wifi_password{pad}={quote}{password}{quote}",
    ]
    raw = (("\ufeff" if bom else "") + newline.join(rows) + newline).encode()
    text, _ = decode(raw)
    found = parse(text)
    assert found.problems == []
    assert found.values == {"hostname": hostname, "wifi_ssid": ssid, "wifi_password": password}
    assert len([line for line in lines(text) if line]) == 3
