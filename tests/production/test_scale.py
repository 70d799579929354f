"""Two Rasa instances share conversations through PostgreSQL and Redis: a conversation
may move between them at every turn, and one person's messages never race each other."""

from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.production.conftest import RASA, pids, ready, screenings, wait_until
from tests.production.support import persona, say, tracker_events

pytestmark = [pytest.mark.production, pytest.mark.postgres]


def sender(label: str) -> str:
    # The "." keeps it unlike a widget session's ID, which REST refuses.
    return f"{label}.{uuid.uuid4().hex[:10]}"


def test_turns_alternating_between_instances_give_one_right_screening(healthy) -> None:
    who = sender("alternate")
    clear = persona("clear acne scars")
    for turn, message in enumerate(clear.messages):
        replies = say(RASA[turn % 2], who, message)
        assert replies, f"no reply to {message!r} on instance {turn % 2 + 1}"
    assert "nothing in your answers that rules microneedling out" in " ".join(replies)
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["eligible"]


def test_ten_messages_at_once_for_one_person_are_processed_one_at_a_time(healthy) -> None:
    who = sender("burst")
    review = persona("on a blood thinner")
    *before, last = review.messages
    for message in before:
        say(healthy["balancer"], who, message)
    # The last answer ten times at once, half to each instance: the lock store lets one
    # through at a time; the first completes the screening, the others come after it.
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda n: say(RASA[n % 2], who, last), range(10)))
    assert all(replies), "a message got no reply"
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["clinician_review"]

    events = tracker_events(RASA[0], healthy["token"], who)
    users = [i for i, event in enumerate(events) if event["event"] == "user"]
    assert len(users) == len(before) + 10, "a message is missing from the conversation"
    # One at a time: every message comes after the assistant finished the one before
    # and listened again; no turn starts inside another.
    for index in users:
        actions = [e for e in events[:index] if e["event"] == "action"]
        assert actions[-1]["name"] == "action_listen", f"turn overlap before event {index}"
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps), "events stored out of order"


def test_a_conversation_survives_a_restart_of_both_instances(healthy) -> None:
    who = sender("restart")
    defer = persona("isotretinoin two months ago")
    half = len(defer.messages) // 2
    for message in defer.messages[:half]:
        say(RASA[0], who, message)
    before = tracker_events(RASA[0], healthy["token"], who)
    for port in RASA:
        for pid in pids(f"needlecheck[.]rasa_server run .*--port {port}"):
            os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not any(ready(port) for port in RASA), "both instances stopping", 60)
    # The supervisor starts them again; each reads the conversation from PostgreSQL.
    wait_until(lambda: all(ready(port) for port in RASA), "both instances back", 300)
    after = tracker_events(RASA[1], healthy["token"], who)
    assert [e["event"] for e in after[: len(before)]] == [e["event"] for e in before]
    for message in defer.messages[half:]:
        replies = say(RASA[1], who, message)
    assert "should wait" in " ".join(replies)
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["defer"]
