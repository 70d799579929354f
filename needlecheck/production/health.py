"""`GET /webhooks/health/ready`: whether this Rasa instance can take a message now.

A Rasa input channel is the extension point Rasa offers for adding routes to its server;
this one takes no messages. The load balancer sends a message only to an instance that
answers 200 here: model loaded, conversation store readable and lock store answering.
The event broker is reported but does not make an instance unready: conversations go on
while RabbitMQ is down, and Rasa publishes the kept events when it is back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

CHECK_TIMEOUT = 2.0
PRODUCTION = "production"


async def _probe(call: Callable[[], Any]) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(call), CHECK_TIMEOUT)
    except asyncio.TimeoutError:
        return "no answer"
    except Exception as error:
        return f"down ({error.__class__.__name__})"
    return "ok"


async def readiness(agent: Any, profile: str | None = None) -> tuple[bool, dict[str, str]]:
    from needlecheck.production.lock_store import AtomicRedisLockStore
    from needlecheck.production.tracker_store import DurableSQLTrackerStore

    checks: dict[str, str] = {}
    checks["model"] = "ok" if agent is not None and agent.is_ready() else "not loaded"
    if agent is None:
        return False, checks
    store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
    locks = agent.lock_store
    if profile == PRODUCTION:
        # Rasa falls back to in-memory stores when a configured class fails to import;
        # in production that would split conversations between instances.
        if not isinstance(store, DurableSQLTrackerStore):
            checks["tracker_store"] = f"wrong type ({type(store).__name__})"
        if not isinstance(locks, AtomicRedisLockStore):
            checks["lock_store"] = f"wrong type ({type(locks).__name__})"
    if "tracker_store" not in checks:
        checks["tracker_store"] = await _probe(store.ping) if hasattr(store, "ping") else "ok"
    if "lock_store" not in checks:
        checks["lock_store"] = await _probe(locks.ping) if hasattr(locks, "ping") else "ok"
    ready = all(value == "ok" for value in checks.values())
    broker = getattr(store, "event_broker", None)
    if broker is not None:
        checks["event_broker"] = "ok" if broker.is_ready() else "reconnecting (events kept)"
    return ready, checks


class HealthInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "health"

    def blueprint(self, on_new_message: Callable[..., Any]) -> Blueprint:
        blueprint = Blueprint("needlecheck_health", __name__)

        @blueprint.route("/", methods=["GET"])
        async def live(_: Request) -> HTTPResponse:
            return response.json({"live": True})

        @blueprint.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            ok, checks = await readiness(agent, os.environ.get("NEEDLECHECK_PROFILE"))
            return response.json(
                {"ready": ok, "checks": checks, "pid": os.getpid()}, status=200 if ok else 503
            )

        return blueprint
