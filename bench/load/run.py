"""`make load`: Locust drives whole screening conversations at 20, 50 and 100 at once,
against one instance (`needlecheck run`: SQLite, Rasa's in-memory stores) and against
the production topology (`needlecheck run-prod`), on localhost only. Prints a table of
messages/s, latency percentiles, errors, resident memory per process and the stored
screenings checked against the finished conversations (none lost, none doubled).

    python -m bench.load.run [--seconds 40] [--users 20,50,100] [--only one|production]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
from cryptography.fernet import Fernet
from sqlalchemy import bindparam, create_engine, text

from needlecheck.security.tokens import health_request

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "needlecheck.tar.gz"
WORK = ROOT / "var" / "load"
PG = "postgresql://postgres@127.0.0.1:5432"
ONE = {"port": 5305, "frontdesk": 8305}
PROD = {"port": 5405, "actions": 5455, "frontdesk": 8405, "database": "needlecheck_load"}


def wait_ready(
    url: str | urllib.request.Request, process: subprocess.Popen, timeout: float = 420
) -> float:
    started = time.monotonic()
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the assistant exited during start-up (see {WORK})")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise SystemExit(f"not ready after {timeout:.0f} s: {getattr(url, 'full_url', url)}")
        time.sleep(0.5)


LOAD_REST_TOKEN = "load-test-rest-token"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLECHECK_")}
    env.pop("DATABASE_URL", None)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    # Every simulated person comes from 127.0.0.1: the per-address budget is off here, the
    # per-sender one stays; production's REST channel needs its token.
    env["NEEDLECHECK_ADDRESS_RATE"] = "0/60"
    env["NEEDLECHECK_REST_TOKEN"] = LOAD_REST_TOKEN
    return env


def launch(name: str, command: str, env: dict[str, str]) -> subprocess.Popen:
    """`needlecheck db upgrade`, then `needlecheck <command>` in the background."""
    var = Path(env["NEEDLECHECK_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    needlecheck = str(BIN / "needlecheck")
    subprocess.run(
        [needlecheck, "db", "upgrade"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return subprocess.Popen(
        [needlecheck, command, "--model", str(MODEL)],
        cwd=ROOT,
        env=env,
        stdout=(var / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_one() -> tuple[subprocess.Popen, str, str, float]:
    var = WORK / "one"
    (var / "needlecheck.db").unlink(missing_ok=True)
    env = {
        **clean_env(),
        "NEEDLECHECK_VAR_DIR": str(var),
        "NEEDLECHECK_RASA_PORT": str(ONE["port"]),
        "NEEDLECHECK_FRONTDESK_PORT": str(ONE["frontdesk"]),
        "NEEDLECHECK_ACTION_SECRET": "load-test-action-secret",
    }
    process = launch("run", "run", env)
    ready = wait_ready(f"http://127.0.0.1:{ONE['port']}/webhooks/health/ready", process)
    wait_ready(health_request("http://127.0.0.1:5055/health", "load-test-action-secret"), process)
    return process, f"http://127.0.0.1:{ONE['port']}", f"sqlite:///{var / 'needlecheck.db'}", ready


def start_production() -> tuple[subprocess.Popen, str, str, float]:
    url = f"{PG}/{PROD['database']}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {PROD['database']} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {PROD['database']}"))
    admin.dispose()
    env = {
        **clean_env(),
        "NEEDLECHECK_VAR_DIR": str(WORK / "production"),
        "DATABASE_URL": url,
        "NEEDLECHECK_RASA_PORT": str(PROD["port"]),
        "NEEDLECHECK_ACTION_PORT": str(PROD["actions"]),
        "NEEDLECHECK_FRONTDESK_PORT": str(PROD["frontdesk"]),
        "NEEDLECHECK_API_TOKEN": "load-test-token",
        "NEEDLECHECK_DATA_KEYS": Fernet.generate_key().decode(),
        "NEEDLECHECK_ACTION_SECRET": "load-test-action-secret",
        "NEEDLECHECK_REDIS_URL": "redis://127.0.0.1:6379/7",
        "NEEDLECHECK_EVENTS_EXCHANGE": "needlecheck-load-events",
        "NEEDLECHECK_EVENTS_QUEUE": "needlecheck_load_frontdesk",
    }
    process = launch("run-prod", "run-prod", env)
    ready = wait_ready(f"http://127.0.0.1:{PROD['port']}/webhooks/health/ready", process)
    return process, f"http://127.0.0.1:{PROD['port']}", url, ready


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def memory(process: subprocess.Popen) -> dict[str, float]:
    """Resident memory (MiB) of each server process under the supervisor."""
    sizes: dict[str, float] = {}
    names = Counter()
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            rss = child.memory_info().rss / 2**20
        except psutil.Error:
            continue
        for marker, label in (
            ("needlecheck.rasa_server", "Rasa"),
            ("needlecheck.action_server", "actions"),
            ("needlecheck.frontdesk", "front desk"),
            ("haproxy", "HAProxy"),
        ):
            if marker in line:
                names[label] += 1
                sizes[f"{label} {names[label]}"] = rss
    return sizes


def locust(host: str, users: int, seconds: int, label: str) -> dict[str, float]:
    # Stopped at the time limit, not after the conversations in progress: messages/s is
    # then over the time every simulated person was talking. A conversation cut off is
    # not in the ledger, so the screening check counts finished ones only.
    prefix = WORK / f"{label}-{users}"
    ledger = Path(f"{prefix}.ledger")
    ledger.unlink(missing_ok=True)
    env = {
        **os.environ,
        "NEEDLECHECK_LOAD_LEDGER": str(ledger),
        "NEEDLECHECK_REST_TOKEN": LOAD_REST_TOKEN,
    }
    subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            str(ROOT / "bench" / "load" / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        check=False,
        timeout=seconds + 120,
    )
    with open(f"{prefix}_stats.csv") as file:
        row = next(r for r in csv.DictReader(file) if r["Name"] == "Aggregated")
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "ledger": str(ledger),
    }


def check_screenings(db: str, ledger: Path) -> dict[str, int]:
    """Finished conversations against stored screenings: lost, doubled and wrong ones."""
    finished = (
        [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    )
    # Looked up by the ledger's own senders, not by a prefix that could drift from the
    # locustfile's (it did: "load-" here against "load." there counted every one lost).
    senders = sorted({item["sender"] for item in finished})
    engine = create_engine(db)
    rows = []
    with engine.connect() as connection:
        for start in range(0, len(senders), 500):
            rows += connection.execute(
                text(
                    "SELECT conversation_id, outcome FROM screenings WHERE conversation_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": senders[start : start + 500]},
            ).all()
    engine.dispose()
    stored: dict[str, list[str]] = {}
    for conversation, outcome in rows:
        stored.setdefault(conversation, []).append(outcome)
    result = Counter(conversations=len(finished))
    for item in finished:
        got = stored.get(item["sender"], [])
        if len(got) < item["stored"]:
            result["lost"] += 1
        elif len(got) > item["stored"]:
            result["doubled"] += 1
        elif got and got[0] != item["outcome"]:
            result["wrong"] += 1
    return dict(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.run")
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--users", default="20,50,100")
    parser.add_argument("--only", choices=["one", "production"])
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= 600:
        parser.error("--seconds must be between 5 and 600")
    levels = [int(n) for n in args.users.split(",")]
    if any(not 1 <= n <= 200 for n in levels):
        parser.error("--users: 1 to 200 conversations at once")
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, starter in (("one", start_one), ("production", start_production)):
        if args.only and args.only != label:
            continue
        process, host, db, ready = starter()
        print(f"{label}: ready in {ready:.0f} s", flush=True)
        try:
            for users in levels:
                stats = locust(host, users, args.seconds, label)
                rss = memory(process)
                checked = check_screenings(db, Path(stats["ledger"]))
                rows.append((label, users, stats, rss, checked))
                print(
                    json.dumps(
                        {
                            "topology": label,
                            "users": users,
                            **stats,
                            **checked,
                            "rss_mib": {k: round(v) for k, v in rss.items()},
                        }
                    ),
                    flush=True,
                )
        finally:
            stop(process)
    print(table(rows))
    problems = problems_in(rows)
    for problem in problems:
        print(f"load: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def problems_in(rows) -> list[str]:
    """What makes a run a failure rather than a slow result: errors, nothing finished,
    or a screening lost, doubled or wrong."""
    problems = []
    for label, users, stats, _, checked in rows:
        where = f"{label}, {users} conversations"
        if stats.get("failures"):
            problems.append(f"{where}: {stats['failures']} of {stats['requests']} messages failed")
        if not checked.get("conversations"):
            problems.append(f"{where}: no conversation finished")
        for kind in ("lost", "doubled", "wrong"):
            if checked.get(kind):
                problems.append(f"{where}: {checked[kind]} {kind} screening(s)")
    return problems


def table(rows) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{cpu}, Python {platform.python_version()}; Locust in the same machine.",
        "",
        "| topology | conversations at once | messages/s | p50 ms | p95 ms | p99 ms | errors "
        "| finished conversations | lost / doubled screenings | resident memory (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, users, stats, rss, checked in rows:
        memory_text = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
        lines.append(
            f"| {'one instance' if label == 'one' else 'production (2+2)'} | {users} "
            f"| {stats['rps']:.1f} | {stats['p50']:.0f} | {stats['p95']:.0f} | {stats['p99']:.0f} "
            f"| {stats['failures']} of {stats['requests']} | {checked.get('conversations', 0)} "
            f"| {checked.get('lost', 0)} / {checked.get('doubled', 0)} | {memory_text} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
