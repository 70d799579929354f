"""The front desk's consumer of Rasa's event stream, against the real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import select

from needlecheck.frontdesk.events import ConsumerState, consume, shown
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import ConversationActivity

pytestmark = pytest.mark.rabbitmq

URL = "amqp://guest:guest@127.0.0.1:5672/"


def test_only_the_events_the_front_desk_shows_are_written() -> None:
    assert shown({"event": "user"})
    assert shown({"event": "slot", "name": "requested_slot"})
    assert shown({"event": "slot", "name": "screening_outcome"})
    assert not shown({"event": "slot", "name": "age"})
    assert not shown({"event": "bot"})
    assert not shown({"event": "action", "name": "action_listen"})


def test_events_published_to_the_exchange_become_activity(tmp_path) -> None:
    import aio_pika

    database = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(database)
    sessions = session_factory(create_db_engine(database))
    suffix = uuid.uuid4().hex[:8]
    exchange_name, queue_name = f"test-events-{suffix}", f"test_frontdesk_{suffix}"
    state = ConsumerState()
    now = time.time()
    events = [
        {"sender_id": "c-1", "event": "user", "timestamp": now, "input_channel": "socketio"},
        {"sender_id": "c-1", "event": "bot", "timestamp": now + 0.1, "text": "How old are you?"},
        {"sender_id": "c-1", "event": "slot", "timestamp": now + 0.2, "name": "requested_slot",
         "value": "age"},
        {"sender_id": "c-1", "event": "user", "timestamp": now + 1, "input_channel": "socketio"},
    ]  # fmt: skip

    async def main() -> None:
        consumer = asyncio.create_task(consume(URL, exchange_name, queue_name, sessions, state))
        connection = await aio_pika.connect(URL)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.FANOUT)
            for _ in range(100):
                if state.connected:
                    break
                await asyncio.sleep(0.1)
            assert state.connected
            for event in events:
                await exchange.publish(aio_pika.Message(json.dumps(event).encode()), "")
            await exchange.publish(aio_pika.Message(b"not json"), "")
            for _ in range(50):
                if state.received == len(events) and state.rejected == 1:
                    break
                await asyncio.sleep(0.1)
        finally:
            consumer.cancel()
            cleanup = await connection.channel()
            await cleanup.queue_delete(queue_name)
            await cleanup.exchange_delete(exchange_name)
            await connection.close()

    asyncio.run(main())
    assert (state.received, state.rejected) == (len(events), 1)
    with sessions.begin() as session:
        row = session.execute(select(ConversationActivity)).scalar_one()
        assert (row.conversation_id, row.channel, row.messages, row.step) == (
            "c-1",
            "socketio",
            2,
            "age",
        )
