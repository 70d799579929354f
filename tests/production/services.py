"""Stopping and starting the machine's real services for the fault tests, with the
commands this machine's services are started with. Every stop is paired with a start
in a `finally`, so a failing test leaves the service running."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _wait(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come back within {timeout:.0f} s")
        time.sleep(0.3)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def postgres_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0


def restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    try:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    finally:
        if not postgres_ready():
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )
        _wait(postgres_ready, "PostgreSQL")


def redis_ready() -> bool:
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"],
        check=False,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() == "PONG"


REDIS_START = [
    "redis-server",
    "--daemonize", "yes",
    "--bind", "127.0.0.1", "-::1",
    "--port", "6379",
    "--save", "",
    "--appendonly", "no",
    "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


@contextmanager
def redis_down() -> Iterator[None]:
    subprocess.run(
        ["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, capture_output=True
    )
    _wait(lambda: not redis_ready(), "Redis stopping", 20)
    try:
        yield
    finally:
        if not redis_ready():
            subprocess.run(REDIS_START, check=False, capture_output=True)
        _wait(redis_ready, "Redis")


@contextmanager
def rabbitmq_down() -> Iterator[None]:
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    try:
        yield
    finally:
        done = subprocess.run(
            ["rabbitmqctl", "start_app"], check=False, capture_output=True, timeout=120
        )
        if done.returncode != 0:
            # The node itself is gone: start it as the machine does.
            subprocess.run(["rabbitmq-server", "-detached"], check=False, capture_output=True)
        _wait(lambda: port_open(5672), "RabbitMQ", 120)
