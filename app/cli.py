"""The ``alarmbridge`` command. Errors are one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app import __version__
from app.cli_accounts import add_parser as add_accounts_parser
from app.cli_network import add_parser as add_network_parser
from app.eventlog.errors import EventLogError
from app.instance import InstanceError, check_free
from hardware import PRESETS, HardwareError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from app.cli_log import UsageError, cmd_events, print_event
    from app.config import MAX_MS, MIN_MS
    from app.io.commands import (
        ClearFault,
        GetConfig,
        GetStatus,
        SetConfig,
        Simulate,
        StartOutput,
        StopOutput,
        Trigger,
        explain,
    )
    from app.io.protocol import Client, ControlError
    from app.settings import Settings
    from app.text import check_name, printable


def _import_the_rest() -> None:
    """pydantic and what is built on it (the settings, the typed io commands), made
    module globals here rather than imported at the top: ``alarmbridge io`` claims
    its relays first (:func:`cmd_io`), every other command calls this before it parses."""
    # (Imported for globals() below: ruff cannot see that use, hence the noqa.)
    from pydantic import ValidationError  # noqa: F401

    from app.cli_log import UsageError, cmd_events, print_event  # noqa: F401
    from app.config import MAX_MS, MIN_MS  # noqa: F401
    from app.io.commands import (  # noqa: F401
        ClearFault,
        GetConfig,
        GetStatus,
        SetConfig,
        Simulate,
        StartOutput,
        StopOutput,
        Trigger,
        explain,
    )
    from app.io.protocol import Client, ControlError  # noqa: F401
    from app.settings import Settings  # noqa: F401
    from app.text import check_name, printable  # noqa: F401

    globals().update(locals())


def _settings(args: argparse.Namespace) -> Settings:
    _import_the_rest()  # (app.cli_log imports this module afresh under `python -m app.cli`)
    given = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**given)


def _client(args: argparse.Namespace) -> Client:
    return Client(_settings(args).socket_path)


def cmd_io(args: argparse.Namespace) -> int:
    from app.io.claim import claim_early, claim_relays

    # The instance lock, then the relays at their safe level, from the arguments and
    # the environment alone (no pydantic yet); checked against the settings after.
    early = claim_early(args.data_dir, args.pins, args.board, args.board_file)
    try:
        _import_the_rest()
        settings = _settings(args)
    except BaseException:
        if early is not None:
            early.release()
        raise
    claimed = early if early is not None and early.matches(settings) else None
    if claimed is None:  # (the rare case: they differ; the settings decide)
        if early is not None:
            early.release()
        claimed = claim_relays(settings)
    with claimed.until_handed_on():  # the heavy imports come after the relays
        from app.io.process import IoProcess, run_forever

        process = IoProcess(
            settings, on_event=print_event if args.print_events else None, claimed=claimed
        )
    run_forever(process)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The io, network and web processes under a small supervisor: what `make run`
    starts (in that order; they stop in the reverse one, io last)."""
    from app.supervisor import Child, Supervisor

    settings = _settings(args)
    check_free(settings.data_dir)  # a second 'run' must not start a second io process
    # -P: the children import the installed app, never an 'app' package that happens
    # to be in the current directory (a checkout of another version, say).
    cli = [sys.executable, "-P", "-m", "app.cli"]
    where = ["--data-dir", str(settings.data_dir)]
    if settings.web_dir is not None:
        where += ["--web-dir", str(settings.web_dir)]
    hardware = ["--pins", settings.pins, "--board", settings.board]
    if settings.board_file is not None:
        hardware += ["--board-file", str(settings.board_file)]
    network = ["--host", settings.host, "--port", str(settings.port), "--tls", settings.tls]
    for flag, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key)):
        if path is not None:
            network += [flag, str(path)]
    print(
        f"AlarmBridge {__version__}: board '{settings.board}', pins '{settings.pins}', "
        f"data in {settings.data_dir}/\n"
        f"Open {settings.local_url}/ in a browser. Stop with Ctrl-C. Live events:",
        flush=True,
    )
    delivery = [] if settings.network_dir is None else ["--network-dir", str(settings.network_dir)]
    children = [
        Child("io", [*cli, "io", *where, *hardware, "--print-events"]),
        Child("network", [*cli, "network", "run", *where, *delivery]),
        Child("web", [*cli, "web", *where, *network]),
    ]
    return Supervisor(children).run()


def cmd_web(args: argparse.Namespace) -> int:
    from app.web.serve import serve

    serve(_settings(args))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    contact = args.action in ("close", "open")
    if contact and args.n is None:
        raise UsageError(f"say which input: alarmbridge sim {args.action} N")
    n = args.n if contact else None
    _client(args).send(Simulate(action=args.action, input=n, user=args.user))
    done = {"close": "closed", "open": "opened", "press": "pressed", "release": "released"}
    what = f"input {args.n}'s contact" if contact else "the button"
    print(f"simulated: {what} {done[args.action]}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    duration = None if args.seconds is None else round(args.seconds * 1000)
    if duration is not None and not MIN_MS <= duration <= MAX_MS:
        raise UsageError(
            f"--for is in seconds: from {MIN_MS / 1000:g} to {MAX_MS // 1000} "
            f"({MAX_MS // 3_600_000} h), not {args.seconds:g}; leave it out for until stopped"
        )
    _client(args).send(StartOutput(output=args.n, duration_ms=duration, user=args.user))
    how = "until stopped" if args.seconds is None else f"for {args.seconds:g} s"
    print(f"output {args.n} started {how}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    if not _client(args).send(StopOutput(output=args.n, user=args.user)).changed:
        print(f"output {args.n} was not active: nothing to stop")
    else:
        print(f"output {args.n} stopped")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    _client(args).send(Trigger(user=args.user))
    print("manual trigger sent: the outputs do what the button is set to do")
    return 0


def cmd_clear_fault(args: argparse.Namespace) -> int:
    _client(args).send(ClearFault(code=args.code, user=args.user))
    print(f"fault {args.code} cleared")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _client(args).send(GetStatus())
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    sim = " (simulated pins)" if status["simulated"] else ""
    print(
        f"AlarmBridge {status['version']} on board {status['board']}{sim}, "
        f"up {status['uptime_s']} s, clock {'synced' if status['clock_synced'] else 'NOT synced'}"
    )
    for i in status["inputs"]:
        flags = [k for k in ("chattering", "stuck") if i[k]] + (
            [] if i["enabled"] else ["disabled"]
        )
        print(
            f"  {printable(i['name']):<12} {i['contact']:<6} {i['contact_type']} {i['kind']:<11} "
            f"{'ALARM' if i['alarm'] else 'normal':<7} {' '.join(flags)}"
        )
    for o in status["outputs"]:
        left = f" {o['time_left_ms'] / 1000:.1f} s left" if o["time_left_ms"] is not None else ""
        print(
            f"  {printable(o['name']):<12} {printable(o['dvr_channel']):<5} "
            f"{'ACTIVE' if o['active'] else 'idle':<7}"
            f"relay {'energised' if o['energised'] else 'released'}{left}"
        )
    for f in status["faults"]:
        print(f"  FAULT {printable(f['key'])}: {printable(f['message'])}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "export":
        config = _client(args).send(GetConfig())
        text = json.dumps(config, indent=2) + "\n"
        if args.file:
            Path(args.file).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if not args.file:
        raise UsageError("say which file to import: alarmbridge config import FILE")
    try:
        data = json.loads(Path(args.file).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{args.file} is not valid JSON: {exc}") from None
    from app.store import parse_config

    new = parse_config(data)  # the io process checks it too: here, for the message
    if not _client(args).send(SetConfig(config=new, user=args.user)).changed:
        print(f"{args.file} is the running configuration: nothing changed")
    else:
        print(f"configuration imported from {args.file} and applied")
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    spec = _settings(args).board_spec()
    print(f"{spec.name}: {spec.title}")
    for row in spec.pin_table():
        print(
            f"  {row['function']:<12} GPIO {row['gpio']:<3} header pin {row['header_pin']:<3} "
            f"{row['wiring']}"
        )
    print("config.txt: " + "  ".join(spec.config_txt_lines()))
    if spec.notes:
        print(spec.notes)
    return 0


def cmd_firstboot(args: argparse.Namespace) -> int:
    from app import firstboot

    if args.print_template:
        print(firstboot.TEMPLATE, end="")
        return 0
    if args.setup_code_only:
        return firstboot.sync_setup_code(args.boot, _settings(args))
    return firstboot.run(args.boot, args.root)


def _user_name(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a user name {exc}") from None


def _cmd_events(args: argparse.Namespace) -> int:
    return cmd_events(args)  # (app.cli_log is imported by _import_the_rest)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, help="database and control socket (default ./data)"
    )
    common.add_argument(
        "--web-dir",
        type=Path,
        help="the web process's accounts, setup code and certificate (default: the data dir)",
    )
    hw = argparse.ArgumentParser(add_help=False)
    hw.add_argument(
        "--pins",
        choices=["auto", "lgpio", "rpigpio", "mock"],
        help="GPIO backend (default auto: lgpio on a Pi, simulated elsewhere)",
    )
    hw.add_argument("--board", help=f"board preset: {', '.join(PRESETS)}, or custom")
    hw.add_argument("--board-file", type=Path, help="JSON pin map for --board custom")
    user = argparse.ArgumentParser(add_help=False)
    user.add_argument("--user", default="cli", type=_user_name, help="who is acting (logged)")

    parser = argparse.ArgumentParser(prog="alarmbridge", description="Alarm-to-CCTV bridge.")
    parser.add_argument("--version", action="version", version=f"alarmbridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    io = sub.add_parser("io", parents=[common, hw], help="run the io process")
    io.add_argument("--print-events", action="store_true", help="print each event as it is logged")
    io.set_defaults(func=cmd_io)
    net = argparse.ArgumentParser(add_help=False)
    net.add_argument("--host", help="web UI address (default 127.0.0.1; 0.0.0.0 for the LAN)")
    net.add_argument("--port", type=int, help="web UI port (default 8080)")
    net.add_argument(
        "--tls",
        choices=["off", "self-signed", "own"],
        help="HTTPS: off (default), a per-device self-signed certificate, or your own",
    )
    net.add_argument("--tls-cert", type=Path, help="PEM certificate for --tls own")
    net.add_argument("--tls-key", type=Path, help="PEM private key for --tls own")
    web = sub.add_parser("web", parents=[common, net], help="run the web process (UI and API)")
    web.set_defaults(func=cmd_web)
    run = sub.add_parser(
        "run", parents=[common, hw, net], help="run the io, network and web processes together"
    )
    run.set_defaults(func=cmd_run)
    sim = sub.add_parser("sim", parents=[common, user], help="drive simulated pins")
    sim.add_argument("action", choices=["close", "open", "press", "release"])
    sim.add_argument("n", nargs="?", type=int, help="input number (1-based)")
    sim.set_defaults(func=cmd_sim)
    start = sub.add_parser("start", parents=[common, user], help="start an output by hand")
    start.add_argument("n", type=int, help="output number (1-based)")
    start.add_argument("--for", dest="seconds", type=float, help="seconds (default: until stopped)")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", parents=[common, user], help="stop an output")
    stop.add_argument("n", type=int)
    stop.set_defaults(func=cmd_stop)
    sub.add_parser("trigger", parents=[common, user], help="the manual trigger").set_defaults(
        func=cmd_trigger
    )
    clear = sub.add_parser(
        "clear-fault",
        parents=[common, user],
        help="acknowledge a fault that stays until cleared (e.g. eventlog-corrupt)",
    )
    clear.add_argument("code")
    clear.set_defaults(func=cmd_clear_fault)
    status = sub.add_parser("status", parents=[common], help="live state of inputs and outputs")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    events = sub.add_parser("events", parents=[common], help="the event log, newest last")
    events.add_argument(
        "action",
        nargs="?",
        choices=["show", "verify"],
        default="show",
        help="show (default), or verify: check the log's hash chain",
    )
    events.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    events.add_argument("--channel")
    events.add_argument(
        "--kind",
        action="append",
        choices=["input", "output", "operator", "config", "system", "fault", "security"],
    )
    events.add_argument(
        "--since", help="ISO time; without an offset in the appliance's time zone, as in the API"
    )
    events.add_argument("--until", help="ISO time (exclusive), read as --since is")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("-f", "--follow", action="store_true", help="then show new events live")
    fmt = events.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines")
    fmt.add_argument("--csv", action="store_true")
    events.set_defaults(func=_cmd_events)
    config = sub.add_parser(
        "config", parents=[common, user], help="export or import the configuration"
    )
    config.add_argument("action", choices=["export", "import"])
    config.add_argument("file", nargs="?")
    config.set_defaults(func=cmd_config)
    board = sub.add_parser("board", parents=[hw], help="show the pin map and config.txt lines")
    board.set_defaults(func=cmd_board)
    firstboot = sub.add_parser(
        "firstboot",
        parents=[common],
        help="apply alarmbridge.txt from the SD card's boot partition (run as root at boot)",
    )
    firstboot.add_argument(
        "--boot", type=Path, default=Path("/boot/firmware"), help="the boot partition"
    )
    firstboot.add_argument(
        "--root", type=Path, default=Path("/"), help="the system to change (tests, image builds)"
    )
    firstboot.add_argument(
        "--setup-code-only",
        action="store_true",
        help="only put the setup code on the boot partition (or remove it once claimed)",
    )
    firstboot.add_argument(
        "--print-template",
        action="store_true",
        help="print a commented alarmbridge.txt to start from",
    )
    firstboot.set_defaults(func=cmd_firstboot)
    add_network_parser(sub, common, _settings)
    add_accounts_parser(sub, common, _settings)
    return parser


#: commands whose files are for their own user only: the web process's accounts, setup
#: code and certificate, and under `run` (the development path) everything
PRIVATE = frozenset({"run", "web", "users", "setup-code"})


def file_mode_mask(command: str, current: int) -> int:
    """The umask ``command`` runs with: never access for others; for the io process,
    group access as its service manager set it (the .deb's io unit gives group
    alarmbridge, the web user, read access to the log and the socket); only the
    owner for the PRIVATE commands. docs/security.md, "Files".

    >>> oct(file_mode_mask("run", 0o022)), oct(file_mode_mask("io", 0o027))
    ('0o77', '0o27')
    >>> oct(file_mode_mask("io", 0o022)), oct(file_mode_mask("status", 0o022))
    ('0o27', '0o22')
    """
    if command in PRIVATE:
        return current | 0o077
    return current | 0o007 if command == "io" else current


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["io"]:  # the io process imports the rest after its relays (cmd_io)
        _import_the_rest()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    previous = os.umask(0o077)
    os.umask(file_mode_mask(args.command, previous))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        _import_the_rest()  # (the io process may fail before it did)
        expected = (
            ControlError,
            HardwareError,
            UsageError,
            ValueError,
            EventLogError,
            InstanceError,
            ValidationError,
            OSError,
        )
        if not isinstance(exc, expected):
            raise
        print(f"alarmbridge: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        os.umask(previous)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return explain(exc)
    return printable(" ".join(str(exc).split()))


if __name__ == "__main__":
    raise SystemExit(main())
