"""A screening stored twice with one idempotency key is one row; conversation activity
from Rasa's event stream (both on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from needlecheck.screening import assess
from needlecheck.store import activity, privacy, repository
from needlecheck.store.models import ConversationActivity, Screening
from tests.screening.test_engine import CLEAR

TODAY = datetime(2026, 11, 27, tzinfo=timezone.utc).date()


def store(sessions, key: str | None, conversation: str = "c-1") -> int:
    with sessions.begin() as session:
        return repository.save_screening(
            session,
            conversation_id=conversation,
            channel="rest",
            assessment=assess(CLEAR, TODAY),
            consent_text_version="v1",
            idempotency_key=key,
        ).id


def count(sessions) -> int:
    with sessions.begin() as session:
        return session.execute(select(func.count(Screening.id))).scalar()


def test_the_same_key_stores_one_screening(sessions) -> None:
    first = store(sessions, "c-1@1.5#0")
    assert store(sessions, "c-1@1.5#0") == first
    assert count(sessions) == 1


def test_another_key_or_no_key_is_another_screening(sessions) -> None:
    store(sessions, "c-1@1.5#0")
    store(sessions, "c-1@1.5#1")
    store(sessions, None)
    store(sessions, None)
    assert count(sessions) == 4


def test_two_writers_with_one_key_at_once_store_one_row(sessions, database_url) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; the race needs two database sessions at once")
    ids: list[int] = []
    start = threading.Barrier(4)

    def write() -> None:
        start.wait()
        ids.append(store(sessions, "c-race@2.0#0", "c-race"))

    writers = [threading.Thread(target=write) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert len(set(ids)) == 1 and len(ids) == 4
    assert count(sessions) == 1


def event(kind: str, at: float, **fields) -> dict:
    return {"sender_id": "conv-1", "event": kind, "timestamp": at, **fields}


def test_activity_follows_a_conversation_without_its_words(sessions) -> None:
    now = datetime.now(timezone.utc).timestamp()
    with sessions.begin() as session:
        activity.record_event(
            session, event("user", now, text="I take warfarin", input_channel="rest")
        )
        activity.record_event(session, event("slot", now + 1, name="requested_slot", value="age"))
        activity.record_event(session, event("user", now + 2, text="29", input_channel="rest"))
    with sessions.begin() as session:
        (row,) = activity.in_progress(session, datetime.now(timezone.utc))
        assert (row.channel, row.messages, row.step) == ("rest", 2, "age")
        stored = session.get(ConversationActivity, "conv-1")
        assert "warfarin" not in repr(vars(stored))
        # Published late (kept by another instance during a broker outage): counted,
        # without moving the conversation back a step.
        activity.record_event(session, event("user", now + 0.5, input_channel="rest"))
        activity.record_event(session, event("slot", now + 0.6, name="requested_slot", value="x"))
        assert (stored.messages, stored.step) == (3, "age")
    with sessions.begin() as session:
        activity.record_event(
            session, event("slot", now + 3, name="screening_outcome", value="eligible")
        )
    with sessions.begin() as session:
        assert activity.in_progress(session, datetime.now(timezone.utc)) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "user", "timestamp": 1.0},
        {"sender_id": "", "event": "user", "timestamp": 1.0},
        {"sender_id": "x", "event": "user"},
        {"sender_id": "x", "event": "user", "timestamp": "yesterday"},
        {"sender_id": "x", "event": "user", "timestamp": True},
    ],
)
def test_an_event_that_cannot_be_placed_is_refused(sessions, bad) -> None:
    with sessions.begin() as session, pytest.raises(activity.InvalidEvent):
        activity.record_event(session, bad)


def test_activity_is_erased_with_the_person_and_forgotten_after_days(sessions) -> None:
    old = (datetime.now(timezone.utc) - timedelta(days=3)).timestamp()
    with sessions.begin() as session:
        activity.record_event(session, event("user", old))
        activity.record_event(session, {**event("user", old), "sender_id": "conv-2"})
    with sessions.begin() as session:
        deleted = privacy.erase(session, conversation_id="conv-1")
        assert deleted["conversation activity"] == 1
    with sessions.begin() as session:
        assert activity.forget(session, datetime.now(timezone.utc) - timedelta(days=2)) == 1
