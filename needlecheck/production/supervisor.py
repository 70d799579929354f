"""`needlecheck run-prod` (`make run-prod`): the production topology on one machine.

Two Rasa instances on the SQL tracker store (PostgreSQL), the atomic Redis lock store and
the Pika event broker (RabbitMQ); two action servers; HAProxy in front of each pair; the
front desk consuming the events. A process that exits is started again after
NEEDLECHECK_RESTART_DELAY seconds, as a container orchestrator would; the load balancer
sends nothing to it until its readiness check passes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from needlecheck.config import Settings, shared_secret
from needlecheck.production.topology import (
    ENDPOINTS,
    HAPROXY_CONFIG,
    Topology,
    instance_environment,
    production_environment,
)
from needlecheck.security.tokens import health_request
from needlecheck.startup import (
    StartupError,
    check_startup,
    credentials_file,
    rasa_server_command,
)

READY_PATH = "/webhooks/health/ready"


def refusals(settings: Settings, environ: dict[str, str] | None = None) -> list[str]:
    """What stops the production profile from starting, each with what to set."""
    env = os.environ if environ is None else environ
    problems = []
    if not settings.api_token and not env.get("NEEDLECHECK_JWT_SECRET"):
        problems.append(
            "NEEDLECHECK_API_TOKEN (or NEEDLECHECK_JWT_SECRET) is not set: Rasa's HTTP API, "
            "which reads and rewrites conversations, would be open to anyone"
        )
    if not settings.action_secret:
        problems.append(
            "NEEDLECHECK_ACTION_SECRET is not set: the action servers would run actions "
            "(and store screenings) for anyone who reaches them"
        )
    if not env.get("NEEDLECHECK_DATA_KEYS"):
        problems.append(
            "NEEDLECHECK_DATA_KEYS is not set: contact details are kept encrypted with a key "
            "from the environment ('needlecheck keys new' makes one)"
        )
    for name, url in (
        ("DATABASE_URL", settings.database_url),
        ("NEEDLECHECK_TRACKER_STORE_URL", settings.tracker_store_url or settings.database_url),
    ):
        if not url.startswith("postgresql"):
            problems.append(
                f"{name} must be a PostgreSQL URL (postgresql://user@host:5432/db): a SQLite "
                "file cannot be shared by several instances"
            )
    return problems


def check_services(settings: Settings) -> list[str]:
    """Redis, RabbitMQ and HAProxy, before anything starts; a line per service."""
    import redis

    lines = []
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise StartupError(
            "HAProxy is not installed: `make run-prod` installs Debian's haproxy package"
        )
    lines.append(f"load balancer: {haproxy}")
    parsed = urlparse(settings.redis_url)
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
    except Exception as error:
        raise StartupError(
            f"Redis at {parsed.hostname}:{parsed.port or 6379} does not answer "
            f"({error.__class__.__name__}): the lock store needs it"
        ) from None
    lines.append(f"lock store: Redis at {parsed.hostname}:{parsed.port or 6379}")
    env = production_environment(settings, Topology.from_settings(settings))
    host, port = env["NEEDLECHECK_RABBITMQ_HOST"], int(env["NEEDLECHECK_RABBITMQ_PORT"])
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as error:
        raise StartupError(
            f"RabbitMQ at {host}:{port} does not answer ({error.__class__.__name__}): "
            "the event broker needs it"
        ) from None
    lines.append(f"event broker: RabbitMQ at {host}:{port}")
    return lines


@dataclass
class Child:
    name: str
    command: list[str]
    ready_url: str | urllib.request.Request
    process: subprocess.Popen | None = None
    restarts: int = 0
    restart_at: float | None = None
    # Variables for this process only, over the shared environment.
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.command, env={**env, **self.extra_env})
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def children(settings: Settings, topology: Topology, model: str) -> list[Child]:
    python = sys.executable
    result = []
    for number, port in enumerate(topology.action_ports, start=1):
        result.append(
            Child(
                f"actions{number}",
                [python, "-m", "needlecheck.action_server", "--port", str(port)],
                health_request(topology.url(port, "/health"), settings.action_secret),
            )
        )
    for number, port in enumerate(topology.rasa_ports, start=1):
        command = rasa_server_command(
            settings, model, port=port, interface="127.0.0.1", endpoints=str(ENDPOINTS)
        )
        result.append(
            Child(
                f"rasa{number}",
                command,
                topology.url(port, READY_PATH),
                extra_env=instance_environment(os.environ.get("NEEDLECHECK_TRUSTED_PROXIES")),
            )
        )
    result.append(
        Child(
            "frontdesk",
            [python, "-m", "needlecheck.frontdesk.server"],
            topology.url(topology.frontdesk_port, "/healthz"),
        )
    )
    result.append(
        Child(
            "haproxy",
            ["haproxy", "-W", "-db", "-f", str(HAPROXY_CONFIG)],
            topology.url(topology.stats_port, "/healthz"),
        )
    )
    return result


def answers(url: str | urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def restart_delay(environ: dict[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    raw = env.get("NEEDLECHECK_RESTART_DELAY") or "2"
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 600:
        raise StartupError(f"NEEDLECHECK_RESTART_DELAY={raw!r} is not a number of seconds (0-600)")
    return value


def run_production(model: str = "models", ready_timeout: float = 600.0) -> int:
    from needlecheck.channels.settings import ChannelConfigError, write_credentials
    from needlecheck.startup import child_environment

    try:
        settings = Settings.from_environment()
    except ValueError as error:
        raise StartupError(str(error)) from None
    problems = refusals(settings)
    if problems:
        raise StartupError("the production profile does not start:\n  - " + "\n  - ".join(problems))
    delay = restart_delay()
    for path in (Path("credentials.yml"), ENDPOINTS, HAPROXY_CONFIG):
        if not path.exists():
            raise StartupError(f"{path} is not here: run from the project's root")
    topology = Topology.from_settings(settings)
    for line in [*check_startup(settings), *check_services(settings)]:
        print(f"needlecheck: {line}", flush=True)
    try:
        write_credentials(Path("credentials.yml"), credentials_file(settings), production=True)
    except ChannelConfigError as error:
        raise StartupError(str(error)) from None
    shared_secret(settings.var_dir)
    topology.save(settings.var_dir)
    env = {**child_environment(settings), **production_environment(settings, topology)}
    processes = children(settings, topology, model)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    for child in processes:
        child.start(env)
    try:
        deadline = time.monotonic() + ready_timeout
        pending = list(processes)
        while pending:
            if stopping.is_set():
                return 0
            exited = [child.name for child in processes if not child.running()]
            if exited:
                raise StartupError(f"{', '.join(exited)} exited during start-up; see above")
            if time.monotonic() > deadline:
                raise StartupError(
                    f"not ready after {ready_timeout:.0f} s: "
                    + ", ".join(child.name for child in pending)
                )
            pending = [child for child in pending if not answers(child.ready_url)]
            stopping.wait(0.5)
        while not answers(topology.url(topology.balancer_port, READY_PATH)):
            if stopping.wait(0.5) or time.monotonic() > deadline:
                raise StartupError("the load balancer does not reach a ready Rasa instance")
        print(ready_message(settings, topology), flush=True)
        supervise(processes, env, delay, stopping)
        return 0
    finally:
        stop(processes)


def supervise(
    processes: list[Child], env: dict[str, str], delay: float, stopping: threading.Event
) -> None:
    while not stopping.is_set():
        now = time.monotonic()
        for child in processes:
            if child.running():
                continue
            if child.restart_at is None:
                code = child.process.returncode if child.process else None
                print(
                    f"needlecheck: {child.name} exited ({code}); starting it again in {delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                child.restart_at = now + delay
            elif now >= child.restart_at:
                child.restarts += 1
                child.start(env)
        stopping.wait(0.25)


def stop(processes: list[Child]) -> None:
    running = [child.process for child in processes if child.running()]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def ready_message(settings: Settings, topology: Topology) -> str:
    lb = f"http://localhost:{topology.balancer_port}"
    desk = f"http://localhost:{topology.frontdesk_port}"
    rasa = ", ".join(str(port) for port in topology.rasa_ports)
    actions = ", ".join(str(port) for port in topology.action_ports)
    return (
        "\nneedlecheck (production profile) is ready.\n"
        f"  load balancer:   {lb} (Rasa instances on {rasa}; readiness {READY_PATH})\n"
        f"  action servers:  http://127.0.0.1:{topology.action_balancer_port} "
        f"(servers on {actions})\n"
        f"  front desk:      {desk}/ (chat widget {desk}/widget.js)\n"
        f"  HAProxy stats:   http://127.0.0.1:{topology.stats_port}/stats\n"
        "  status:          needlecheck status\n"
        "Press Ctrl-C to stop.\n"
    )
