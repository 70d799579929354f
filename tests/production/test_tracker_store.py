"""Rasa's SQL tracker store as the production profile configures it, on the real
PostgreSQL: one URL, dead connections replaced, errors never swallowed."""

from __future__ import annotations

import asyncio

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, text

from needlecheck import patches
from needlecheck.production import tracker_store
from needlecheck.production.tracker_store import DurableSQLTrackerStore, TrackerStoreUnavailable

pytestmark = pytest.mark.postgres

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "needlecheck_test_tracker"
DOMAIN = Domain.from_dict({"slots": {"age": {"type": "any", "mappings": []}}})


@pytest.fixture(scope="module")
def url() -> str:
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    return f"{SERVER}/{DATABASE}"


def tracker(sender: str) -> DialogueStateTracker:
    state = DialogueStateTracker(sender, DOMAIN.slots)
    for event in (ActionExecuted("action_listen"), UserUttered("I am 29"), SlotSet("age", 29)):
        state.update(event)
    return state


def test_saves_and_reads_back_from_one_url(url: str) -> None:
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    asyncio.run(store.save(tracker("one-url")))
    read = asyncio.run(store.retrieve("one-url"))
    assert read is not None and read.get_slot("age") == 29
    store.ping()


def test_a_save_repeated_after_a_failure_stores_each_event_once(url: str) -> None:
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    state = tracker("twice")
    asyncio.run(store.save(state))
    asyncio.run(store.save(state))
    assert len(asyncio.run(store.retrieve("twice")).events) == 3


def test_connections_killed_by_a_database_restart_are_replaced(url: str) -> None:
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    asyncio.run(store.save(tracker("restart")))
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": DATABASE},
        ).scalar()
    admin.dispose()
    assert killed >= 1
    assert asyncio.run(store.retrieve("restart")).get_slot("age") == 29


def test_an_unreachable_database_is_an_error_after_the_retries(url: str, monkeypatch) -> None:
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    monkeypatch.setattr(tracker_store, "RETRY_DELAYS", (0.01, 0.01))
    store.engine.dispose()
    store.engine = create_engine(
        "postgresql://postgres@127.0.0.1:5499/none", connect_args={"connect_timeout": 1}
    )
    store.sessionmaker.configure(bind=store.engine)
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(store.retrieve("anyone"))


def test_the_url_must_name_a_database_server() -> None:
    with pytest.raises(ValueError, match="NEEDLECHECK_TRACKER_STORE_URL"):
        DurableSQLTrackerStore(domain=DOMAIN, host="localhost")


class Broken(InMemoryTrackerStore):
    async def retrieve(self, sender_id: str):
        raise ConnectionError("down")

    async def save(self, tracker) -> None:
        raise ConnectionError("down")


def test_rasas_fail_safe_no_longer_hides_a_failed_store() -> None:
    wrapped = FailSafeTrackerStore(Broken(DOMAIN))
    # Rasa's own behaviour, whichever tests ran before (tests/conftest.py undoes the
    # patches after each test that installs them): a failed read is "no conversation
    # yet", a failed save lands in memory only.
    assert asyncio.run(wrapped.retrieve("x")) is None
    asyncio.run(wrapped.save(tracker("x")))
    patches.install()
    with pytest.raises(ConnectionError):
        asyncio.run(wrapped.retrieve("x"))
    with pytest.raises(ConnectionError):
        asyncio.run(wrapped.save(tracker("x")))


class Collecting:
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict, headers: dict | None = None) -> None:
        self.published.append(event)


def test_each_new_event_is_published_once_after_it_is_stored(url: str) -> None:
    broker = Collecting()
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url, event_broker=broker)
    state = tracker("published")
    asyncio.run(store.save(state))
    asyncio.run(store.save(state))  # nothing new: nothing published
    state.update(UserUttered("again"))
    asyncio.run(store.save(state))
    assert [e["event"] for e in broker.published] == ["action", "user", "slot", "user"]
    assert {e["sender_id"] for e in broker.published} == {"published"}


def test_event_data_is_encrypted_and_older_plain_events_still_read(url: str) -> None:
    import json

    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    asyncio.run(store.save(tracker("sealed")))
    engine = create_engine(url)
    with engine.begin() as connection:
        stored = (
            connection.execute(text("SELECT data FROM events WHERE sender_id = 'sealed'"))
            .scalars()
            .all()
        )
        assert stored and all(value.startswith("gAAAA") for value in stored)
        assert not any("I am 29" in value for value in stored)
        # An event stored before encryption, as Rasa writes it.
        connection.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES ('sealed', 'slot', 9999999999, :data)"
            ),
            {"data": json.dumps(SlotSet("age", 30, timestamp=9999999999).as_dict())},
        )
    engine.dispose()
    read = asyncio.run(store.retrieve("sealed"))
    assert read.get_slot("age") == 30


def test_a_phone_shaped_sender_is_stored_as_its_digest_and_still_found_and_erased(
    url: str, tmp_path
) -> None:
    from needlecheck.store.tracker_events import erase_events

    phone = "+447700900456"
    store = DurableSQLTrackerStore(domain=DOMAIN, host=url)
    asyncio.run(store.save(tracker(phone)))
    later = asyncio.run(store.retrieve(phone))
    later.update(SlotSet("age", 31))
    asyncio.run(store.save(later))  # only the new event is added, under the same digest
    engine = create_engine(url)
    with engine.begin() as connection:
        senders = connection.execute(text("SELECT DISTINCT sender_id FROM events")).scalars()
        senders = list(senders)
    engine.dispose()
    assert phone not in senders and "447700900456" not in " ".join(senders)
    assert any(s.startswith("hmac:") for s in senders)
    read = asyncio.run(store.retrieve(phone))
    assert read is not None and read.get_slot("age") == 31
    assert len(read.events) == 4
    # needlecheck erase, for a tracker store in another database.
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: needlecheck.production.tracker_store.DurableSQLTrackerStore\n"
        f"  url: {url}\n"
    )
    env = {"NEEDLECHECK_ENDPOINTS": str(endpoints)}
    assert erase_events({phone}, screening_database_url="sqlite://", environ=env) == 4
    assert asyncio.run(store.retrieve(phone)) is None
