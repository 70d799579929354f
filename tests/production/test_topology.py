"""The production profile's configuration, without starting it: the refusals, the
HAProxy file, endpoints.prod.yml as Rasa reads it, `needlecheck status`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from needlecheck.config import Settings
from needlecheck.production import resilience
from needlecheck.production.supervisor import refusals, restart_delay
from needlecheck.production.topology import (
    ENDPOINTS,
    HAPROXY_CONFIG,
    Topology,
    production_environment,
)
from needlecheck.startup import StartupError

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).with_name("needlecheck")
PG = "postgresql://postgres@127.0.0.1:5432/x"


def settings(**env: str) -> Settings:
    return Settings.from_environment({"NEEDLECHECK_VAR_DIR": "/tmp/nc-topology", **env})


def test_production_refuses_to_start_without_its_secrets_naming_them() -> None:
    problems = refusals(settings(DATABASE_URL=PG), environ={})
    assert any(p.startswith("NEEDLECHECK_API_TOKEN") for p in problems)
    assert any(p.startswith("NEEDLECHECK_ACTION_SECRET") for p in problems)
    assert any(p.startswith("NEEDLECHECK_DATA_KEYS") for p in problems)
    assert len(problems) == 3


def test_production_refuses_sqlite() -> None:
    problems = refusals(
        settings(NEEDLECHECK_API_TOKEN="t", NEEDLECHECK_ACTION_SECRET="s"),
        environ={"NEEDLECHECK_DATA_KEYS": "k"},
    )
    assert [p.split()[0] for p in problems] == ["DATABASE_URL", "NEEDLECHECK_TRACKER_STORE_URL"]


def test_a_jwt_secret_stands_in_for_the_token() -> None:
    configured = settings(DATABASE_URL=PG, NEEDLECHECK_ACTION_SECRET="s")
    env = {"NEEDLECHECK_JWT_SECRET": "j", "NEEDLECHECK_DATA_KEYS": "k"}
    assert refusals(configured, environ=env) == []


def test_the_command_refuses_and_names_what_is_missing(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLECHECK_")}
    env.update(NEEDLECHECK_VAR_DIR=str(tmp_path), DATABASE_URL=PG)
    done = subprocess.run(
        [str(BIN), "run-prod"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    for name in ("NEEDLECHECK_API_TOKEN", "NEEDLECHECK_ACTION_SECRET", "NEEDLECHECK_DATA_KEYS"):
        assert name in done.stderr


@pytest.mark.parametrize("raw", ["-1", "soon", "601"])
def test_restart_delay_is_checked(raw: str) -> None:
    with pytest.raises(StartupError, match="NEEDLECHECK_RESTART_DELAY"):
        restart_delay({"NEEDLECHECK_RESTART_DELAY": raw})


@pytest.mark.parametrize("raw", ["0", "301", "x"])
def test_action_timeout_is_checked(raw: str) -> None:
    with pytest.raises(ValueError, match="NEEDLECHECK_ACTION_TIMEOUT"):
        resilience.action_timeout({"NEEDLECHECK_ACTION_TIMEOUT": raw})
    assert resilience.action_timeout({}) == 20


def test_haproxy_accepts_its_configuration() -> None:
    topology = Topology.from_settings(settings())
    env = {**os.environ, **topology.balancer_environment()}
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY_CONFIG)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration file is valid" in done.stdout


def test_the_ports_of_the_topology() -> None:
    topology = Topology.from_settings(settings())
    assert topology.balancer_port == 5005
    assert topology.rasa_ports == (5006, 5007)
    assert topology.action_balancer_port == 5055
    assert topology.action_ports == (5056, 5057)


def test_rasa_reads_endpoints_prod_from_the_environment(monkeypatch) -> None:
    from rasa.core.utils import read_endpoints_from_path

    configured = settings(
        DATABASE_URL=PG,
        NEEDLECHECK_ACTION_SECRET="s3cret",
        NEEDLECHECK_RABBITMQ_URL="amqp://user:pw@127.0.0.1:5673/",
    )
    env = production_environment(configured, Topology.from_settings(configured))
    for name, value in {**env, "NEEDLECHECK_ACTION_SECRET": "s3cret"}.items():
        monkeypatch.setenv(name, value)
    endpoints = read_endpoints_from_path(str(ROOT / ENDPOINTS))
    assert endpoints.action.url == "http://127.0.0.1:5055/webhook"
    assert endpoints.action.headers == {"Authorization": "Bearer s3cret"}
    assert endpoints.tracker_store.type.endswith("DurableSQLTrackerStore")
    assert endpoints.tracker_store.url == PG
    assert endpoints.lock_store.type.endswith("AtomicRedisLockStore")
    assert endpoints.event_broker.type == "pika"
    assert endpoints.event_broker.kwargs["username"] == "user"
    assert endpoints.event_broker.kwargs["port"] == "5673"
    assert endpoints.event_broker.kwargs["queues"] == ["needlecheck_frontdesk"]
    # One worker per instance: the instances are what scales (SANIC_WORKERS trap).
    assert env["SANIC_WORKERS"] == "1"


def test_status_reports_what_is_down(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLECHECK_")}
    env.update(
        NEEDLECHECK_VAR_DIR=str(tmp_path),
        DATABASE_URL="",
        NEEDLECHECK_RASA_PORT="5499",
        NEEDLECHECK_FRONTDESK_PORT="8499",
    )
    done = subprocess.run(
        [str(BIN), "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("ok") and "screening database" in line for line in lines)
    assert any(line.startswith("DOWN") and "Rasa server" in line for line in lines)


@pytest.mark.redis
@pytest.mark.rabbitmq
def test_status_of_a_production_layout_checks_each_service(tmp_path) -> None:
    topology = Topology.from_settings(settings(NEEDLECHECK_RASA_PORT="5499"))
    topology.save(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLECHECK_")}
    env.update(NEEDLECHECK_VAR_DIR=str(tmp_path), DATABASE_URL="", NEEDLECHECK_RASA_PORT="5499")
    done = subprocess.run(
        [str(BIN), "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    lines = done.stdout.splitlines()
    assert any(line.startswith("ok") and "lock store (Redis)" in line for line in lines)
    assert any(line.startswith("ok") and "event broker (RabbitMQ)" in line for line in lines)
    assert any(line.startswith("DOWN") and "load balancer" in line for line in lines)
    assert any(line.startswith("DOWN") and "Rasa instance 2 (:5501)" in line for line in lines)
    assert done.returncode == 1


class Store:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.event_broker = None

    def ping(self) -> bool:
        if self.error:
            raise self.error
        return True


class Agent:
    def __init__(self, tracker_store: object, lock_store: object) -> None:
        self.tracker_store, self.lock_store = tracker_store, lock_store

    def is_ready(self) -> bool:
        return True


def test_readiness_names_the_store_that_is_down() -> None:
    import asyncio

    from needlecheck.production.health import readiness

    ok, checks = asyncio.run(readiness(Agent(Store(), Store(ConnectionError()))))
    assert not ok
    assert checks == {"model": "ok", "tracker_store": "ok", "lock_store": "down (ConnectionError)"}
    ok, _ = asyncio.run(readiness(Agent(Store(), Store())))
    assert ok


def test_production_readiness_refuses_rasas_in_memory_fallback() -> None:
    import asyncio

    from needlecheck.production.health import readiness

    ok, checks = asyncio.run(readiness(Agent(Store(), Store()), "production"))
    assert not ok
    assert checks["tracker_store"] == "wrong type (Store)"
    assert checks["lock_store"] == "wrong type (Store)"


def test_only_the_rasa_instances_trust_haproxy_as_a_proxy(monkeypatch) -> None:
    from needlecheck.production.supervisor import children
    from needlecheck.security.ratelimit import client_address, trusted_proxies

    monkeypatch.delenv("NEEDLECHECK_TRUSTED_PROXIES", raising=False)
    configured = settings(DATABASE_URL=PG, NEEDLECHECK_ACTION_SECRET="s3cret")
    started = {
        child.name: child.extra_env
        for child in children(configured, Topology.from_settings(configured), "models")
    }
    for name in ("rasa1", "rasa2"):
        proxies = trusted_proxies(started[name])
        # HAProxy connects from this host and appends the client's address as a line.
        assert client_address("127.0.0.1", ["198.51.100.1", "203.0.113.5"], proxies) == (
            "203.0.113.5"
        )
    # The front desk is not behind HAProxy: it believes no proxy unless one is configured.
    assert "NEEDLECHECK_TRUSTED_PROXIES" not in started["frontdesk"]
    # A proxy the clinic puts in front of HAProxy is trusted beside it.
    monkeypatch.setenv("NEEDLECHECK_TRUSTED_PROXIES", "10.0.0.2")
    child = children(configured, Topology.from_settings(configured), "models")[2]
    assert trusted_proxies(child.extra_env) == frozenset({"127.0.0.1", "::1", "10.0.0.2"})


def test_make_runs_generated_api_token_does_not_let_production_start(tmp_path) -> None:
    from needlecheck.config import api_token

    api_token(tmp_path, {})  # left in var/ by an earlier `make run`
    configured = Settings.from_environment(
        {"NEEDLECHECK_VAR_DIR": str(tmp_path), "DATABASE_URL": PG, "NEEDLECHECK_ACTION_SECRET": "s"}
    )
    problems = refusals(configured, environ={"NEEDLECHECK_DATA_KEYS": "k"})
    assert [p.split()[0] for p in problems] == ["NEEDLECHECK_API_TOKEN"]
