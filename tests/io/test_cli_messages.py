"""What the ``alarmbridge`` command says (#19): one line on success for the commands
that act, a clear refusal of a data directory that is not there, a channel that does
not exist, and times read in the appliance's time zone, as the API reads them."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.io.conftest import CLI, IoProc, cli, wait_for


def test_acting_commands_print_one_line(io_proc: IoProc) -> None:
    io_proc.start()
    data = io_proc.data_dir
    for args, said in [
        (("sim", "close", "2"), "simulated: input 2's contact closed"),
        (("sim", "open", "2"), "simulated: input 2's contact opened"),
        (("start", "3", "--for", "30"), "output 3 started for 30 s"),
        (("stop", "3"), "output 3 stopped"),
        (("stop", "3"), "output 3 was not active: nothing to stop"),
        (("start", "4"), "output 4 started until stopped"),
        (("trigger",), "manual trigger sent: the outputs do what the button is set to do"),
    ]:
        done = cli(data, *args)
        assert done.stdout.splitlines() == [said], (args, done.stdout)


def test_setup_code_refuses_a_data_directory_that_is_not_there(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    done = cli(missing, "setup-code", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"alarmbridge: there is no data directory {missing}: give the appliance's own "
        "--data-dir, or add --create to make a new one there"
    )
    assert not missing.exists()
    made = cli(missing, "setup-code", "--create")
    assert len(made.stdout.strip()) >= 16 and missing.is_dir()


def test_events_of_a_channel_that_does_not_exist(io_proc: IoProc) -> None:
    io_proc.start()
    done = cli(io_proc.data_dir, "events", "--channel", "IN9", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "alarmbridge: there is no channel named 'IN9' in the log or the configuration: "
        "the channels are IN1, IN2, IN3, IN4, OUT1, OUT2, OUT3, OUT4"
    )
    # A channel that exists but has no events yet is an empty answer, not an error.
    quiet = cli(io_proc.data_dir, "events", "--channel", "IN3")
    assert quiet.stdout == ""


def test_events_since_is_in_the_appliances_time_zone(io_proc: IoProc) -> None:
    io_proc.start()
    data = io_proc.data_dir
    cli(data, "sim", "close", "1")
    zone = "Pacific/Kiritimati"  # UTC+14: read as UTC, the time below is 14 h ahead
    an_hour_ago = datetime.now(ZoneInfo(zone)) - timedelta(hours=1)
    since = an_hour_ago.strftime("%Y-%m-%dT%H:%M:%S")  # no offset
    env = {**os.environ, "ALARMBRIDGE_TIMEZONE": zone}

    def shown() -> list[dict[str, object]]:
        done = subprocess.run(
            [
                *CLI,
                "events",
                "--json",
                "--since",
                since,
                "--channel",
                "IN1",
                "--data-dir",
                str(data),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        return [json.loads(line) for line in done.stdout.splitlines()]

    wait_for(lambda: shown())
    assert [e["state"] for e in shown()] == ["alarm"]
