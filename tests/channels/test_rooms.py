"""socket.io rooms shared through Redis (needlecheck/channels/rooms.py), against the
machine's real Redis: an emit from one instance reaches the socket another holds, once;
what travels is JSON; Redis down or nobody listening is an error, never a silent loss."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import pickle
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import redis.asyncio
import socketio
from engineio import packet as eio_packet

from needlecheck.channels import rooms, takeover
from needlecheck.channels.web import WebChatInput

REDIS_URL = "redis://127.0.0.1:6379/5"
NOWHERE = "redis://127.0.0.1:1/5"  # nothing listens on port 1


# The machine's Redis, as the lock store's tests use it (`make test` runs with it).
needs_redis = pytest.mark.redis


class Instance:
    """What a python-socketio AsyncServer gives its manager: packets out, background tasks."""

    ids = itertools.count()
    packet_class = socketio.packet.Packet

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.eio = SimpleNamespace(generate_id=lambda: f"sid{next(self.ids)}")
        self.logger = logging.getLogger("tests.rooms")
        self.tasks: list[asyncio.Task] = []

    def start_background_task(self, target, *args: Any) -> asyncio.Task:
        task = asyncio.ensure_future(target(*args))
        self.tasks.append(task)
        return task

    async def _send_eio_packet(self, eio_sid: str, pkt: eio_packet.Packet) -> None:
        event, data = json.loads(pkt.data[1:])  # "2[...]": a socket.io EVENT
        self.sent.append((eio_sid, event, data))


@asynccontextmanager
async def instance(url: str, channel: str) -> AsyncIterator[tuple[rooms.RedisRooms, Instance]]:
    manager = rooms.RedisRooms(url, channel=channel)
    server = Instance()
    manager.set_server(server)
    manager.initialize()
    try:
        yield manager, server
    finally:
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await manager.redis.close()


async def subscribers(channel: str, count: int) -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        for _ in range(100):
            [(_, subscribed)] = await client.pubsub_numsub(channel)
            if subscribed >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} instances never subscribed to {channel}")
    finally:
        await client.close()


async def settle() -> None:
    await asyncio.sleep(0.3)


@needs_redis
def test_an_emit_from_one_instance_reaches_the_socket_another_holds_once() -> None:
    channel = f"test-rooms-{uuid.uuid4().hex}"

    async def scenario() -> tuple[list, list]:
        async with (
            instance(REDIS_URL, channel) as (one, first),
            instance(REDIS_URL, channel) as (two, second),
        ):
            await subscribers(channel, 2)
            # The person's socket is on instance two and joined its session's room.
            sid = two.connect("eio-person", "/")
            two.enter_room(sid, "/", "session-1")
            other = two.connect("eio-stranger", "/")
            two.enter_room(other, "/", "session-2")
            await one.emit("bot_uttered", {"text": "Hello, this is Tess."}, room="session-1")
            await settle()
            # From the instance holding the socket: emitted there, not through Redis.
            await two.emit("bot_uttered", {"text": "And from here."}, room="session-1")
            await settle()
            return first.sent, second.sent

    first, second = asyncio.run(scenario())
    assert first == []
    assert second == [
        ("eio-person", "bot_uttered", {"text": "Hello, this is Tess."}),
        ("eio-person", "bot_uttered", {"text": "And from here."}),
    ]


@needs_redis
def test_what_travels_is_json_and_a_pickle_on_the_channel_is_ignored(caplog) -> None:
    channel = f"test-rooms-{uuid.uuid4().hex}"

    async def scenario() -> tuple[list, list]:
        spy = redis.asyncio.Redis.from_url(REDIS_URL).pubsub()
        await spy.subscribe(channel)
        async with instance(REDIS_URL, channel) as (manager, server):
            await subscribers(channel, 2)
            sid = manager.connect("eio-person", "/")
            manager.enter_room(sid, "/", "session-1")
            evil = {"method": "emit", "event": "bot_uttered", "data": {"text": "pickled"},
                    "namespace": "/", "room": "session-1"}  # fmt: skip
            publisher = redis.asyncio.Redis.from_url(REDIS_URL)
            await publisher.publish(channel, pickle.dumps(evil))
            await publisher.close()
            # A room held elsewhere goes through Redis (one held here would not).
            await manager.emit("bot_uttered", {"text": "plain"}, room="session-elsewhere")
            await settle()
            seen = []
            for _ in range(10):
                message = await spy.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    seen.append(message["data"])
            await spy.close()
            return server.sent, seen

    with caplog.at_level(logging.WARNING, logger="needlecheck.channels.rooms"):
        sent, seen = asyncio.run(scenario())
    assert sent == []  # the pickle reached nobody
    assert json.loads(seen[-1])["data"] == {"text": "plain"}
    assert "not JSON was ignored" in caplog.text


@needs_redis
def test_a_listener_that_loses_redis_subscribes_again_at_once() -> None:
    channel = f"test-rooms-{uuid.uuid4().hex}"

    async def scenario() -> tuple[float, list]:
        async with instance(REDIS_URL, channel) as (manager, server):
            await subscribers(channel, 1)
            sid = manager.connect("eio-person", "/")
            manager.enter_room(sid, "/", "session-1")
            # The listener's connection drops (as when Redis restarts).
            await manager.pubsub.connection.disconnect()
            started = time.monotonic()
            await asyncio.sleep(0.05)
            await subscribers(channel, 1)
            back = time.monotonic() - started
            await manager.emit("bot_uttered", {"text": "still here"}, room="session-1")
            await settle()
            return back, server.sent

    back, sent = asyncio.run(scenario())
    assert back < rooms.LISTEN_RETRY_MAX
    assert sent == [("eio-person", "bot_uttered", {"text": "still here"})]


@needs_redis
def test_an_emit_waits_a_moment_for_a_listener_subscribing_again() -> None:
    channel = f"test-rooms-{uuid.uuid4().hex}"

    async def scenario() -> int:
        late = redis.asyncio.Redis.from_url(REDIS_URL).pubsub()

        async def subscribe_late() -> None:
            await asyncio.sleep(0.4)
            await late.subscribe(channel)

        manager = rooms.RedisRooms(REDIS_URL, channel=channel)
        try:
            task = asyncio.ensure_future(subscribe_late())
            receivers = await manager._publish({"method": "emit", "room": "session-1"})
            await task
        finally:
            await late.close()
            await manager.redis.close()
        return receivers

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (NOWHERE, "Redis: ConnectionError"),
        pytest.param(REDIS_URL, "no instance is listening", marks=needs_redis),
    ],
    ids=["redis down", "nobody listening"],
)
def test_a_message_not_handed_over_is_a_logged_error_never_a_silent_loss(
    caplog, url, problem
) -> None:
    async def scenario() -> None:
        manager = rooms.RedisRooms(url, channel=f"test-rooms-{uuid.uuid4().hex}")
        try:
            await manager.emit("bot_uttered", {"text": "hi"}, room="session-1")
        finally:
            await manager.redis.close()

    with (
        caplog.at_level(logging.ERROR, logger="needlecheck.channels.rooms"),
        pytest.raises(rooms.RoomsUnavailable, match=problem.split(":")[0]),
    ):
        asyncio.run(scenario())
    assert f"a message (emit) for room session-1 was not delivered ({problem}" in caplog.text


def test_the_production_profile_alone_shares_rooms_through_redis() -> None:
    assert rooms.rooms_manager({}) is None
    assert rooms.rooms_manager({"NEEDLECHECK_REDIS_URL": REDIS_URL}) is None
    manager = rooms.rooms_manager(
        {"NEEDLECHECK_PROFILE": "production", "NEEDLECHECK_REDIS_URL": REDIS_URL}
    )
    assert isinstance(manager, rooms.RedisRooms)
    assert (manager.redis_url, manager.channel) == (REDIS_URL, "needlecheck-socketio-db5")
    # The default Redis database when the URL names none.
    assert rooms.channel_for("redis://redis:6379") == "needlecheck-socketio-db0"


def test_the_widget_channel_uses_them_in_production(monkeypatch) -> None:
    async def never(message: object) -> None:
        raise AssertionError

    monkeypatch.setenv("NEEDLECHECK_PROFILE", "production")
    monkeypatch.setenv("NEEDLECHECK_REDIS_URL", REDIS_URL)
    production = WebChatInput(session_persistence=True)
    production.blueprint(never)
    assert isinstance(production.sio.manager, rooms.RedisRooms)
    monkeypatch.delenv("NEEDLECHECK_PROFILE")
    alone = WebChatInput(session_persistence=True)
    alone.blueprint(never)
    assert type(alone.sio.manager) is socketio.AsyncManager


def test_a_staff_reply_that_redis_could_not_carry_counts_as_not_delivered() -> None:
    class Unreachable:
        async def emit(self, *args: Any, **kwargs: Any) -> None:
            raise rooms.RoomsUnavailable("Redis: ConnectionError")

    connector = WebChatInput(session_persistence=True)
    connector.sio = Unreachable()
    app = SimpleNamespace(ctx=SimpleNamespace(input_channels=[connector]))
    delivered = asyncio.run(takeover.deliver(app, "session-1", "socketio", [{"text": "hi"}]))
    assert delivered == 0


def test_a_room_held_here_is_emitted_here_even_with_redis_down() -> None:
    """The person's own turn: their socket is on this instance, so the reply never waits
    for Redis, nor fails with it."""

    async def scenario() -> list:
        manager = rooms.RedisRooms(NOWHERE, channel="test-rooms-local")
        server = Instance()
        manager.set_server(server)
        try:
            sid = manager.connect("eio-person", "/")
            manager.enter_room(sid, "/", "session-1")
            await manager.emit("bot_uttered", {"text": "How old are you?"}, room="session-1")
        finally:
            await manager.redis.close()
        return server.sent

    assert asyncio.run(scenario()) == [("eio-person", "bot_uttered", {"text": "How old are you?"})]


def test_a_reply_in_the_persons_turn_that_redis_could_not_carry_does_not_lose_the_turn() -> None:
    """Raised inside Rasa's turn, the error would lose the person's message and the
    conversation's state (Rasa saves the tracker after sending): it is logged (rooms.py)
    and the turn goes on. A staff reply (strict) still says it was not delivered."""
    from needlecheck.channels.web import WebChatOutput

    class Unreachable:
        async def emit(self, *args: Any, **kwargs: Any) -> None:
            raise rooms.RoomsUnavailable("Redis: ConnectionError")

    turn = WebChatOutput(Unreachable(), "bot_uttered")
    asyncio.run(turn.send_text_message("session-1", "How old are you?"))
    staff = WebChatOutput(Unreachable(), "bot_uttered", strict=True)
    with pytest.raises(rooms.RoomsUnavailable):
        asyncio.run(staff.send_text_message("session-1", "Hi, this is Tess."))
