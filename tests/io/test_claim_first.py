"""Start-up order and weight (#17): ``alarmbridge io`` claims its relays before it
imports SQLAlchemy, Alembic or the engine; Alembic stays out of a running io process
(unless a migration was due); the web process never imports Alembic, Mako or
gpiozero. Each is checked in a fresh interpreter, the way the processes start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = [
    "sqlalchemy",
    "alembic",
    "mako",
    "pydantic",
    "pydantic_settings",
    "app.engine",
    "app.io.process",
    "app.eventlog.writer",
]

# Runs 'alarmbridge io' as the command line does; when the board's last relay has been
# claimed (at its released level), prints which heavy modules were imported by then and
# what the relays are, then ends the process (a test: no need to run on).
AT_CLAIM = """
import json, os, sys
from hardware import board
opened = board.Board.__init__
def watched(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    heavy = [m for m in HEAVY if m in sys.modules]
    relays = [r.is_active for r in self.relays]
    print(json.dumps({"heavy": heavy, "energised": relays}), flush=True)
    os._exit(0)
board.Board.__init__ = watched
from app.cli import main
main(["io", "--data-dir", DATA, "--pins", "mock"])
"""

# Starts the io process (in this fresh interpreter), then says what it has imported.
STEADY = """
import json, sys
from pathlib import Path
from app.io.process import IoProcess
from app.settings import Settings
process = IoProcess(Settings(data_dir=Path(DATA), pins="mock"))
process.start()
try:
    print(json.dumps([m for m in ("alembic", "mako") if m in sys.modules]), flush=True)
finally:
    process.stop()
"""

WEB = """
import json, sys
from pathlib import Path
from app.settings import Settings
from app.web import create_app
from app.web.serve import serve
create_app(Settings(data_dir=Path(DATA), pins="mock"))
print(json.dumps([m for m in ("alembic", "mako", "gpiozero") if m in sys.modules]), flush=True)
"""


def run(code: str, data: Path) -> str:
    program = f"HEAVY = {HEAVY!r}\nDATA = {str(data)!r}\n{code}"
    done = subprocess.run(
        [sys.executable, "-P", "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_relays_are_claimed_before_the_heavy_imports(tmp_path: Path) -> None:
    for start in ("first boot", "restart"):
        found = json.loads(run(AT_CLAIM, tmp_path / "data"))
        assert found["heavy"] == [], start
        assert found["energised"] == [False] * len(found["energised"]), start
        if start == "first boot":  # make the log, so the second start is a restart
            assert json.loads(run(STEADY, tmp_path / "data")) == ["alembic", "mako"]


def test_a_running_io_process_has_no_alembic_unless_it_migrated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert json.loads(run(STEADY, data)) == ["alembic", "mako"]  # a new log: migrated
    assert json.loads(run(STEADY, data)) == []  # the usual start: the log is at head


def test_the_web_process_imports_no_alembic_mako_or_gpiozero(tmp_path: Path) -> None:
    assert json.loads(run(WEB, tmp_path / "data")) == []


def test_the_early_claim_reads_the_arguments_then_the_environment(tmp_path: Path) -> None:
    from app.io.claim import claim_early
    from app.settings import Settings

    env = {"alarmbridge_data_dir": str(tmp_path / "from-env"), "ALARMBRIDGE_PINS": "mock"}
    claimed = claim_early(None, None, None, None, env)
    assert claimed is not None
    try:
        assert (tmp_path / "from-env").is_dir()
        assert claimed.matches(Settings(data_dir=tmp_path / "from-env", pins="mock"))
        other_board = Settings(data_dir=tmp_path / "from-env", pins="mock", board="sb-pirelay")
        assert not claimed.matches(other_board)  # then the settings decide: claimed again
        assert not claimed.matches(Settings(data_dir=tmp_path / "elsewhere", pins="mock"))
    finally:
        claimed.release()
    # An argument wins over the environment; a backend the settings would refuse is
    # left to them (they say what is wrong).
    claimed = claim_early(tmp_path / "from-arg", "mock", None, None, env)
    assert claimed is not None
    claimed.release()
    assert (tmp_path / "from-arg").is_dir()
    assert claim_early(None, "gpio-of-my-own", None, None, env) is None
