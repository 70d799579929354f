"""Where each process of the production profile listens, derived from the settings, and
the environment the processes are started with (endpoints.prod.yml reads it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from needlecheck.config import Settings

INSTANCES = 2  # deploy/haproxy/haproxy.cfg names two of each
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
HAPROXY_CONFIG = Path("deploy/haproxy/haproxy.cfg")
HAPROXY_ERRORFILE = Path("deploy/haproxy/503.http")
ENDPOINTS = Path("endpoints.prod.yml")
TOPOLOGY_FILE = "topology.json"


@dataclass(frozen=True)
class Topology:
    host: str
    balancer_port: int
    rasa_ports: tuple[int, ...]
    action_balancer_port: int
    action_ports: tuple[int, ...]
    frontdesk_port: int
    stats_port: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(
            host=settings.host,
            balancer_port=settings.rasa_port,
            rasa_ports=tuple(settings.rasa_port + i for i in range(1, INSTANCES + 1)),
            action_balancer_port=settings.action_port,
            action_ports=tuple(settings.action_port + i for i in range(1, INSTANCES + 1)),
            frontdesk_port=settings.frontdesk_port,
            stats_port=settings.rasa_port + 100,
        )

    def url(self, port: int, path: str = "") -> str:
        return f"http://127.0.0.1:{port}{path}"

    def save(self, var_dir: Path) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        (var_dir / TOPOLOGY_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, var_dir: Path) -> Topology | None:
        path = var_dir / TOPOLOGY_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["rasa_ports"] = tuple(data["rasa_ports"])
        data["action_ports"] = tuple(data["action_ports"])
        return cls(**data)

    def balancer_environment(self) -> dict[str, str]:
        at = self.host
        env = {
            "NEEDLECHECK_LB_BIND": f"{at}:{self.balancer_port}",
            "NEEDLECHECK_ACTION_LB_BIND": f"127.0.0.1:{self.action_balancer_port}",
            "NEEDLECHECK_LB_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            "NEEDLECHECK_LB_ERRORFILE": str(HAPROXY_ERRORFILE.resolve()),
        }
        for number, port in enumerate(self.rasa_ports, start=1):
            env[f"NEEDLECHECK_RASA{number}"] = f"127.0.0.1:{port}"
        for number, port in enumerate(self.action_ports, start=1):
            env[f"NEEDLECHECK_ACTIONS{number}"] = f"127.0.0.1:{port}"
        return env


# HAProxy reaches the instances from this host; its `option forwardfor` appends the
# address it saw to X-Forwarded-For.
BALANCER_ADDRESSES = ("127.0.0.1", "::1")


def instance_environment(configured: str | None) -> dict[str, str]:
    """What only the Rasa instances get: HAProxy as a trusted proxy, beside any proxy the
    clinic configured in front of it. The front desk is not behind HAProxy, so it keeps
    NEEDLECHECK_TRUSTED_PROXIES as configured (none by default)."""
    extra = [item.strip() for item in (configured or "").split(",") if item.strip()]
    proxies = [*BALANCER_ADDRESSES, *(item for item in extra if item not in BALANCER_ADDRESSES)]
    return {"NEEDLECHECK_TRUSTED_PROXIES": ",".join(proxies)}


def production_environment(settings: Settings, topology: Topology) -> dict[str, str]:
    """The variables endpoints.prod.yml and the processes read."""
    tracker_url = settings.tracker_store_url or settings.database_url
    rabbit = urlparse(settings.rabbitmq_url or DEFAULT_RABBITMQ_URL)
    return {
        "NEEDLECHECK_PROFILE": "production",
        "NEEDLECHECK_ACTION_URL": topology.url(topology.action_balancer_port, "/webhook"),
        "NEEDLECHECK_TRACKER_STORE_URL": tracker_url,
        "NEEDLECHECK_REDIS_URL": settings.redis_url,
        "NEEDLECHECK_RABBITMQ_URL": settings.rabbitmq_url or DEFAULT_RABBITMQ_URL,
        "NEEDLECHECK_RABBITMQ_HOST": rabbit.hostname or "127.0.0.1",
        "NEEDLECHECK_RABBITMQ_PORT": str(rabbit.port or 5672),
        "NEEDLECHECK_RABBITMQ_USER": rabbit.username or "guest",
        "NEEDLECHECK_RABBITMQ_PASSWORD": rabbit.password or "guest",
        "NEEDLECHECK_EVENTS_EXCHANGE": settings.events_exchange,
        "NEEDLECHECK_EVENTS_QUEUE": settings.events_queue,
        # The front desk's caller mode goes through the load balancer too.
        "NEEDLECHECK_RASA_URL": topology.url(topology.balancer_port),
        # One Sanic worker per instance: instances, not workers, are what scales here.
        "SANIC_WORKERS": "1",
        **topology.balancer_environment(),
    }
