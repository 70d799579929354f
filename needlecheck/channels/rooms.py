"""socket.io rooms shared by every Rasa instance through Redis pub/sub (production).

A widget's socket is connected to one instance (HAProxy pins /socket.io by client
address), but a message for it can start on another: a staff reply in a takeover comes
from the front desk through the load balancer, to whichever instance is least busy. With
python-socketio's in-memory manager such a message reaches nobody. In the production
profile every instance's socket.io server gets `RedisRooms` instead: an emit to a room is
published on one Redis channel, and each instance emits it to the sockets of that room it
holds. `make run` (one instance, no Redis) keeps the in-memory manager.

Changes from python-socketio 5.9's `AsyncRedisManager`:
- messages are JSON, never pickle: anything that can publish on the channel could
  otherwise run code in every Rasa instance;
- an emit to a room this instance holds is emitted here, not through Redis: the
  person's own turns never wait for Redis, or fail with it;
- an emit that cannot be published (after one reconnection), or that no instance is
  listening for (after 1 s), raises `RoomsUnavailable` where python-socketio logs and
  drops it, so the caller can say it was not delivered;
- the listener reconnects at most `LISTEN_RETRY_MAX` seconds after Redis is back (its
  back-off grew to 60 s, and every reply published meanwhile was lost), and a Redis that
  is down at the first subscription is retried rather than spun on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlparse

from redis.exceptions import RedisError
from socketio import AsyncRedisManager

logger = logging.getLogger(__name__)

PRODUCTION = "production"
# Redis pub/sub channels are shared by all of a server's databases: the channel is named
# after the database, so deployments kept apart by database number stay apart here too.
CHANNEL_PREFIX = "needlecheck-socketio-db"
LISTEN_RETRY_MAX = 2.0
# How long an emit nobody is subscribed to is tried again (the listeners' first retry
# after Redis is back is 0.25 s).
UNHEARD_RETRIES = 4
UNHEARD_WAIT = 0.25


class RoomsUnavailable(RuntimeError):
    """A socket.io message could not be handed to the instances (Redis down, or nobody
    subscribed): it was not delivered."""


def channel_for(redis_url: str) -> str:
    path = (urlparse(redis_url).path or "/").strip("/")
    return f"{CHANNEL_PREFIX}{path if path.isdigit() else '0'}"


class RedisRooms(AsyncRedisManager):
    name = "needlecheck-redis"

    def __init__(self, url: str, channel: str | None = None) -> None:
        # An emit waits for Redis inside a turn or a staff reply: a Redis that does not
        # answer fails it in 2 s. (No read timeout: the listener blocks on its channel.)
        # The name tells these connections apart in Redis's CLIENT LIST.
        options = {"socket_connect_timeout": 2, "client_name": "needlecheck-socketio"}
        super().__init__(url, channel=channel or channel_for(url), redis_options=options)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        **kwargs: Any,
    ) -> None:
        # A room this instance holds (every reply within the person's own turn): emitted
        # here, with no hop through Redis and nothing lost while Redis is down. (The
        # local path takes the namespace as given: None would reach nobody.)
        namespace = namespace or "/"
        if room is not None and not kwargs.get("ignore_queue") and self._held_here(namespace, room):
            kwargs["ignore_queue"] = True
        await super().emit(
            event,
            data,
            namespace=namespace,
            room=room,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    def _held_here(self, namespace: str, room: str) -> bool:
        return bool(self.rooms.get(namespace, {}).get(room))

    async def _publish(self, data: dict[str, Any]) -> int:
        payload = json.dumps(data)
        problem = "no instance is listening"
        reconnected = False
        for attempt in range(1 + UNHEARD_RETRIES):
            try:
                receivers = await self.redis.publish(self.channel, payload)
            except RedisError as error:
                problem = f"Redis: {type(error).__name__}: {error}"
                if reconnected:
                    break
                self._redis_connect()  # a pooled connection from before a Redis restart
                reconnected = True
                continue
            if receivers:
                return receivers
            # Reached Redis, but no instance subscribed: the listeners resubscribe just
            # after a Redis restart. Published to nobody, so sending again duplicates none.
            problem = "no instance is listening"
            if attempt < UNHEARD_RETRIES:
                await asyncio.sleep(UNHEARD_WAIT)
        method = data.get("method")
        logger.error(
            "socket.io: a message (%s) for room %s was not delivered (%s)",
            method,
            data.get("room") or data.get("sid"),
            problem,
        )
        if method == "emit":
            raise RoomsUnavailable(problem)
        return 0

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        wanted = self.channel.encode()
        retry = 0.25
        subscribed = False
        while True:
            try:
                if not subscribed:
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry = 0.25
                    logger.info("socket.io: listening on Redis channel %s", self.channel)
                async for message in self.pubsub.listen():
                    if message.get("channel") == wanted and message.get("type") == "message":
                        decoded = decode(message.get("data"))
                        if decoded is not None:
                            yield decoded
            except RedisError as error:
                logger.error(
                    "socket.io: Redis channel %s lost (%s); retrying in %.2g s",
                    self.channel,
                    type(error).__name__,
                    retry,
                )
                await asyncio.sleep(retry)
                retry = min(retry * 2, LISTEN_RETRY_MAX)
                self._redis_connect()
                subscribed = False


def decode(raw: Any) -> dict[str, Any] | None:
    """A published message as the pub/sub manager handles it; anything not JSON (a
    pickle from another program on the channel) is dropped."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        logger.warning("socket.io: a message on the Redis channel that is not JSON was ignored")
        return None
    return data if isinstance(data, dict) else None


def rooms_manager(environ: Mapping[str, str]) -> RedisRooms | None:
    """Redis rooms in the production profile (NEEDLECHECK_REDIS_URL, the lock store's
    Redis); None, python-socketio's in-memory manager, otherwise."""
    if environ.get("NEEDLECHECK_PROFILE") != PRODUCTION:
        return None
    from needlecheck.config import Settings

    return RedisRooms(Settings.from_environment(environ).redis_url)
