"""Live takeover's storage: one member of staff at a time (the database decides, races
included), staff words encrypted at rest, a conditional hand-back, erasure and purge."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from needlecheck.store import privacy
from needlecheck.store import takeover as takeover_store
from needlecheck.store.models import Takeover, TakeoverMessage

CONVERSATION = "a1b2c3d4e5f6a7b8c9d0e1f2"


def take(sessions, who: str, conversation: str = CONVERSATION) -> int:
    return takeover_store.take_over(
        sessions, conversation, staff_id=None, staff_username=who, channel="socketio"
    )


def test_one_member_holds_a_conversation_and_the_second_is_told_who(sessions) -> None:
    first = take(sessions, "ana")
    with pytest.raises(takeover_store.Taken) as taken:
        take(sessions, "ben")
    assert taken.value.holder == "ana"
    assert "ana has already taken over" in str(taken.value)
    # The same member pressing again gets their own takeover back.
    assert take(sessions, "ana") == first
    # Another conversation is free.
    take(sessions, "ben", "another0conversation0id0")


def test_a_lost_race_is_refused_by_the_database_not_by_the_read(sessions, monkeypatch) -> None:
    take(sessions, "ana")
    # Ben's read saw nobody (he read before Ana's insert committed): the unique key refuses.
    real = takeover_store.active
    calls = []

    def stale(session, conversation):
        calls.append(conversation)
        return None if len(calls) == 1 else real(session, conversation)

    monkeypatch.setattr(takeover_store, "active", stale)
    with pytest.raises(takeover_store.Taken) as taken:
        take(sessions, "ben")
    assert taken.value.holder == "ana"
    monkeypatch.setattr(takeover_store, "active", real)
    with sessions.begin() as session:
        assert len(takeover_store.history(session, CONVERSATION)) == 1


def test_a_takeover_that_could_not_start_is_undone(sessions) -> None:
    held = take(sessions, "ana")
    takeover_store.abandon(sessions, held)
    take(sessions, "ben")
    with sessions.begin() as session:
        assert takeover_store.active(session, CONVERSATION).staff_username == "ben"


def test_of_many_staff_pressing_together_exactly_one_takes_over(sessions) -> None:
    staff = [f"staff{i}" for i in range(6)]
    barrier = threading.Barrier(len(staff))
    won: list[str] = []
    refused: list[str] = []

    def press(who: str) -> None:
        barrier.wait()
        try:
            take(sessions, who)
            won.append(who)
        except takeover_store.Taken as error:
            refused.append(error.holder)

    threads = [threading.Thread(target=press, args=(who,)) for who in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1, (won, refused)
    assert len(refused) == len(staff) - 1
    assert set(refused) <= {won[0], "someone else"}


def test_staff_words_are_encrypted_at_rest_and_hand_back_ends_it_once(sessions) -> None:
    take(sessions, "ana")
    with sessions.begin() as session:
        held = takeover_store.holding(session, CONVERSATION, "ana")
        takeover_store.add_message(session, held, "ana", "Hello, this is Ana.", delivered=True)
        with pytest.raises(takeover_store.NotHeld):
            takeover_store.holding(session, CONVERSATION, "ben")
    with sessions.begin() as session:
        stored = session.execute(text("SELECT text FROM takeover_messages")).scalar_one()
        assert "Ana" not in stored
        assert session.get(TakeoverMessage, 1).text == "Hello, this is Ana."
    with sessions.begin() as session:
        held = takeover_store.holding(session, CONVERSATION, "ana")
        takeover_store.hand_back(session, held, "ana", "continue")
    with sessions.begin() as session:
        assert takeover_store.active(session, CONVERSATION) is None
        (ended,) = takeover_store.history(session, CONVERSATION)
        assert (ended.ending, ended.ended_by) == ("continue", "ana")
        with pytest.raises(takeover_store.NotHeld):
            takeover_store.hand_back(session, ended, "ana", "end")
    # Free again: another member may take over.
    take(sessions, "ben")


def test_erasure_and_the_purge_delete_takeovers_and_staff_words(sessions) -> None:
    take(sessions, "ana")
    with sessions.begin() as session:
        held = takeover_store.holding(session, CONVERSATION, "ana")
        takeover_store.add_message(session, held, "ana", "Hi", delivered=True)
    with sessions.begin() as session:
        deleted = privacy.erase(session, conversation_id=CONVERSATION)
    assert deleted["takeover"] == 1
    with sessions.begin() as session:
        assert session.query(Takeover).count() == 0
        assert session.query(TakeoverMessage).count() == 0
    take(sessions, "ana")
    with sessions.begin() as session:
        later = datetime.now(timezone.utc) + timedelta(days=1)
        assert privacy.purge(session, later)["takeover"] == 1
