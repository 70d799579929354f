"""Rasa's SQL tracker store, configured by one URL and riding out a database restart.

`tracker_store: type: needlecheck.production.tracker_store.DurableSQLTrackerStore` with
`url: postgresql://user@host:5432/db`.

Rasa wraps every tracker store in a fail-safe (see `needlecheck.production.resilience`)
that swallowed errors; with that removed, an error here reaches the person as a clear
"please send that again". Before that, a failure of the connection is retried: after a
PostgreSQL restart the pooled connections are dead, and pre-ping replaces them. A retried
save is safe, because Rasa's SQL store writes only the events past those already stored.

Each event's data (what the person typed, the slots) is stored encrypted with the
screening database's keys (needlecheck.store.encryption); an event written before that,
as plain JSON, is still read. A phone-shaped sender (SMS, WhatsApp) is stored as its keyed
digest, as the screening database stores it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from needlecheck.store.database import transient
from needlecheck.store.encryption import conversation_key, keyring
from needlecheck.store.tracker_events import stored_senders

logger = logging.getLogger(__name__)

# Seconds before each retry; a PostgreSQL restart here takes about a second.
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)

T = TypeVar("T")


def event_data(stored: str) -> dict[str, Any]:
    # Plain JSON starts with "{"; a Fernet token never does.
    return json.loads(stored if stored.startswith("{") else keyring().decrypt(stored))


class TrackerStoreUnavailable(RuntimeError):
    """The conversation store could not be read or written, even after retries."""


class DurableSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Any = None,
        host: str | None = None,
        event_broker: Any = None,
        url: str | None = None,
        **kwargs: Any,
    ) -> None:
        address = url or host
        if not address or "://" not in address:
            raise ValueError(
                "the tracker store needs `url: postgresql://user@host:port/database` "
                "(NEEDLECHECK_TRACKER_STORE_URL)"
            )
        parsed = make_url(address)
        super().__init__(
            domain=domain,
            dialect=parsed.drivername,
            host=parsed.host,
            port=parsed.port,
            db=parsed.database or "rasa",
            username=parsed.username,
            password=parsed.password,
            event_broker=event_broker,
            query=dict(parsed.query) or None,
            **kwargs,
        )
        engine_url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            engine_url, pool_pre_ping=True, **create_engine_kwargs(engine_url)
        )
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    async def _with_retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            try:
                return await call()
            except Exception as error:
                if not transient(error):
                    raise
                if delay is None:
                    raise TrackerStoreUnavailable(
                        f"{what}: {error.__class__.__name__} after {attempt} attempts"
                    ) from error
                logger.warning("tracker store %s failed (attempt %d); retrying", what, attempt)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._with_retry("read", lambda: SQLTrackerStore.retrieve(self, sender_id))

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._with_retry(
            "read", lambda: SQLTrackerStore.retrieve_full_tracker(self, sender_id)
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        new_events = await self._with_retry("save", lambda: self._write(tracker))
        # Published once the events are stored, from what was written: Rasa's own save
        # read the whole conversation back a second time to find them, before writing.
        if self.event_broker is not None and new_events:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    async def _write(self, tracker: DialogueStateTracker) -> list[Event]:
        """Rasa's SQLTrackerStore.save without its event streaming; the events written."""
        with self.session_scope() as session:
            # Only the events past those stored: a repeated write adds nothing twice.
            events = list(self._additional_events(session, tracker))
            for event in events:
                data = event.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=conversation_key(tracker.sender_id),
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
                        action_name=data.get("name"),
                        data=keyring().encrypt(json.dumps(data)),
                    )
                )
            session.commit()
        return events

    def _event_query(
        self, session: Any, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Any:
        """Rasa's, for every stored form of the sender: a phone-shaped one (SMS, WhatsApp)
        is stored as its keyed digest, so a stolen database names no phone number; rows
        written before that, or under an older data key, are still found."""
        senders = stored_senders([sender_id])
        event = self.SQLEvent
        query = session.query(event).filter(event.sender_id.in_(senders))
        if not fetch_events_from_all_sessions:
            session_start = (
                session.query(sa.func.max(event.timestamp).label("session_start"))
                .filter(event.sender_id.in_(senders), event.type_name == SessionStarted.type_name)
                .subquery()
            )
            query = query.filter(
                sa.or_(
                    event.timestamp >= session_start.c.session_start,
                    session_start.c.session_start.is_(None),
                )
            )
        return query.order_by(event.id)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        """Rasa's, with each event's data decrypted."""
        with self.session_scope() as session:
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            ).all()
            events = [event_data(row.data) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def keys(self) -> Iterable[str]:
        return await self._with_retry("list", lambda: SQLTrackerStore.keys(self))
