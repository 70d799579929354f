"""The front desk's consumer of Rasa's event stream (production profile).

Rasa's Pika broker publishes every conversation event to a fanout exchange; the queue this
consumer reads is durable and bound to it (by Rasa and here), so events wait in RabbitMQ
while the front desk is down. While RabbitMQ is down, Rasa keeps the events in memory and
publishes them when it is back, and this consumer reconnects with a growing pause. The
queue of screenings and requests itself is read from the database, so nothing in it
depends on the stream; the stream adds the conversations still in progress.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

from needlecheck.store.activity import InvalidEvent, record_event

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (1, 2, 5, 10, 30)


@dataclass
class ConsumerState:
    """What `/healthz` and `needlecheck status` report about the stream."""

    enabled: bool = False
    connected: bool = False
    received: int = 0
    rejected: int = 0
    last_error: str | None = None
    reconnects: int = field(default=0)

    def as_json(self) -> dict[str, object]:
        if not self.enabled:
            return {"state": "off"}
        return {
            "state": "connected" if self.connected else "reconnecting",
            "received": self.received,
            "rejected": self.rejected,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }


def _store(sessions, event: dict) -> None:
    with sessions.begin() as session:
        record_event(session, event)


async def consume(
    url: str, exchange_name: str, queue_name: str, sessions, state: ConsumerState
) -> None:
    """Consume until cancelled, reconnecting after every failure."""
    import aio_pika

    # aio-pika runs each delivery as its own task: recorded one at a time, in the order
    # delivered, two events of one new conversation cannot both insert it.
    one_at_a_time = asyncio.Lock()

    async def record(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            event = json.loads(message.body)
            if not isinstance(event, dict):
                raise InvalidEvent("an event that is not a JSON object")
            await asyncio.to_thread(_store, sessions, event)
        except (ValueError, InvalidEvent) as error:
            # Unreadable: kept out of the queue for good, not retried forever.
            state.rejected += 1
            logger.warning("event stream: rejected an event: %s", error.__class__.__name__)
            await message.reject(requeue=False)
            return
        except Exception as error:
            # The database is down: the event goes back to RabbitMQ for later.
            state.last_error = error.__class__.__name__
            logger.error("event stream: could not record an event: %s", state.last_error)
            await asyncio.sleep(1)
            await message.nack(requeue=True)
            return
        state.received += 1
        await message.ack()

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with one_at_a_time:
            await record(message)

    state.enabled = True
    attempt = 0
    while True:
        closed = asyncio.Event()
        try:
            connection = await aio_pika.connect(url, timeout=5)
        except Exception as error:
            state.connected = False
            state.last_error = error.__class__.__name__
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            attempt += 1
            logger.warning(
                "event stream: cannot connect (%s); again in %d s", state.last_error, delay
            )
            await asyncio.sleep(delay)
            continue
        connection.close_callbacks.add(lambda *_, done=closed: done.set())
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=50)
            exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.FANOUT)
            queue = await channel.declare_queue(queue_name, durable=True)
            await queue.bind(exchange, "")
            await queue.consume(handle)
            if attempt:
                state.reconnects += 1
            state.connected = True
            state.last_error = None
            attempt = 0
            logger.info("event stream: consuming %s", queue_name)
            await closed.wait()
            logger.warning("event stream: connection closed; reconnecting")
        except asyncio.CancelledError:
            await connection.close()
            raise
        except Exception as error:
            state.last_error = error.__class__.__name__
            logger.warning("event stream: %s; reconnecting", state.last_error)
        finally:
            state.connected = False
        attempt += 1
        await asyncio.sleep(RECONNECT_DELAYS[0])
        if not connection.is_closed:
            await connection.close()
