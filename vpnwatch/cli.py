"""The `vpnwatch` command: run, demo, emulator, replay, check-config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from vpnwatch import __version__

if TYPE_CHECKING:
    from vpnwatch.config import Settings

DEMO_SCENARIO = "demo"
DEMO_SPEED = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpnwatch", description="Monitoring agent for Azure VPN gateways and ExpressRoute."
    )
    parser.add_argument("--version", action="version", version=f"vpnwatch {__version__}")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the agent and its HTTP service against Azure")
    run.add_argument("--config", required=True, type=Path, help="YAML configuration file")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="emulator + agent + API on 127.0.0.1, no Azure needed")
    demo.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    demo.add_argument("--scenario", default=DEMO_SCENARIO, help="scenario name or file")
    demo.add_argument("--speed", type=float, default=DEMO_SPEED, help="scenario seconds per second")
    demo.set_defaults(func=_cmd_demo)

    emulator = sub.add_parser("emulator", help="serve a scenario as Azure ARM on 127.0.0.1")
    emulator.add_argument("--scenario", required=True, help="scenario name or file")
    emulator.add_argument("--port", type=int, default=8081)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--tls", action="store_true", help="serve https with a self-signed cert")
    emulator.add_argument("--speed", type=float, default=1.0, help="scenario seconds per second")
    emulator.add_argument("--token", default="emulator-token", help="bearer token to accept")
    emulator.add_argument(
        "--throttling",
        choices=["bucket", "hourly", "off"],
        help="ARM's request limits (default: the scenario's, else today's token buckets)",
    )
    emulator.set_defaults(func=_cmd_emulator)

    replay = sub.add_parser("replay", help="print the incidents a scenario would open")
    replay.add_argument("scenario", help="scenario name or file")
    replay.add_argument("--speed", type=float, default=0.0, help="pace (0: as fast as possible)")
    replay.add_argument("--config", type=Path, help="collector and correlator settings to use")
    replay.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per incident and line, with its history (opened, escalated, "
        "paged, parent changed, resolved)",
    )
    replay.add_argument(
        "--entities",
        action="store_true",
        help="with --json: first one line per step with every entity's health and data age",
    )
    replay.add_argument(
        "--deliver",
        action="store_true",
        help="send the notifications through --config's receivers; exit once all are delivered",
    )
    replay.set_defaults(func=_cmd_replay)

    notify_test = sub.add_parser("notify-test", help="send one test event to a receiver")
    notify_test.add_argument("receiver", help="the receiver's name in notify.receivers")
    notify_test.add_argument("--config", required=True, type=Path, help="YAML configuration file")
    notify_test.set_defaults(func=_cmd_notify_test)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--probe",
        action="store_true",
        help="also try the credential, one read per subscription and every permission needed",
    )
    check.set_defaults(func=_cmd_check_config)

    role = sub.add_parser(
        "role-definition", help="print the Azure custom role vpnwatch needs (least privilege)"
    )
    role.add_argument(
        "--scope",
        action="append",
        default=[],
        help="assignable scope, e.g. /subscriptions/<id> (repeatable)",
    )
    role.set_defaults(func=_cmd_role_definition)
    return parser


def _logging(level: str = "INFO", fmt: str = "text") -> None:
    from vpnwatch.logs import configure

    configure(level, fmt)


def _stop_on_signals() -> None:
    """Take SIGTERM (`docker stop`, systemd, `timeout`) as Ctrl-C, so the cleanup a Ctrl-C runs
    (the emulator's throwaway CA and key, the demo's state) also runs then.

    A process started in the background by a non-interactive shell (`make test &`) inherits
    SIGINT *ignored*, and Python then leaves it ignored: Ctrl-C (or a test's SIGINT) would do
    nothing. Installing Python's own handler again makes Ctrl-C stop the command everywhere.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from vpnwatch.config import check_config

    problems = check_config(args.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    settings = _load_or_report(args.file)
    if settings is None:
        return 1
    from vpnwatch.config import config_warnings

    for warning in config_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"OK: {args.file}")
    if not args.probe:
        return 0
    _logging("CRITICAL")  # the probe's report says everything; the SDKs' logs would repeat it
    from vpnwatch.collect.probe import probe

    lines = asyncio.run(probe(settings))
    for line in lines:
        print(line)
    failed = [line for line in lines if not line.ok]
    if failed:
        print(f"probe: {len(failed)} problem(s); see docs/permissions.md", file=sys.stderr)
        return 1
    print("probe: OK")
    return 0


def _cmd_role_definition(args: argparse.Namespace) -> int:
    from vpnwatch.permissions import role_definition

    print(json.dumps(role_definition(args.scope), indent=2))
    return 0


def _load_or_report(path: Path) -> Settings | None:
    from vpnwatch.config import ConfigError, load_settings

    try:
        return load_settings(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _load_or_report(args.config)
    if settings is None:
        return 1
    _logging(settings.log_level, settings.log_format)
    from vpnwatch.config import config_warnings
    from vpnwatch.runtime import AgentExited, serve
    from vpnwatch.startup import StartupError

    log = logging.getLogger("vpnwatch")
    for warning in config_warnings(settings):
        log.warning("configuration: %s", warning)

    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        # one line for the operator; the traceback only when they ask for debug logs
        log.error("vpnwatch could not start: %s", exc)
        log.debug("start-up failure", exc_info=True)
        return 1
    except AgentExited as exc:
        log.error("vpnwatch stopped: %s", exc)
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    _logging()
    from vpnwatch.clock import ScaledClock
    from vpnwatch.emulator import Emulator, load_scenario
    from vpnwatch.notify import demo_receiver as oncall
    from vpnwatch.notify.settings import NotifySettings
    from vpnwatch.replay import emulator_settings
    from vpnwatch.service.app import serve_one_loop
    from vpnwatch.service.demo import DemoStory

    scenario = load_scenario(args.scenario)
    clock = ScaledClock(speed=args.speed)
    inbox = oncall.Inbox(clock)

    async def demo(state_dir: Path) -> None:
        async with Emulator(scenario, clock=clock, port=0, tls=False) as emu:
            store_path = str(state_dir / "demo.sqlite3")
            settings = emulator_settings(
                emu.base_url, scenario, epoch=clock.now(), store_path=store_path
            )
            settings.service.port = args.port
            settings.service.webhook.secret = SecretStr("demo-webhook-secret")
            async with oncall.serving(secret="demo-signing-secret", inbox=inbox) as oncall_url:
                settings.notify = NotifySettings(
                    receivers=oncall.demo_receivers(oncall_url, "demo-signing-secret"),
                    link_base_url=f"http://127.0.0.1:{args.port}",
                )
                logging.getLogger("vpnwatch.demo").info(
                    "scenario %r at %gx: emulator %s, API http://127.0.0.1:%d/ "
                    "(webhook token: demo-webhook-secret); pages go to the on-call receiver "
                    "at %s, are printed below and listed on the status page",
                    scenario.name,
                    args.speed,
                    emu.base_url,
                    args.port,
                    oncall_url,
                )
                story = DemoStory(scenario, clock, inbox)
                await serve_one_loop(settings, clock=clock, demo=story)

    _stop_on_signals()
    with (
        tempfile.TemporaryDirectory(prefix="vpnwatch-demo-", ignore_cleanup_errors=True) as state,
        contextlib.suppress(KeyboardInterrupt),
    ):
        asyncio.run(demo(Path(state)))
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    _logging()
    from vpnwatch.emulator import ScenarioError, TlsUnavailable, load_scenario, serve_forever

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    _stop_on_signals()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                serve_forever(
                    scenario,
                    host=args.host,
                    port=args.port,
                    tls=args.tls,
                    speed=args.speed,
                    token=args.token,
                    throttling=args.throttling,
                )
            )
    except TlsUnavailable as exc:
        print(f"vpnwatch emulator: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    _logging("ERROR")
    from vpnwatch.emulator import ScenarioError, load_scenario
    from vpnwatch.replay import REPLAY_EPOCH, DeliveryTimeout, incident_record, replay

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    base = None
    if args.config is not None:
        base = _load_or_report(args.config)
        if base is None:
            return 1
    if args.deliver and (base is None or not base.notify.receivers):
        print("--deliver needs --config with notify.receivers", file=sys.stderr)
        return 2
    if args.entities and not args.json:
        print("--entities needs --json", file=sys.stderr)
        return 2
    if args.deliver:  # each failed delivery and dead letter is worth seeing
        logging.getLogger().setLevel(logging.WARNING)
    samples: list[dict] | None = [] if args.entities else None
    try:
        incidents = asyncio.run(
            replay(
                scenario,
                base=base,
                speed=args.speed,
                deliver=args.deliver,
                history=args.json,
                entity_samples=samples,
            )
        )
    except DeliveryTimeout as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for sample in samples or []:
        print(json.dumps(sample))
    for incident in incidents:
        record = incident_record(incident, epoch=REPLAY_EPOCH)
        if args.json:
            print(json.dumps(record, sort_keys=False))
        else:
            print(
                f"+{record['opened_offset']:>6.0f}s {record['severity']:<8} {record['type']:<30} "
                f"{record['classification'] or '':<11} outage={record['outage_seconds']} "
                f"{'(child of ' + record['parent'] + ') ' if record['parent'] else ''}"
                f"{record['title']}"
            )
    return 0


def _cmd_notify_test(args: argparse.Namespace) -> int:
    settings = _load_or_report(args.config)
    if settings is None:
        return 1
    _logging("WARNING")
    from vpnwatch.notify.commands import notify_test

    return asyncio.run(notify_test(settings.notify, args.receiver))
