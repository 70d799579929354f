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
from dataclasses import dataclass

from needlecheck.store.activity import (
    OUTCOME_SLOT,
    STEP_SLOT,
    InvalidEvent,
    record_event,
)
from needlecheck.store.activity import (
    check_event as record_event_shape,
)

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
    reconnects: int = 0

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


# The events that change what the front desk shows; the others (bot messages, actions,
# featurization) are acknowledged without a database write: about four in five.
SHOWN = {("user", None), ("slot", STEP_SLOT), ("slot", OUTCOME_SLOT)}
BATCH_WINDOW = 0.2
BATCH_SIZE = 200


def shown(event: dict) -> bool:
    name = event.get("name") if event.get("event") == "slot" else None
    return (event.get("event"), name) in SHOWN


def _store(sessions, events: list[dict]) -> None:
    with sessions.begin() as session:
        for event in events:
            record_event(session, event)


async def consume(
    url: str, exchange_name: str, queue_name: str, sessions, state: ConsumerState
) -> None:
    """Consume until cancelled, reconnecting after every failure."""
    import aio_pika

    pending: list[tuple[aio_pika.abc.AbstractIncomingMessage, dict]] = []
    arrived = asyncio.Event()

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            event = json.loads(message.body)
            if not isinstance(event, dict):
                raise InvalidEvent("an event that is not a JSON object")
            if shown(event):
                # Validated here, so that one bad event cannot fail its whole batch.
                record_event_shape(event)
        except (ValueError, InvalidEvent) as error:
            # Unreadable: kept out of the queue for good, not retried forever.
            state.rejected += 1
            logger.warning("event stream: rejected an event: %s", error.__class__.__name__)
            await message.reject(requeue=False)
            return
        if not shown(event):
            state.received += 1
            await message.ack()
            return
        pending.append((message, event))
        arrived.set()

    async def flush_batches() -> None:
        # One transaction per batch, in delivery order: events of one conversation are
        # applied in order, and a burst costs a few writes, not one per event.
        while True:
            await arrived.wait()
            await asyncio.sleep(BATCH_WINDOW)
            batch, pending[:] = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            if not pending:
                arrived.clear()
            if not batch:
                continue
            try:
                await asyncio.to_thread(_store, sessions, [event for _, event in batch])
            except Exception as error:
                # The database is down: the events go back to RabbitMQ for later.
                state.last_error = error.__class__.__name__
                logger.error("event stream: could not record events: %s", state.last_error)
                for message, _ in batch:
                    await _settle(message.nack(requeue=True))
                await asyncio.sleep(1)
                continue
            state.received += len(batch)
            for message, _ in batch:
                await _settle(message.ack())

    flusher = asyncio.create_task(flush_batches())
    try:
        await _consume_forever(aio_pika, url, exchange_name, queue_name, handle, state)
    finally:
        flusher.cancel()


async def _settle(outcome) -> None:
    try:
        await outcome
    except Exception as error:
        # The channel closed meanwhile: RabbitMQ delivers the message again.
        logger.warning("event stream: could not settle a message: %s", error.__class__.__name__)


async def _consume_forever(aio_pika, url, exchange_name, queue_name, handle, state) -> None:
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
            await channel.set_qos(prefetch_count=BATCH_SIZE * 2)
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
