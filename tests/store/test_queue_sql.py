"""The queue computed in SQL against the queue as it was computed in Python (every row
read and decrypted, grouped by the decrypted conversation ID, filtered and sorted): the
same rows in the same order, for every filter, across a key rotation's window and with
the clinic's days around a clock change. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import defer

from bench.queue import seed
from needlecheck.store import encryption, queue_rows
from needlecheck.store import queue as queue_store
from needlecheck.store.conversation_groups import split_conversations
from needlecheck.store.models import ContactRequest, HandoffRequest, Screening
from tests.conftest import TEST_DATA_KEY
from tests.frontdesk.support import add_contact, add_handoff, add_screening

LONDON = ZoneInfo("Europe/London")
_RANK = {"urgent_care": 0, "defer": 4, "eligible": 5}


@pytest.fixture(autouse=True)
def own_keys():
    yield
    encryption.use_keys(None)


def reference(
    session,
    status: str = "open",
    outcome: str | None = None,
    since: date | None = None,
    until: date | None = None,
    zone=timezone.utc,
) -> list[tuple[str, int, int, str | None]]:
    """The queue as needlecheck computed it before 2026-12-08, from every row:
    (kind, id, rank, outcome) in order."""

    def aware(moment: datetime) -> datetime:
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment

    latest: dict[str, Screening] = {}
    screenings = select(Screening).options(defer(Screening.facts), defer(Screening.transcript))
    for s in session.execute(screenings).scalars():
        kept = latest.get(s.conversation)
        if kept is None or (aware(s.created_at), s.id) > (aware(kept.created_at), kept.id):
            latest[s.conversation] = s
    rows = []
    for s in latest.values():
        earliest = s.earliest_date if s.outcome == "defer" else None
        rows.append(
            (
                "screening",
                s.id,
                _RANK.get(s.outcome, 2),
                earliest,
                s.created_at,
                s.status,
                s.outcome,
            )
        )
    for c in session.execute(select(ContactRequest)).scalars():
        s = latest.get(c.conversation)
        rank = _RANK.get(s.outcome, 2) if s else 3
        earliest = s.earliest_date if s and s.outcome == "defer" else None
        rows.append(("contact", c.id, rank, earliest, c.created_at, c.status, s and s.outcome))
    for h in session.execute(select(HandoffRequest)).scalars():
        s = latest.get(h.conversation)
        state = "new" if h.status in ("open", "in_progress") else h.status
        rank = 0 if s is not None and s.outcome == "urgent_care" else 1
        rows.append(("handoff", h.id, rank, None, h.created_at, state, s and s.outcome))

    def day(moment: datetime) -> date:
        return aware(moment).astimezone(zone).date()

    chosen = [
        row
        for row in rows
        if (status == "all" or (row[5] != "closed" if status == "open" else row[5] == status))
        and (outcome is None or row[6] == outcome)
        and (since is None or day(row[4]) >= since)
        and (until is None or day(row[4]) <= until)
    ]
    chosen.sort(key=lambda r: (r[2], r[3] or date.max, aware(r[4]), r[0], r[1]))
    return [(r[0], r[1], r[2], r[6]) for r in chosen]


def shown(items: list[queue_store.QueueItem]) -> list[tuple[str, int, int, str | None]]:
    return [(i.kind, i.id, i.rank, i.outcome) for i in items]


FILTERS = [
    {},
    {"status": "all"},
    {"status": "new"},
    {"status": "closed", "outcome": "defer"},
    {"status": "all", "outcome": "urgent_care"},
    {"status": "all", "since": date(2025, 3, 30), "until": date(2025, 10, 26)},
    {"status": "all", "since": date(2026, 3, 29)},
    {"status": "open", "until": date(2024, 10, 27)},
]


def test_the_sql_queue_is_the_python_queue_for_every_filter(sessions) -> None:
    """Three years of records (corrections, phone-shaped conversations stored as
    digests, requests with and without a screening), in the clinic's zone."""
    seed(sessions, screenings=2500)
    with sessions() as session:
        for filters in FILTERS:
            expected = reference(session, zone=LONDON, **filters)
            assert shown(queue_store.queue(session, zone=LONDON, **filters)) == expected
            page = queue_store.queue_page(session, zone=LONDON, page=3, per_page=40, **filters)
            assert page.total == len(expected) > 0
            assert shown(page.items) == expected[80:120]


def test_a_conversation_split_by_a_key_rotation_is_one_conversation(sessions) -> None:
    """Between putting a new key first and `keys rotate`, one SMS conversation has rows
    under its old digest and rows under its new one: the queue still shows its latest
    screening only, and its requests take that screening's outcome."""
    sender = "+447700900123"
    old, new = TEST_DATA_KEY.encode(), Fernet.generate_key()
    encryption.use_keys([old])
    first = add_screening(sessions, sender, "eligible", minutes_ago=60)
    early_handoff = add_handoff(sessions, sender, minutes_ago=50)
    other = add_screening(sessions, "+447700900999", "defer_dated", minutes_ago=40)
    encryption.use_keys([new, old])
    corrected = add_screening(sessions, sender, "urgent_care", minutes_ago=30)
    contact = add_contact(sessions, sender, "Rhoda Penhallow", "+44 7700 900123", minutes_ago=20)
    with sessions() as session:
        stored = set(session.execute(select(Screening.conversation_id)).scalars())
        assert len(stored) == 3  # the sender under two digests, and the other number
        assert len(split_conversations(session)) == 1

    # Urgent care first, who waited longest first; then the other number's deferral.
    expected = [
        ("handoff", early_handoff, 0, "urgent_care"),
        ("screening", corrected, 0, "urgent_care"),
        ("contact", contact, 0, "urgent_care"),
        ("screening", other, 4, "defer"),
    ]

    def check() -> None:
        with sessions() as session:
            assert shown(queue_store.queue(session)) == expected == reference(session)
            page = queue_store.queue_page(session, per_page=2, page=2)
            assert (shown(page.items), page.total) == (expected[2:], 4)
            found = queue_store.queue_page(session, search="penhallow")
            assert [(i.kind, i.id) for i in found.items] == [(k, n) for k, n, *_ in expected[:3]]
            assert {i.conversation_id for i in found.items} == {sender}
            assert first not in {i.id for i in found.items if i.kind == "screening"}

    check()
    with sessions.begin() as session:
        encryption.rotate_all(session)
    with sessions() as session:
        assert split_conversations(session) == {}
    check()
    # The old key dropped: one key, one digest per conversation, nothing to resolve.
    encryption.use_keys([new])
    with sessions() as session:
        assert split_conversations(session) == {}
    check()


@pytest.mark.parametrize("zone", ["Europe/London", "America/Santiago", "Australia/Lord_Howe"])
def test_the_days_bounds_are_the_clinics_calendar_days_across_clock_changes(zone: str) -> None:
    """Every 20 minutes of two years: an instant is on or after the day `since` exactly
    when it is at or after the first bound, and on or before `until` exactly when it is
    before the second (Santiago skips a midnight; Lord Howe moves by half an hour)."""
    place = ZoneInfo(zone)
    at = datetime(2024, 1, 1, tzinfo=timezone.utc)
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(0, 730, 3)]
    bounds = {day: queue_rows.day_bounds(day, day, place) for day in days}
    while at < datetime(2026, 1, 1, tzinfo=timezone.utc):
        local_day = at.astimezone(place).date()
        for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
            if day in bounds:
                start, end = bounds[day]
                assert (at >= start) == (local_day >= day), (zone, at, day)
                assert (at < end) == (local_day <= day), (zone, at, day)
        at += timedelta(minutes=20)
    assert queue_rows.day_bounds(None, None, place) == (None, None)
    assert queue_rows.day_bounds(date(2026, 1, 1), None, None)[0] == datetime.combine(
        date(2026, 1, 1), time(), timezone.utc
    )


def test_a_page_reads_only_its_own_records(sessions) -> None:
    """A page loads (and decrypts) its rows' records alone, whatever the queue's length."""
    seed(sessions, screenings=600)
    loaded: list[int] = []
    with sessions() as session:
        from sqlalchemy import event

        @event.listens_for(session, "loaded_as_persistent")
        def count(_session, instance) -> None:
            loaded.append(instance)

        page = queue_store.queue_page(session, status="all", page=2, per_page=10)
    records = [o for o in loaded if isinstance(o, (Screening, ContactRequest, HandoffRequest))]
    assert len(page.items) == 10 and page.total > 600
    assert len(records) == 10
