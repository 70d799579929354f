"""Rasa's ticket lock on Redis, atomic across instances.

Rasa 3.6's `RedisLockStore` keeps each conversation's lock as one JSON value and changes
it by reading it, editing it in Python and writing it back (rasa issue 9213): two
instances that issue a ticket at the same moment both read the same lock, both issue the
same number, and both process the conversation at once. Here each change is one Lua script,
which Redis runs atomically: ticket numbers come from INCR, the queue is a sorted set, and
expiry is judged by Redis's clock, not by each instance's. A ticket is renewed by its
instance while it waits or holds the lock, so a crashed instance's ticket is gone within
TICKET_LIFETIME seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

logger = logging.getLogger(__name__)

KEY_PREFIX = "needlecheck:lock:"
# A ticket lives this long unless its instance renews it, which it does every
# RENEW_EVERY seconds while it waits or holds the lock. Rasa's own tickets live 60 s
# whether their instance is alive or not: after an instance crashed, the person's next
# message (on the other instance) waited up to a minute behind the dead ticket.
TICKET_LIFETIME = 10.0
RENEW_EVERY = 2.0
# Polled while another message of the same conversation is processed: a turn takes tens
# of milliseconds, so Rasa's one second between attempts would be most of the wait.
POLL_INTERVAL = 0.02

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: counter, queue (sorted set of ticket numbers), deadlines (hash); ARGV: lifetime ms
ISSUE = (
    _NOW_MS
    + """
local number = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], number, number)
redis.call('HSET', KEYS[3], number, now + tonumber(ARGV[1]))
-- Every ticket has expired once twice its lifetime has passed since the last one was
-- issued; only then may the counter start again.
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[1])) end
return number
"""
)

# 1: the ticket is served now; 0: it waits; -1: it expired while waiting.
ACQUIRE = (
    _NOW_MS
    + """
local head
while true do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #first == 0 then return -1 end
  head = first[1]
  local deadline = tonumber(redis.call('HGET', KEYS[3], head) or '0')
  if deadline > now then break end
  redis.call('ZREM', KEYS[2], head)
  redis.call('HDEL', KEYS[3], head)
end
if head == ARGV[1] then return 1 end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return -1 end
return 0
"""
)

# ARGV: ticket, lifetime ms. 1 if renewed, 0 if the ticket is gone.
RENEW = (
    _NOW_MS
    + """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], now + tonumber(ARGV[2]))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[2])) end
return 1
"""
)

RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return 0
"""


class AtomicRedisLockStore(LockStore):
    """`lock_store: type: needlecheck.production.lock_store.AtomicRedisLockStore` with
    `url: redis://host:port/db`."""

    def __init__(self, endpoint_config: Any = None, url: str | None = None, **kwargs: Any):
        import redis

        settings = dict(getattr(endpoint_config, "kwargs", None) or {})
        settings.update(kwargs)
        address = url or getattr(endpoint_config, "url", None) or "redis://127.0.0.1:6379/1"
        if "://" not in address:
            address = f"redis://{address}"
        parsed = urlparse(address)
        self.red = redis.StrictRedis(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int((parsed.path or "/1").strip("/") or 1),
            username=parsed.username,
            password=parsed.password or settings.get("password"),
            # A Redis that stops answering must fail the turn, not hang it.
            socket_timeout=float(settings.get("socket_timeout", 2)),
            socket_connect_timeout=float(settings.get("socket_timeout", 2)),
        )
        self._issue = self.red.register_script(ISSUE)
        self._acquire = self.red.register_script(ACQUIRE)
        self._release = self.red.register_script(RELEASE)
        self._renew = self.red.register_script(RENEW)
        super().__init__()

    @staticmethod
    def _keys(conversation_id: str) -> list[str]:
        base = KEY_PREFIX + conversation_id
        return [base + ":counter", base + ":queue", base + ":deadlines"]

    def ping(self) -> bool:
        return bool(self.red.ping())

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return int(
                self._issue(keys=self._keys(conversation_id), args=[int(lock_lifetime * 1000)])
            )
        except Exception as error:
            raise LockError(f"could not issue a ticket: {error.__class__.__name__}") from error

    def _state(self, conversation_id: str, ticket: int) -> int:
        try:
            return int(self._acquire(keys=self._keys(conversation_id), args=[ticket]))
        except Exception as error:
            raise LockError(f"could not check the lock: {error.__class__.__name__}") from error

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._release(keys=self._keys(conversation_id), args=[ticket_number])

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = POLL_INTERVAL,
    ) -> AsyncGenerator[TicketLock, None]:
        # Rasa's lifetime (60 s, for tickets nobody renews) is replaced by a short one
        # that this instance renews while it is alive.
        lifetime = min(lock_lifetime, TICKET_LIFETIME)
        ticket = self.issue_ticket(conversation_id, lifetime)
        renewing = asyncio.create_task(self._keep_alive(conversation_id, ticket, lifetime))
        try:
            while True:
                state = self._state(conversation_id, ticket)
                if state == 1:
                    break
                if state == -1:
                    raise LockError(
                        f"the ticket for conversation '{conversation_id}' expired while waiting"
                    )
                await asyncio.sleep(min(wait_time_in_seconds, POLL_INTERVAL))
            yield TicketLock(conversation_id)
        finally:
            renewing.cancel()
            try:
                self.finish_serving(conversation_id, ticket)
            except Exception as error:
                # The ticket then expires by itself after its lifetime.
                logger.error("could not release a conversation lock: %s", error.__class__.__name__)

    async def _keep_alive(self, conversation_id: str, ticket: int, lifetime: float) -> None:
        keys = self._keys(conversation_id)
        while True:
            await asyncio.sleep(min(RENEW_EVERY, lifetime / 3))
            try:
                self._renew(keys=keys, args=[ticket, int(lifetime * 1000)])
            except Exception as error:
                logger.warning("could not renew a conversation lock: %s", error.__class__.__name__)

    # Rasa calls only `lock()`; the per-value interface of the base class would bring the
    # read-modify-write race back, so it is refused.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        raise NotImplementedError("AtomicRedisLockStore keeps no TicketLock values")

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("AtomicRedisLockStore keeps no TicketLock values")

    def delete_lock(self, conversation_id: str) -> None:
        self.red.delete(*self._keys(conversation_id))
