"""The `needlecheck` command.

Subcommands import what they need when they run, so `needlecheck assess` starts without
loading Rasa, spaCy or TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import TextIO

EXIT_INVALID_INPUT = 1
EXIT_CONFIGURATION = 3


def _iso_date(text: str) -> date:
    from needlecheck.screening.dates import parse_iso_date

    try:
        return parse_iso_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="needlecheck",
        description="Microneedling consultation-eligibility screening.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    assess = commands.add_parser(
        "assess",
        help="assess facts read as JSON Lines from standard input",
        description=(
            "Read one JSON object of facts per line on standard input and write one "
            "assessment per line on standard output. An invalid line is reported on "
            "standard error with its line number and field, gets no assessment, and makes "
            "the exit status 1; the other lines are still assessed."
        ),
    )
    assess.add_argument(
        "--today",
        type=_iso_date,
        default=None,
        help="assessment date (YYYY-MM-DD); default: today in NEEDLECHECK_TIMEZONE",
    )
    assess.add_argument("--policy", default=None, help="clinic policy file (YAML)")

    policy = commands.add_parser("policy", help="check a clinic policy file and show its rules")
    policy.add_argument(
        "file", nargs="?", default=None, help="policy file; default: built-in rules"
    )

    db = commands.add_parser("db", help="manage the screening database schema")
    db.add_argument("action", choices=["upgrade", "current"])

    commands.add_parser("check", help="check the configuration the assistant would start with")

    run = commands.add_parser("run", help="start the Rasa server and the action server")
    run.add_argument("--model", default="models", help="model file or directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "assess": _cmd_assess,
        "policy": _cmd_policy,
        "db": _cmd_db,
        "check": _cmd_check,
        "run": _cmd_run,
    }[args.command]
    return handler(args)


def _cmd_assess(args: argparse.Namespace) -> int:
    from needlecheck.config import Settings
    from needlecheck.screening import PolicyError, load_policy

    try:
        policy = load_policy(args.policy)
        today = args.today or Settings.from_environment().today()
    except (PolicyError, ValueError) as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return assess_stream(sys.stdin, sys.stdout, sys.stderr, today=today, policy=policy)


def assess_stream(source: TextIO, out: TextIO, err: TextIO, *, today: date, policy) -> int:
    from needlecheck.screening import FactError, assess

    status = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            print(f"line {number}: not valid JSON ({error.msg} at column {error.colno})", file=err)
            status = EXIT_INVALID_INPUT
            continue
        try:
            result = assess(raw, today, policy)
        except FactError as error:
            print(f"line {number}: {error}", file=err)
            status = EXIT_INVALID_INPUT
            continue
        out.write(json.dumps(result.to_json()) + "\n")
        out.flush()
    return status


def _cmd_policy(args: argparse.Namespace) -> int:
    from needlecheck.screening import PolicyError, load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print(f"{policy.name} (version {policy.version}): {len(policy.rules)} rules")
    for rule in policy.rules:
        params = ", ".join(f"{k}={v}" for k, v in rule.params.items())
        print(f"  {rule.id:<22} {rule.severity:<8} {params}")
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from needlecheck.config import Settings
    from needlecheck.store.database import redacted_url
    from needlecheck.store.migrate import current_revision, upgrade

    settings = Settings.from_environment()
    try:
        if args.action == "upgrade":
            upgrade(settings.database_url)
        print(f"database revision: {current_revision(settings.database_url)}")
    except Exception as error:
        print(
            f"needlecheck: database {redacted_url(settings.database_url)}: {error}", file=sys.stderr
        )
        return EXIT_CONFIGURATION
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from needlecheck.startup import check_startup

    def report() -> int:
        print("\n".join(check_startup()))
        return 0

    return _refuse_bad_configuration(report)


def _cmd_run(args: argparse.Namespace) -> int:
    from needlecheck.startup import run_servers

    return _refuse_bad_configuration(lambda: run_servers(model=args.model))


def _refuse_bad_configuration(start: Callable[[], int]) -> int:
    from needlecheck.startup import StartupError

    try:
        return start()
    except StartupError as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION


if __name__ == "__main__":
    sys.exit(main())
