"""Start-up checks and the development supervisor behind `make run`.

A configuration mistake (a bad policy file, an unmigrated database) stops start-up with a
message naming it, before any person talks to the assistant.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from needlecheck.channels.settings import ChannelConfigError, enabled_channels, write_credentials
from needlecheck.config import (
    API_TOKEN_FILE,
    DEFAULT_ACTION_PORT,
    Settings,
    action_secret,
    api_token,
    log_level,
    shared_secret,
)
from needlecheck.security.tokens import health_request


class StartupError(RuntimeError):
    """The assistant must not start; the message says why and what to do."""


def check_startup(settings: Settings | None = None) -> list[str]:
    """Validate policy and database; return a line per checked item."""
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.config import alert_settings, log_level
    from needlecheck.screening import PolicyError, load_policy
    from needlecheck.security.ratelimit import address_rate, sender_rate, trusted_proxies
    from needlecheck.store.database import redacted_url
    from needlecheck.store.migrate import current_revision, head_revision
    from needlecheck.text import max_body_bytes, max_message_length

    try:
        settings = settings or Settings.from_environment()
        for check in (
            log_level,
            max_message_length,
            max_body_bytes,
            sender_rate,
            address_rate,
            trusted_proxies,
            alert_settings,
        ):
            check()
    except ValueError as error:
        raise StartupError(str(error)) from None
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as error:
        raise StartupError(f"policy: {error}") from None
    try:
        revision = current_revision(settings.database_url)
    except SQLAlchemyError as error:
        raise StartupError(
            f"database is not reachable: {error.__class__.__name__}: {error.orig or error}"
        ) from None
    head = head_revision()
    if revision != head:
        raise StartupError(
            f"database schema is at {revision or 'nothing'}, the code needs {head}: "
            "run 'needlecheck db upgrade'"
        )
    try:
        channels = enabled_channels()
    except ChannelConfigError as error:
        raise StartupError(str(error)) from None
    from needlecheck.store.encryption import DataKeyError, load_keys

    try:
        keys = load_keys(settings.var_dir)
    except DataKeyError as error:
        raise StartupError(str(error)) from None
    return [
        f"policy: {policy.name} (version {policy.version}), {len(policy.rules)} rules",
        f"database: {redacted_url(settings.database_url)} at schema {revision}",
        f"messaging channels: {', '.join(channels) if channels else 'none configured'}",
        f"contact details: encrypted at rest, {len(keys)} key(s)",
        "staff alerts: front desk"
        + "".join(f", {channel}" for channel in alert_settings().channels),
    ]


def child_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    # A health product sends nothing to third parties, and start-up must not need the network.
    env["RASA_TELEMETRY_ENABLED"] = "false"
    # Rasa reads its level from LOG_LEVEL; needlecheck.security.logs scrubs every level.
    try:
        env["LOG_LEVEL"] = log_level(env)
    except ValueError as error:
        raise StartupError(str(error)) from None
    if env["LOG_LEVEL"] == "DEBUG":
        env["LOG_LEVEL_LIBRARIES"] = "DEBUG"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Rasa sends it to the action server (endpoints.yml), which refuses requests without it.
    env["NEEDLECHECK_ACTION_SECRET"] = action_secret(settings.var_dir)
    # Rasa's HTTP API never runs open: the Rasa server requires it, and the front desk's
    # erasure and the ready check send it.
    env["NEEDLECHECK_API_TOKEN"] = api_token(settings.var_dir)
    return env


def rasa_server_command(
    settings: Settings,
    model: str,
    *,
    port: int | None = None,
    interface: str | None = None,
    endpoints: str = "endpoints.yml",
) -> list[str]:
    """The Rasa server's command line: `make run`'s, or one production instance's."""
    command = [
        sys.executable,
        "-m",
        "needlecheck.rasa_server",
        "run",
        "--enable-api",
        "--model",
        model,
        "--interface",
        interface or settings.host,
        "--port",
        str(port or settings.rasa_port),
        "--credentials",
        str(credentials_file(settings)),
        "--endpoints",
        endpoints,
    ]
    # The API token and JWT secret reach the server through its environment
    # (needlecheck.security.rasa_guard): a command line is readable by anyone in `ps`.
    from needlecheck.security.rasa_guard import UnsafeServerConfig, api_credentials, check_exposure

    try:
        check_exposure(interface or settings.host, *api_credentials(settings.api_token, None))
    except UnsafeServerConfig as error:
        raise StartupError(str(error)) from None
    return command


def credentials_file(settings: Settings) -> Path:
    """Where `make run` writes Rasa's credentials: credentials.yml plus the messaging
    channels switched on by the environment (names only; secrets stay in the environment)."""
    return settings.var_dir / "credentials.yml"


def action_server_command() -> list[str]:
    return [sys.executable, "-m", "needlecheck.action_server"]


def frontdesk_command() -> list[str]:
    return [sys.executable, "-m", "needlecheck.frontdesk.server"]


def run_servers(model: str = "models", ready_timeout: float = 600.0) -> int:
    """Start the Rasa server, the action server and the front desk; stay until Ctrl-C."""
    settings = Settings.from_environment()
    env = child_environment(settings)
    # Generated into var/ when the environment has none (child_environment).
    settings = dataclasses.replace(settings, api_token=env["NEEDLECHECK_API_TOKEN"])
    source = Path("credentials.yml")
    if not source.exists():
        raise StartupError("credentials.yml is not in this folder: run from the project's root")
    try:
        write_credentials(source, credentials_file(settings))
    except ChannelConfigError as error:
        raise StartupError(str(error)) from None
    # Made before the servers start, so that the Rasa server and the front desk read one.
    shared_secret(settings.var_dir)
    # The Rasa server needs neither the policy nor the screening database, and spends
    # ~5 s importing and loading its model: it starts while the checks run, and is
    # stopped again if they fail.
    rasa_server = subprocess.Popen(rasa_server_command(settings, model), env=env)
    try:
        for line in check_startup(settings):
            print(f"needlecheck: {line}", flush=True)
    except BaseException:
        _stop([rasa_server])
        raise
    stopping = threading.Event()
    # Explicit handlers: a shell that starts us in the background leaves SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    children = [
        subprocess.Popen(action_server_command(), env=env),
        rasa_server,
        subprocess.Popen(frontdesk_command(), env=env),
    ]
    try:
        if not _wait_until_ready(
            settings, children, ready_timeout, stopping, env["NEEDLECHECK_ACTION_SECRET"]
        ):
            return 0
        print(ready_message(settings), flush=True)
        while not stopping.is_set():
            exited = [child for child in children if child.poll() is not None]
            if exited:
                print(f"needlecheck: {' '.join(exited[0].args[:3])} stopped", file=sys.stderr)
                return exited[0].returncode or 1
            stopping.wait(0.5)
        return 0
    finally:
        _stop(children)


def ready_message(settings: Settings) -> str:
    base = f"http://localhost:{settings.rasa_port}"
    desk = f"http://localhost:{settings.frontdesk_port}"
    api = (
        "(needs ?token=$NEEDLECHECK_API_TOKEN)"
        if os.environ.get("NEEDLECHECK_API_TOKEN")
        else f"(needs ?token=$(cat {settings.var_dir / API_TOKEN_FILE}))"
    )
    return (
        "\nneedlecheck is ready.\n"
        f"  REST channel:      POST {base}/webhooks/rest/webhook "
        '{"sender": "me", "message": "hi"}\n'
        f"  socket.io channel: {base}/socket.io\n"
        f"  chat widget:       {desk}/widget.js (demo page: {desk}/demo)\n"
        f"  HTTP API:          {base}/ {api}\n"
        f"  action server:     http://localhost:{DEFAULT_ACTION_PORT}/health (needs the action secret)\n"
        f"  front desk:        {desk}/ "
        "(accounts: needlecheck staff add)\n"
        "Press Ctrl-C to stop.\n"
    )


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


def _wait_until_ready(
    settings: Settings,
    children: list[subprocess.Popen],
    timeout: float,
    stopping: threading.Event,
    secret: str,
) -> bool:
    """Wait for the three servers to answer; False when asked to stop first."""
    deadline = time.monotonic() + timeout
    token = f"?token={settings.api_token}" if settings.api_token else ""
    # /status answers only once the model is loaded, unlike / which answers at once.
    urls: list[str | urllib.request.Request] = [
        health_request(f"http://127.0.0.1:{DEFAULT_ACTION_PORT}/health", secret),
        f"http://127.0.0.1:{settings.frontdesk_port}/healthz",
        f"http://127.0.0.1:{settings.rasa_port}/status{token}",
    ]
    pending = list(urls)
    while pending:
        if stopping.is_set():
            return False
        if any(child.poll() is not None for child in children):
            raise StartupError("a server exited during start-up; see its output above")
        if time.monotonic() > deadline:
            waiting = [url if isinstance(url, str) else url.full_url for url in pending]
            raise StartupError(f"not ready after {timeout:.0f} s: {', '.join(waiting)}")
        try:
            with urllib.request.urlopen(pending[0], timeout=2):
                pending.pop(0)
        except (urllib.error.URLError, OSError):
            stopping.wait(0.2)
    return True
