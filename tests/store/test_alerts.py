"""Staff alerts in the store (needlecheck.store.alerts), on SQLite and PostgreSQL: raised
where records are stored, "still waiting" once, pending until followed up, claimed by one
dispatcher only, retried with backoff a bounded number of times, erased with the record."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from needlecheck.screening import assess
from needlecheck.store import alerts, privacy, queue, repository
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.models import AlertDelivery, HandoffRequest, StaffAlert
from tests.screening.test_engine import CLEAR

TODAY = datetime(2026, 11, 27, tzinfo=timezone.utc).date()
URGENT = {**CLEAR, "red_flags": ["infection_signs"]}


def screening(sessions, facts=CLEAR, conversation="c-1", key=None) -> int:
    with sessions.begin() as session:
        return repository.save_screening(
            session,
            conversation_id=conversation,
            channel="rest",
            assessment=assess(facts, TODAY),
            consent_text_version="v1",
            idempotency_key=key,
        ).id


def handoff(sessions, conversation="c-1", minutes_ago=0) -> int:
    with sessions.begin() as session:
        request = repository.add_handoff_request(
            session, conversation_id=conversation, reason="call me about my eczema"
        )
        request.created_at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
        return request.id


def raised(sessions) -> list[tuple[str, str, int]]:
    with sessions.begin() as session:
        rows = session.execute(
            select(StaffAlert.kind, StaffAlert.record_type, StaffAlert.record_id).order_by(
                StaffAlert.id
            )
        )
        return [tuple(row) for row in rows]


def test_an_urgent_screening_and_a_handoff_request_raise_alerts_others_do_not(sessions) -> None:
    screening(sessions, CLEAR, "calm")
    urgent = screening(sessions, URGENT, "urgent")
    request = handoff(sessions)
    assert raised(sessions) == [("urgent", "screening", urgent), ("handoff", "handoff", request)]


def test_a_screening_stored_again_with_its_key_raises_no_second_alert(sessions) -> None:
    first = screening(sessions, URGENT, "c-key", key="c-key@1#0")
    assert screening(sessions, URGENT, "c-key", key="c-key@1#0") == first
    assert raised(sessions) == [("urgent", "screening", first)]


def test_an_alert_is_raised_once_per_kind_and_record(sessions) -> None:
    with sessions.begin() as session:
        assert alerts.raise_alert(session, "waiting", "handoff", 7)
        assert not alerts.raise_alert(session, "waiting", "handoff", 7)
        assert alerts.raise_alert(session, "handoff", "handoff", 7)
    assert len(raised(sessions)) == 2


def test_a_person_still_waiting_alerts_once_and_only_while_the_request_is_open(sessions) -> None:
    fresh = handoff(sessions, "fresh", minutes_ago=3)
    waiting = handoff(sessions, "waiting", minutes_ago=20)
    taken = handoff(sessions, "taken", minutes_ago=20)
    stale = handoff(sessions, "stale", minutes_ago=60 * 30)
    with sessions.begin() as session:
        session.execute(
            update(HandoffRequest).where(HandoffRequest.id == taken).values(status="in_progress")
        )
    with sessions.begin() as session:
        assert alerts.raise_waiting(session, 0) == 0  # 0: no waiting alerts
        assert alerts.raise_waiting(session, 15) == 1
        assert alerts.raise_waiting(session, 15) == 0
    assert ("waiting", "handoff", waiting) in raised(sessions)
    kinds = {(kind, record) for kind, _, record in raised(sessions)}
    assert ("waiting", fresh) not in kinds and ("waiting", taken) not in kinds
    assert ("waiting", stale) not in kinds


def test_pending_alerts_are_those_nobody_has_followed_up(sessions) -> None:
    urgent = screening(sessions, URGENT, "urgent")
    request = handoff(sessions, "asked", minutes_ago=30)
    with sessions.begin() as session:
        alerts.raise_waiting(session, 15)
    with sessions.begin() as session:
        count, latest, pending = alerts.pending_for_staff(session)
    assert count == 2  # two records: the handoff's two alerts count once
    assert [a.kind for a in pending] == ["waiting", "handoff", "urgent"]
    assert latest == pending[0].id
    assert pending[-1].path == f"/screenings/{urgent}"
    assert pending[0].as_json()["created_at"].endswith("+00:00")
    with sessions.begin() as session:
        queue.set_follow_up(
            session,
            "screening",
            urgent,
            status="contacted",
            note=None,
            staff_id=None,
            staff_username="bob",
        )
    with sessions.begin() as session:
        count, still_latest, pending = alerts.pending_for_staff(session)
    assert count == 1 and still_latest == latest
    assert {a.record_id for a in pending} == {request}


def deliveries(sessions) -> list[AlertDelivery]:
    with sessions.begin() as session:
        return list(session.execute(select(AlertDelivery).order_by(AlertDelivery.id)).scalars())


def test_deliveries_are_queued_once_per_channel_configured(sessions) -> None:
    screening(sessions, URGENT, "u1")
    with sessions.begin() as session:
        assert alerts.queue_deliveries(session, ("email", "webhook")) == 1
        assert alerts.queue_deliveries(session, ("email", "webhook")) == 0
    assert [d.channel for d in deliveries(sessions)] == ["email", "webhook"]
    # Raised while no channel is configured: marked all the same, never sent later.
    handoff(sessions)
    with sessions.begin() as session:
        assert alerts.queue_deliveries(session, ()) == 1
        assert alerts.queue_deliveries(session, ("email",)) == 0
    assert len(deliveries(sessions)) == 2


def test_a_claimed_delivery_is_nobody_elses_until_its_lease_ends(sessions) -> None:
    screening(sessions, URGENT, "u1")
    now = datetime.now(timezone.utc)
    with sessions.begin() as session:
        alerts.queue_deliveries(session, ("email",), now)
    with sessions.begin() as session:
        (mine,) = alerts.claim(session, "one", now)
    assert (mine.kind, mine.channel, mine.attempt) == ("urgent", "email", 1)
    with sessions.begin() as session:
        assert alerts.claim(session, "two", now) == []
        # The first dispatcher died mid-send: after the lease another one retries.
        (theirs,) = alerts.claim(session, "two", now + alerts.CLAIM_LEASE + timedelta(seconds=1))
    assert theirs.attempt == 2
    with sessions.begin() as session:
        assert not alerts.delivered(session, mine.delivery_id, "one")  # its claim was lost
        assert alerts.delivered(session, theirs.delivery_id, "two")
    with sessions.begin() as session:
        assert alerts.claim(session, "one", now + timedelta(days=1)) == []
    (row,) = deliveries(sessions)
    assert row.status == "sent" and row.sent_at is not None and row.claimed_by is None


def test_a_failed_send_waits_longer_each_time_then_is_given_up(sessions) -> None:
    screening(sessions, URGENT, "u1")
    now = datetime.now(timezone.utc)
    with sessions.begin() as session:
        alerts.queue_deliveries(session, ("webhook",), now)
    waits = []
    for attempt in (1, 2, 3):
        with sessions.begin() as session:
            (claimed,) = alerts.claim(session, "one", now)
            assert claimed.attempt == attempt
        with sessions.begin() as session:
            outcome = alerts.failed(
                session,
                claimed.delivery_id,
                "one",
                "HTTP 500",
                attempts=3,
                retry_seconds=30,
                now=now,
            )
        (row,) = deliveries(sessions)
        if attempt < 3:
            assert outcome == "retry"
            wait = row.next_attempt_at.replace(tzinfo=timezone.utc) - now
            waits.append(wait)
            with sessions.begin() as session:
                assert alerts.claim(session, "one", now + wait - timedelta(seconds=1)) == []
            now += wait
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert outcome == "failed" and row.status == "failed" and row.last_error == "HTTP 500"
    with sessions.begin() as session:
        assert alerts.claim(session, "one", now + timedelta(days=1)) == []
    assert alerts.backoff(20, 30) == alerts.MAX_BACKOFF


def test_two_dispatchers_claiming_at_once_share_without_overlap(sessions, database_url) -> None:
    for number in range(12):
        screening(sessions, URGENT, f"u{number}")
    with sessions.begin() as session:
        alerts.queue_deliveries(session, ("email", "webhook"))
    claims: dict[str, list[int]] = {"one": [], "two": [], "three": []}
    start = threading.Barrier(len(claims))
    # Separate engines: as two front desks, each with its own connections.
    engines = {name: create_db_engine(database_url) for name in claims}

    def dispatcher(name: str) -> None:
        own = session_factory(engines[name])
        start.wait()
        while True:
            with own.begin() as session:
                got = alerts.claim(session, name, limit=3)
            if not got:
                return
            claims[name] += [c.delivery_id for c in got]

    threads = [threading.Thread(target=dispatcher, args=(name,)) for name in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines.values():
        engine.dispose()
    every = [delivery for got in claims.values() for delivery in got]
    assert len(every) == 24 and len(set(every)) == 24


def test_erasure_and_retention_take_the_alerts_and_their_deliveries(sessions) -> None:
    screening(sessions, URGENT, "erase-me")
    handoff(sessions, "erase-me")
    old = screening(sessions, URGENT, "old")
    with sessions.begin() as session:
        alerts.queue_deliveries(session, ("email",))
    with sessions.begin() as session:
        privacy.erase(session, conversation_id="erase-me")
    assert raised(sessions) == [("urgent", "screening", old)]
    with sessions.begin() as session:
        privacy.purge(session, datetime.now(timezone.utc) + timedelta(minutes=1))
    assert raised(sessions) == []
    with sessions.begin() as session:
        assert session.execute(select(func.count(AlertDelivery.id))).scalar() == 0


def test_the_outbox_health_names_a_backlog_and_a_given_up_send_never_a_person(sessions) -> None:
    now = datetime.now(timezone.utc)
    with sessions.begin() as session:
        empty = alerts.outbox_health(session, now)
    assert (empty.unqueued, empty.due, empty.failed) == (0, 0, 0)
    assert not empty.stale(now)

    screening(sessions, URGENT, "u1")
    with sessions.begin() as session:
        waiting = alerts.outbox_health(session, now)
    assert waiting.unqueued == 1
    # Just raised: nobody is behind yet; ten minutes on, no dispatcher has queued it.
    assert not waiting.stale(now)
    assert waiting.stale(now + alerts.STALE_AFTER + timedelta(seconds=1))
    assert waiting.describe().startswith("1 alert(s) not queued")

    with sessions.begin() as session:
        alerts.queue_deliveries(session, ("webhook",), now)
        health = alerts.outbox_health(session, now)
    assert (health.unqueued, health.due, health.failed) == (0, 1, 0)
    assert not health.stale(now)
    assert health.stale(now + alerts.STALE_AFTER + timedelta(seconds=1))

    for _ in range(2):
        with sessions.begin() as session:
            (claimed,) = alerts.claim(session, "one", now + timedelta(days=1))
            alerts.failed(
                session,
                claimed.delivery_id,
                "one",
                "HTTP 502",
                attempts=2,
                retry_seconds=30,
                now=now,
            )
    with sessions.begin() as session:
        given_up = alerts.outbox_health(session, now)
    assert (given_up.due, given_up.failed, given_up.last_error) == (0, 1, "HTTP 502")
    assert given_up.stale(now)
    assert (
        given_up.describe() == "0 delivery(ies) due, 1 failed in the last day, last error HTTP 502"
    )
    # A day later the failure is history: nothing is waiting, nothing is reported.
    with sessions.begin() as session:
        later = alerts.outbox_health(session, now + alerts.FAILED_WITHIN + timedelta(minutes=31))
    assert (later.failed, later.last_error) == (0, None)
    assert not later.stale(now + alerts.FAILED_WITHIN + timedelta(minutes=31))
