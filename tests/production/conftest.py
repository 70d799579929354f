"""The production topology as `make run-prod` starts it, on its own ports, database,
Redis database and RabbitMQ queue, shared by the tests of this folder and stopped after
them. Needs PostgreSQL, Redis, RabbitMQ and HAProxy (`make test` installs HAProxy)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.production.services import port_open
from tests.production.support import REST_TOKEN, get_json

ROOT = Path(__file__).parents[2]
MODEL = ROOT / "models" / "needlecheck.tar.gz"
BIN = Path(sys.executable).with_name("needlecheck")
SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "needlecheck_test_production"
BALANCER, RASA, ACTIONS, FRONTDESK = 5195, (5196, 5197), (5156, 5157), 8195
ACTION_BALANCER, STATS = 5155, 5295
TOKEN = "production-test-token"
ACTION_SECRET = "production-test-action-secret"


def recreate_database() -> None:
    engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    engine.dispose()


def ready(port: int) -> bool:
    try:
        status, _ = get_json(f"http://127.0.0.1:{port}/webhooks/health/ready", timeout=2)
    except OSError:
        return False
    return status == 200


def wait_until(check, what: str, timeout: float = 240) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def pids(pattern: str) -> list[int]:
    done = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(pid) for pid in done.stdout.split()]


@pytest.fixture(scope="package")
def production(tmp_path_factory) -> Iterator[dict]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make model` first")
    busy = [
        p for p in (BALANCER, *RASA, *ACTIONS, ACTION_BALANCER, FRONTDESK, STATS) if port_open(p)
    ]
    if busy:
        pytest.fail(f"ports in use: {busy}")
    recreate_database()
    var = tmp_path_factory.mktemp("production")
    url = f"{SERVER}/{DATABASE}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEEDLECHECK_")},
        "NEEDLECHECK_VAR_DIR": str(var),
        "DATABASE_URL": url,
        "NEEDLECHECK_RASA_PORT": str(BALANCER),
        "NEEDLECHECK_ACTION_PORT": str(ACTION_BALANCER),
        "NEEDLECHECK_FRONTDESK_PORT": str(FRONTDESK),
        "NEEDLECHECK_API_TOKEN": TOKEN,
        "NEEDLECHECK_ACTION_SECRET": ACTION_SECRET,
        "NEEDLECHECK_REDIS_URL": "redis://127.0.0.1:6379/5",
        "NEEDLECHECK_EVENTS_EXCHANGE": "needlecheck-test-events",
        "NEEDLECHECK_EVENTS_QUEUE": "needlecheck_test_frontdesk",
        "NEEDLECHECK_RESTART_DELAY": "4",
        "NEEDLECHECK_REST_TOKEN": REST_TOKEN,
        "NEEDLECHECK_DATA_KEYS": os.environ["NEEDLECHECK_DATA_KEYS"],
        # Every test message comes from 127.0.0.1 through the load balancer.
        "NEEDLECHECK_ADDRESS_RATE": "0/60",
    }
    subprocess.run([str(BIN), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    log_path = var / "run-prod.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(BIN), "run-prod", "--model", str(MODEL)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    while "is ready" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() - started > 420:
            # A run-prod that refused to start has no group left to kill; its log says why.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("run-prod did not start:\n" + log_path.read_text()[-4000:])
        time.sleep(1)
    info = {
        "process": process,
        "env": env,
        "var": var,
        "db": url,
        "log": log_path,
        "token": TOKEN,
        "balancer": BALANCER,
        "rasa": RASA,
        "actions": ACTIONS,
        "frontdesk": FRONTDESK,
        "ready_after": time.monotonic() - started,
    }
    yield info
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    log.close()


def balancer_all_up() -> bool:
    """HAProxy's own view: every server of every backend passes its health check."""
    import csv
    import io
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{STATS}/stats;csv", timeout=2) as reply:
            rows = list(csv.DictReader(io.StringIO(reply.read().decode().lstrip("# "))))
    except OSError:
        return False
    servers = [row for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")]
    return bool(servers) and all(row["status"].startswith("UP") for row in servers)


def all_ready() -> bool:
    return (
        all(ready(port) for port in RASA)
        and all(port_open(port) for port in (*ACTIONS, FRONTDESK))
        and balancer_all_up()
    )


@pytest.fixture
def healthy(production) -> dict:
    """The topology with every process up (a fault test before may have restarted some)."""
    wait_until(all_ready, "every process ready", 300)
    return production


def screenings(db: str, sender: str) -> list[tuple[str | None, str | None]]:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT outcome, idempotency_key FROM screenings "
                    "WHERE conversation_id = :sender ORDER BY id"
                ),
                {"sender": sender},
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]
