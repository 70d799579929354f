"""`needlecheck status`: the state of every component, one line each; exit status 1 when
any is down. Reads the ports of a running production profile from var/topology.json, or
else checks the `make run` layout."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from needlecheck.config import ACTION_SECRET_FILE, DEFAULT_ACTION_PORT, Settings, kept_api_token
from needlecheck.production.topology import DEFAULT_RABBITMQ_URL, Topology
from needlecheck.security.tokens import health_request

TIMEOUT = 3.0


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str


def _get(url: str | urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return 0, f"not reachable ({reason.__class__.__name__})"


def _http(component: str, url: str | urllib.request.Request) -> Check:
    status, body = _get(url)
    if status == 0:
        return Check(component, False, body)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("checks"), dict):
        detail = ", ".join(f"{name} {state}" for name, state in data["checks"].items())
    elif isinstance(data, dict) and isinstance(data.get("events"), dict):
        detail = f"events {data['events'].get('state')}"
    else:
        detail = f"HTTP {status}"
    return Check(component, status == 200, detail)


def _database(component: str, url: str) -> Check:
    from sqlalchemy import create_engine, text

    from needlecheck.store.database import redacted_url

    engine = create_engine(url, future=True, connect_args=_connect_timeout(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return Check(component, False, f"{redacted_url(url)}: down ({error.__class__.__name__})")
    finally:
        engine.dispose()
    return Check(component, True, redacted_url(url))


def _alerts(url: str) -> Check:
    """The staff alerts' outbox: a backlog or a failed send means staff are not being told."""
    from datetime import datetime, timezone

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from needlecheck.store.alerts import outbox_health

    component = "staff alerts"
    engine = create_engine(url, future=True, connect_args=_connect_timeout(url))
    try:
        with Session(engine) as session:
            health = outbox_health(session)
    except Exception as error:
        return Check(component, False, f"not readable ({error.__class__.__name__})")
    finally:
        engine.dispose()
    if health.stale(datetime.now(timezone.utc)):
        return Check(component, False, f"BEHIND: {health.describe()}")
    return Check(component, True, health.describe())


def _connect_timeout(url: str) -> dict[str, int]:
    return {"connect_timeout": 3} if url.startswith("postgresql") else {}


def _redis(url: str) -> Check:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT).ping()
    except Exception as error:
        return Check("lock store (Redis)", False, f"down ({error.__class__.__name__})")
    return Check("lock store (Redis)", True, url.split("@")[-1])


def _rabbitmq(url: str, queue_name: str) -> Check:
    async def probe() -> int | None:
        import aio_pika

        connection = await aio_pika.connect(url, timeout=TIMEOUT)
        async with connection:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return None
            return queue.declaration_result.message_count

    try:
        waiting = asyncio.run(asyncio.wait_for(probe(), TIMEOUT * 2))
    except Exception as error:
        return Check("event broker (RabbitMQ)", False, f"down ({error.__class__.__name__})")
    if waiting is None:
        return Check("event broker (RabbitMQ)", True, f"up; queue {queue_name} not declared yet")
    return Check("event broker (RabbitMQ)", True, f"{waiting} event(s) waiting for the front desk")


def _balancer(topology: Topology) -> list[Check]:
    status, body = _get(topology.url(topology.stats_port, "/stats;csv"))
    if status != 200:
        return [Check("load balancer (HAProxy)", False, body if status == 0 else f"HTTP {status}")]
    checks = []
    for row in csv.DictReader(io.StringIO(body.lstrip("# "))):
        if row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        state = row.get("status", "")
        checks.append(
            Check(f"  {row.get('pxname')}/{row.get('svname')}", state.startswith("UP"), state)
        )
    return [Check("load balancer (HAProxy)", True, "answering"), *checks]


def _action_secret(settings: Settings) -> str | None:
    """The secret `make run` uses: from the environment, or the one it generated."""
    if settings.action_secret:
        return settings.action_secret
    path = settings.var_dir / ACTION_SECRET_FILE
    return path.read_text().strip() if path.exists() else None


def _api(base: str, token: str | None) -> Check:
    """Rasa's HTTP API: it must answer with the token and refuse without it."""
    component = "Rasa HTTP API"
    if not token:
        return Check(component, False, "no token: set NEEDLECHECK_API_TOKEN or run `make run`")
    open_status, _ = _get(f"{base}/status")
    if open_status == 200:
        return Check(component, False, "OPEN: it answers without a token")
    status, body = _get(f"{base}/status?{urllib.parse.urlencode({'token': token})}")
    if status == 0:
        return Check(component, False, body)
    if status in (401, 403):
        return Check(component, False, f"HTTP {status}: the token is not the server's")
    return Check(component, status == 200, f"HTTP {status}, token required")


def collect(settings: Settings) -> list[Check]:
    topology = Topology.load(settings.var_dir)
    checks = [_database("screening database", settings.database_url)]
    if checks[0].ok:
        checks.append(_alerts(settings.database_url))
    if topology is None:
        checks += [
            _http("Rasa server", f"http://127.0.0.1:{settings.rasa_port}/webhooks/health/ready"),
            _api(f"http://127.0.0.1:{settings.rasa_port}", kept_api_token(settings)),
            _http(
                "action server",
                health_request(
                    f"http://127.0.0.1:{DEFAULT_ACTION_PORT}/health", _action_secret(settings)
                ),
            ),
            _http("front desk", f"http://127.0.0.1:{settings.frontdesk_port}/healthz"),
        ]
        return checks
    checks.append(_database("tracker store", settings.tracker_store_url or settings.database_url))
    checks.append(_redis(settings.redis_url))
    checks.append(_rabbitmq(settings.rabbitmq_url or DEFAULT_RABBITMQ_URL, settings.events_queue))
    checks += _balancer(topology)
    checks.append(
        _http(
            "assistant via load balancer",
            topology.url(topology.balancer_port, "/webhooks/health/ready"),
        )
    )
    for number, port in enumerate(topology.rasa_ports, start=1):
        checks.append(
            _http(f"Rasa instance {number} (:{port})", topology.url(port, "/webhooks/health/ready"))
        )
    for number, port in enumerate(topology.action_ports, start=1):
        checks.append(
            _http(
                f"action server {number} (:{port})",
                health_request(topology.url(port, "/health"), settings.action_secret),
            )
        )
    checks.append(_http("front desk", topology.url(topology.frontdesk_port, "/healthz")))
    return checks


def report(checks: list[Check]) -> str:
    width = max(len(check.component) for check in checks)
    return "\n".join(
        f"{'ok  ' if check.ok else 'DOWN'}  {check.component:<{width}}  {check.detail}"
        for check in checks
    )
