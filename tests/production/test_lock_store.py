"""The lock store against the real Redis: Rasa's own store races between instances
(rasa issue 9213); needlecheck's serves one message of a conversation at a time."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from rasa.core.lock_store import LockError, RedisLockStore

from needlecheck.production.lock_store import AtomicRedisLockStore

pytestmark = pytest.mark.redis

URL = "redis://127.0.0.1:6379/6"


@pytest.fixture(autouse=True)
def clean_database() -> None:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=1).flushdb()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379")


def conversation() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def test_rasas_redis_lock_store_issues_one_ticket_twice_between_instances() -> None:
    """The race this project's store exists for, step by step: two instances read the
    lock before either writes it back."""
    first, second = RedisLockStore(port=6379, db=6), RedisLockStore(port=6379, db=6)
    cid = conversation()
    lock_a = first.get_or_create_lock(cid)
    lock_b = second.get_or_create_lock(cid)
    ticket_a = lock_a.issue_ticket(60)
    first.save_lock(lock_a)
    ticket_b = lock_b.issue_ticket(60)
    second.save_lock(lock_b)
    assert ticket_a == ticket_b  # both would be served at once


def test_tickets_from_two_instances_are_unique_and_in_order() -> None:
    first, second = AtomicRedisLockStore(url=URL), AtomicRedisLockStore(url=URL)
    cid = conversation()
    tickets = [store.issue_ticket(cid, 60) for store in (first, second, first, second)]
    assert tickets == [1, 2, 3, 4]


def test_two_instances_never_serve_one_conversation_at_once() -> None:
    stores = [AtomicRedisLockStore(url=URL), AtomicRedisLockStore(url=URL)]
    cid = conversation()
    inside: list[int] = []
    overlaps: list[int] = []
    order: list[int] = []

    async def turn(number: int) -> None:
        async with stores[number % 2].lock(cid):
            inside.append(number)
            if len(inside) > 1:
                overlaps.append(number)
            order.append(number)
            await asyncio.sleep(0.01)
            inside.remove(number)

    async def main() -> None:
        tasks = []
        for number in range(20):
            tasks.append(asyncio.create_task(turn(number)))
            await asyncio.sleep(0)  # issued in this order
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert overlaps == []
    assert order == list(range(20))  # first come, first served
    assert redis.Redis.from_url(URL).keys("needlecheck:lock:*") == []  # nothing left behind


def test_an_expired_holder_lets_the_next_one_in() -> None:
    store = AtomicRedisLockStore(url=URL)
    cid = conversation()
    store.issue_ticket(cid, 0.05)  # a holder that died without releasing

    async def main() -> str:
        async with store.lock(cid, lock_lifetime=5):
            return "served"

    assert asyncio.run(main()) == "served"


def test_redis_down_is_a_lock_error_not_a_hang() -> None:
    store = AtomicRedisLockStore(url="redis://127.0.0.1:6390/0")

    async def main() -> None:
        async with store.lock(conversation()):
            pass

    with pytest.raises(LockError):
        asyncio.run(asyncio.wait_for(main(), 10))


def test_configured_like_rasa_from_endpoints() -> None:
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(url="redis://127.0.0.1:6379/6", type="x", socket_timeout=1)
    store = AtomicRedisLockStore(endpoint_config=config)
    assert store.ping()
    with pytest.raises(NotImplementedError):
        store.get_lock("anything")


def test_a_held_lock_is_renewed_past_its_lifetime(monkeypatch) -> None:
    from needlecheck.production import lock_store

    monkeypatch.setattr(lock_store, "RENEW_EVERY", 0.05)
    store, other = AtomicRedisLockStore(url=URL), AtomicRedisLockStore(url=URL)
    cid = conversation()
    order: list[str] = []

    async def long_turn() -> None:
        async with store.lock(cid, lock_lifetime=0.3):
            await asyncio.sleep(1.0)  # three lifetimes: alive, so renewed
            order.append("long turn done")

    async def next_turn() -> None:
        await asyncio.sleep(0.1)
        async with other.lock(cid, lock_lifetime=0.3):
            order.append("next turn")

    async def main() -> None:
        await asyncio.gather(long_turn(), next_turn())

    asyncio.run(main())
    assert order == ["long turn done", "next turn"]
