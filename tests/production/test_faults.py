"""Faults in the real services and processes, while people talk to the assistant. Each
test restores what it stopped, in a `finally`, even when it fails."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import create_engine, text

from needlecheck.production.supervisor import answers
from needlecheck.security.tokens import health_request
from tests.production import services
from tests.production.conftest import (
    ACTION_SECRET,
    ACTIONS,
    FRONTDESK,
    RASA,
    balancer_all_up,
    pids,
    ready,
    screenings,
    wait_until,
)
from tests.production.support import get_json, persona, personas, say, tracker_events

pytestmark = [pytest.mark.production, pytest.mark.faults, pytest.mark.postgres]

SORRY_ACTION = "something went wrong on our side"
SORRY_SERVICE = "our system is having a problem"


def sender(label: str) -> str:
    # The "." keeps it unlike a widget session's ID, which REST refuses.
    return f"{label}.{uuid.uuid4().hex[:10]}"


def test_action_servers_killed_mid_screening(healthy) -> None:
    who = sender("actions-down")
    clear = persona("clear acne scars")
    port = healthy["balancer"]
    for message in clear.messages[:5]:
        say(port, who, message)
    stored_before = len(tracker_events(port, healthy["token"], who))
    for action_port in ACTIONS:
        for pid in pids(f"needlecheck[.]action_server --port {action_port}"):
            os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    replies = say(port, who, clear.messages[5])
    assert time.monotonic() - started < 5, "the person waited for a timeout"
    assert len(replies) == 1 and SORRY_ACTION in replies[0]
    # The failed turn left nothing behind: the stored conversation is as it was.
    assert len(tracker_events(port, healthy["token"], who)) == stored_before
    # The supervisor starts the action servers again; the same message then goes on.
    # Back when they answer themselves, then when HAProxy has seen them up again.
    wait_until(
        lambda: all(
            answers(health_request(f"http://127.0.0.1:{p}/health", ACTION_SECRET)) for p in ACTIONS
        ),
        "action servers back",
        120,
    )
    wait_until(balancer_all_up, "action servers up in HAProxy", 30)
    for message in clear.messages[5:]:
        replies = say(port, who, message)
        assert not any(SORRY_ACTION in reply for reply in replies)
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["eligible"]


def test_postgres_restarted_during_a_conversation(healthy) -> None:
    who = sender("pg-restart")
    review = persona("on a blood thinner")
    port = healthy["balancer"]
    *before, last = review.messages
    for message in before[:6]:
        say(port, who, message)
    services.restart_postgres()
    for message in before[6:]:
        assert say(port, who, message), f"no reply to {message!r} after the restart"
    # The message that stores the screening, right after a second restart: the pooled
    # connections of both the tracker store and the action server are dead.
    services.restart_postgres()
    replies = say(port, who, last)
    assert replies and not any(SORRY_SERVICE in reply for reply in replies)
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["clinician_review"]


def activity(db: str, who: str) -> tuple | None:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT channel, messages, outcome FROM conversation_activity "
                    "WHERE conversation_id = :who"
                ),
                {"who": who},
            ).first()
    finally:
        engine.dispose()


def events_state() -> str:
    _, body = get_json(f"http://127.0.0.1:{FRONTDESK}/healthz")
    return body["events"]["state"]


def test_rabbitmq_down_conversations_go_on_and_the_front_desk_catches_up(healthy) -> None:
    who = sender("broker-down")
    clear = persona("clear acne scars")
    port = healthy["balancer"]
    wait_until(lambda: events_state() == "connected", "front desk consuming", 60)
    with services.rabbitmq_down():
        wait_until(lambda: events_state() == "reconnecting", "front desk noticing", 30)
        for message in clear.messages:
            replies = say(port, who, message)
            assert replies and not any(SORRY_SERVICE in r for r in replies)
        # The queue reads the database: the screening is there while the broker is down.
        assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["eligible"]
        assert activity(healthy["db"], who) is None
    wait_until(lambda: events_state() == "connected", "front desk reconnected", 120)
    # Rasa publishes the events it kept; the front desk records the conversation.
    wait_until(lambda: activity(healthy["db"], who) is not None, "activity caught up", 60)
    wait_until(
        lambda: activity(healthy["db"], who)[2] == "eligible", "activity up to the result", 60
    )
    channel, messages, _ = activity(healthy["db"], who)
    assert channel == "rest"
    assert messages == len(clear.messages)


def lb_ready_body(port: int) -> bytes:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/webhooks/health/ready") as reply:
            return reply.read()
    except urllib.error.HTTPError as error:
        return error.read()


def test_redis_down_instances_report_unhealthy_and_answer_clearly(healthy) -> None:
    who = sender("redis-down")
    clear = persona("clear acne scars")
    for message in clear.messages[:4]:
        say(RASA[0], who, message)
    before = tracker_events(RASA[0], healthy["token"], who)
    with services.redis_down():
        wait_until(lambda: not any(ready(p) for p in RASA), "instances unready", 20)
        status, body = get_json(f"http://127.0.0.1:{RASA[0]}/webhooks/health/ready")
        assert status == 503 and body["checks"]["lock_store"].startswith("down")
        replies = say(RASA[0], who, clear.messages[4])
        assert len(replies) == 1 and SORRY_SERVICE in replies[0]
        # Through the load balancer: once its checks mark both instances down (2 failed
        # checks, 1 s apart), no instance takes the message, and the error says why.
        wait_until(
            lambda: b"unavailable" in lb_ready_body(healthy["balancer"]), "LB marks down", 20
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            say(healthy["balancer"], who, clear.messages[4])
        assert refused.value.code == 503
        assert b"unavailable" in refused.value.read()
    wait_until(balancer_all_up, "instances ready again", 30)
    assert tracker_events(RASA[0], healthy["token"], who) == before
    for message in clear.messages[4:]:
        say(healthy["balancer"], who, message)
    assert [outcome for outcome, _ in screenings(healthy["db"], who)] == ["eligible"]


def test_one_instance_killed_under_load(healthy) -> None:
    """Eight people talk at once through the load balancer while one instance is killed:
    messages fail only around the kill (until the load balancer has marked the instance
    down), and every conversation ends with its one right screening."""
    port = healthy["balancer"]
    # The first four stored personas, twice: eight people, as the test was measured for.
    cast = [p for p in personas() if p.stored][:4] * 2
    failures: list[tuple[str, float]] = []
    killed_at: list[float] = []
    results: dict[str, str] = {}

    def talk(index: int) -> None:
        who = f"load-kill.{index}.{uuid.uuid4().hex[:6]}"
        results[who] = cast[index].outcome
        for message in cast[index].messages:
            # Until HAProxy marks the killed instance down (2 checks, 1 s apart) a retry may
            # meet it again; every failure must still fall inside that window (below).
            for attempt in range(6):
                try:
                    say(port, who, message, timeout=30)
                    break
                except (urllib.error.URLError, OSError) as error:
                    failures.append((who, time.monotonic()))
                    if attempt == 5:
                        raise AssertionError(f"{who}: failing past the detection time") from error
                    time.sleep(0.5)

    people = [threading.Thread(target=talk, args=(i,)) for i in range(len(cast))]
    for person in people:
        person.start()
    time.sleep(2)
    victim = pids(f"needlecheck[.]rasa_server run .*--port {RASA[0]}")
    assert victim, "instance 1 is not running"
    killed_at.append(time.monotonic())
    for pid in victim:
        os.kill(pid, signal.SIGKILL)
    for person in people:
        person.join(timeout=300)
    assert not any(person.is_alive() for person in people)
    # In-flight requests at the kill fail, once each; nothing fails later than the
    # health check's detection time (2 checks, 1 s apart).
    assert all(at - killed_at[0] < 3 for _, at in failures), failures
    for who, outcome in results.items():
        assert [o for o, _ in screenings(healthy["db"], who)] == [outcome], who
    wait_until(lambda: ready(RASA[0]), "the killed instance back", 300)
