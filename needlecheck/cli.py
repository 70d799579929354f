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
    db.add_argument("action", choices=["create", "upgrade", "current"])

    commands.add_parser("check", help="check the configuration the assistant would start with")

    run = commands.add_parser(
        "run", help="start the Rasa server, the action server and the front desk"
    )
    run.add_argument("--model", default="models", help="model file or directory")

    run_prod = commands.add_parser(
        "run-prod",
        help="start the production topology: 2 Rasa instances, 2 action servers, HAProxy, "
        "the front desk (needs PostgreSQL, Redis and RabbitMQ)",
    )
    run_prod.add_argument("--model", default="models", help="model file or directory")

    commands.add_parser("status", help="print the state of every component")

    commands.add_parser("frontdesk", help="serve the front desk alone (localhost:8000)")

    staff = commands.add_parser("staff", help="manage front-desk accounts")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser(
        "add", help="create an account; the password is asked for, or read from stdin"
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["front_desk", "clinician"])
    add.add_argument("--name", default="", help="name shown in the app and the audit log")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    password = staff_commands.add_parser("password", help="set a new password")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    for name in ("disable", "enable"):
        staff_commands.add_parser(name, help=f"{name} an account").add_argument("username")
    staff_commands.add_parser("list", help="list the accounts")

    purge = commands.add_parser(
        "purge", help="delete records older than the retention period (also run daily)"
    )
    purge.add_argument(
        "--days", type=int, default=None, help="default: NEEDLECHECK_RETENTION_DAYS (365)"
    )

    erase = commands.add_parser("erase", help="delete everything about one person")
    erase.add_argument("--conversation", default=None, help="conversation (sender) id")
    erase.add_argument("--phone", default=None)
    erase.add_argument("--email", default=None)

    summary = commands.add_parser("overview", help="the Overview's summary of counts per day")
    summary.add_argument("action", choices=["rebuild"], help="recompute it from the records")

    keys = commands.add_parser("keys", help="the keys contact details are encrypted with")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("new", help="print a new key for NEEDLECHECK_DATA_KEYS")
    keys_commands.add_parser(
        "rotate", help="rewrite every encrypted value with the first key of NEEDLECHECK_DATA_KEYS"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "assess": _cmd_assess,
        "policy": _cmd_policy,
        "db": _cmd_db,
        "check": _cmd_check,
        "run": _cmd_run,
        "run-prod": _cmd_run_prod,
        "status": _cmd_status,
        "frontdesk": _cmd_frontdesk,
        "staff": _cmd_staff,
        "purge": _cmd_purge,
        "overview": _cmd_overview,
        "erase": _cmd_erase,
        "keys": _cmd_keys,
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
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.config import Settings
    from needlecheck.store.database import redacted_url
    from needlecheck.store.migrate import create_database, current_revision, upgrade

    settings = Settings.from_environment()
    try:
        if args.action == "create":
            created = create_database(settings.database_url)
            print(f"database {'created' if created else 'already there'}")
            return 0
        if args.action == "upgrade":
            upgrade(settings.database_url)
        print(f"database revision: {current_revision(settings.database_url)}")
    except (SQLAlchemyError, CommandError, OSError) as error:
        # A database that is down, refuses us, or is at a revision this code does not know:
        # said plainly; anything else is a bug and keeps its traceback.
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


def _cmd_run_prod(args: argparse.Namespace) -> int:
    from needlecheck.production.supervisor import run_production

    return _refuse_bad_configuration(lambda: run_production(model=args.model))


def _cmd_status(args: argparse.Namespace) -> int:
    from needlecheck.config import Settings
    from needlecheck.production.status import collect, report

    try:
        settings = Settings.from_environment()
    except ValueError as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    checks = collect(settings)
    print(report(checks))
    return 0 if all(check.ok for check in checks) else 1


def _cmd_frontdesk(args: argparse.Namespace) -> int:
    from needlecheck.frontdesk.server import main as serve

    serve()
    return 0


def _sessions():
    from needlecheck.config import Settings
    from needlecheck.store.database import create_db_engine, session_factory

    settings = Settings.from_environment()
    return settings, session_factory(create_db_engine(settings.database_url))


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("password: the two entries differ")
    return first


def _cmd_staff(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.store import staff
    from needlecheck.store.repository import InvalidRecord

    try:
        _, sessions = _sessions()
        if args.staff_command in ("add", "password"):
            password = _read_password(args.password_stdin)
        with sessions.begin() as session:
            if args.staff_command == "add":
                member = staff.add_staff(
                    session,
                    username=args.username,
                    display_name=args.name,
                    role=args.role,
                    password=password,
                )
                print(f"added {member.username} ({member.role})")
            elif args.staff_command == "password":
                staff.set_password(session, args.username, password)
                print(f"new password set for {args.username}; its sessions are signed out")
            elif args.staff_command in ("enable", "disable"):
                staff.set_active(session, args.username, args.staff_command == "enable")
                print(f"{args.username} {args.staff_command}d")
            else:
                for member in staff.list_staff(session):
                    state = "" if member.active else " (disabled)"
                    print(f"{member.username:<24} {member.role:<11} {member.display_name}{state}")
    except (InvalidRecord, LookupError, ValueError) as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except SQLAlchemyError as error:
        print(f"needlecheck: database: {error.__class__.__name__}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.frontdesk.server import run_purge

    try:
        settings, sessions = _sessions()
        days = args.days if args.days is not None else settings.retention_days
        if days < 1:
            print("needlecheck: --days must be 1 or more", file=sys.stderr)
            return EXIT_INVALID_INPUT
        deleted = run_purge(sessions, days)
    except (ValueError, SQLAlchemyError) as error:
        print(f"needlecheck: {error.__class__.__name__}: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print(f"deleted records older than {days} days: " + _counts(deleted))
    return 0


def _cmd_erase(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.store import privacy, tracker_events

    try:
        settings, sessions = _sessions()
        with sessions.begin() as session:
            deleted = privacy.erase_everywhere(
                session,
                privacy.Requester("command line"),
                settings.database_url,
                conversation_id=args.conversation,
                phone=args.phone,
                email=args.email,
            )
    except ValueError as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except tracker_events.TrackerStoreNotErased as error:
        print(f"needlecheck: nothing was erased: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except SQLAlchemyError as error:
        print(f"needlecheck: database: {error.__class__.__name__}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print("erased: " + _counts(deleted))
    return 0


def _cmd_overview(args: argparse.Namespace) -> int:
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.config import Settings
    from needlecheck.store.clinic_days import clinic_zone, zone_name
    from needlecheck.store.overview_summary import rebuild

    zone = clinic_zone(Settings.from_environment().timezone)
    began = time.perf_counter()
    try:
        _, sessions = _sessions()
        with sessions.begin() as session:
            built = rebuild(session, zone)
    except SQLAlchemyError as error:
        print(f"needlecheck: database: {error.__class__.__name__}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print(
        f"overview summary rebuilt for {zone_name(zone)}: {len(built.counts)} counts, "
        f"{len(built.waits)} waits in {time.perf_counter() - began:.1f} s"
    )
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.store.encryption import DataKeyError, UnreadableRecord, rotate_all
    from needlecheck.store.overview_summary import rebuild, summary_zone

    if args.keys_command == "new":
        print(Fernet.generate_key().decode())
        return 0
    try:
        _, sessions = _sessions()
        with sessions.begin() as session:
            rewritten = rotate_all(session)
            # Rekeyed conversations may now match: the Overview counts them again.
            zone = summary_zone(session)
            if zone is not None:
                rebuild(session, zone)
    except (DataKeyError, UnreadableRecord) as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except SQLAlchemyError as error:
        print(f"needlecheck: database: {error.__class__.__name__}", file=sys.stderr)
        return EXIT_CONFIGURATION
    print(f"rewritten with the first key: {rewritten} value(s)")
    return 0


def _counts(deleted: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}(s)" for kind, count in sorted(deleted.items())) or "nothing"


def _refuse_bad_configuration(start: Callable[[], int]) -> int:
    from needlecheck.startup import StartupError

    try:
        return start()
    except StartupError as error:
        print(f"needlecheck: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION


if __name__ == "__main__":
    sys.exit(main())
