"""The Overview's summary (needlecheck.store.overview_summary) on SQLite and PostgreSQL:
after a random mix of every write the Overview reads (screenings and corrections, contact
requests, follow-ups and bookings, funnel steps, overrides, erasures and purges, out of
time order), it gives the same numbers as counting the raw tables, and a rebuild gives
the same rows; it holds no conversation; a change of zone rebuilds it."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from needlecheck.screening import assess
from needlecheck.store import funnel, overview_summary, privacy, repository
from needlecheck.store import queue as queue_store
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    HandoffRequest,
    OverviewCount,
    OverviewWait,
    Screening,
)
from needlecheck.store.overview import live_overview, overview
from tests.frontdesk.support import FACTS, TODAY
from tests.screening.test_engine import CLEAR

LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 3, 1, tzinfo=timezone.utc)  # summer time starts within the span
SPAN_DAYS = 60


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The time the store's writes are stamped with (their column defaults), set by the test."""
    now = [START]
    for model in (Screening, ContactRequest, HandoffRequest, FollowUp):
        default = model.__table__.c.created_at.default
        monkeypatch.setattr(default, "arg", lambda context: now[0])
    return now


def rows(session) -> tuple[dict, dict]:
    counts = {
        (r.series, r.day, r.key): r.n for r in session.execute(select(OverviewCount)).scalars()
    }
    waits = {
        (r.bucket, r.day, r.wait_ms): r.n for r in session.execute(select(OverviewWait)).scalars()
    }
    return {k: n for k, n in counts.items() if n}, {k: n for k, n in waits.items() if n}


def same_numbers(session, start: date, end: date, zone) -> None:
    kept, live = overview(session, start, end, zone), live_overview(session, start, end, zone)
    if live.median_contact_seconds is None:
        assert kept.median_contact_seconds is None
    else:
        # Kept to the millisecond; SQLite's own arithmetic (julianday) is no finer.
        assert kept.median_contact_seconds == pytest.approx(live.median_contact_seconds, abs=2e-3)
    kept.median_contact_seconds = live.median_contact_seconds = None
    assert kept == live


def random_writes(sessions: sessionmaker, clock: list[datetime], rng: random.Random) -> None:
    conversations = [f"web-{n}" for n in range(12)] + ["+447700900123", "+447700900456"]
    kinds = list(FACTS)
    for step in range(160):
        clock[0] = START + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 60))
        who = rng.choice(conversations)
        roll = rng.random()
        with sessions.begin() as session:
            if roll < 0.35:
                repository.save_screening(
                    session,
                    conversation_id=who,
                    channel=rng.choice(("web", "twilio", "telegram")),
                    assessment=assess({**CLEAR, **FACTS[rng.choice(kinds)]}, TODAY),
                    consent_text_version="v1",
                    idempotency_key=rng.choice((None, f"{who}-{step}")),
                )
            elif roll < 0.45:
                repository.add_contact_request(
                    session,
                    conversation_id=who,
                    details=repository.normalise_contact("A Person", "+44 7700 900000", None, None),
                    consent_given=True,
                    consent_text_version="v1",
                )
            elif roll < 0.50:
                repository.add_handoff_request(session, conversation_id=who, reason="a person")
            elif roll < 0.70:
                stage = rng.choice((funnel.STARTED, funnel.CONSENTED, funnel.question_stage("age")))
                funnel.record_stage(session, who, stage, clock[0])
            elif roll < 0.88:
                kind, model = rng.choice(
                    (
                        ("screening", Screening),
                        ("contact", ContactRequest),
                        ("handoff", HandoffRequest),
                    )
                )
                ids = list(session.execute(select(model.id)).scalars())
                if ids:
                    queue_store.set_follow_up(
                        session,
                        kind,
                        rng.choice(ids),
                        status=rng.choice(("contacted", "booked", "closed", "booked")),
                        note=None,
                        staff_id=None,
                        staff_username="alice",
                    )
            elif roll < 0.92:
                ids = list(session.execute(select(Screening.id)).scalars())
                if ids:
                    queue_store.add_override(
                        session,
                        rng.choice(ids),
                        outcome="eligible",
                        reason="seen",
                        role="clinician",
                        staff_id=None,
                        staff_username="alice",
                    )
            elif roll < 0.97:
                privacy.erase(session, conversation_id=who)
            else:
                privacy.purge(session, START + timedelta(days=rng.randrange(SPAN_DAYS // 2)))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_summary_equals_counting_the_records_after_any_mix_of_writes(
    sessions: sessionmaker, clock: list[datetime], seed: int
) -> None:
    with sessions.begin() as session:
        overview_summary.rebuild(session, LONDON)
    rng = random.Random(seed)
    random_writes(sessions, clock, rng)
    first, last = START.date(), (START + timedelta(days=SPAN_DAYS)).date()
    with sessions.begin() as session:
        assert session.execute(select(Screening)).first() is not None
        kept = rows(session)
        same_numbers(session, first, last, LONDON)
        for _ in range(8):
            a = first + timedelta(days=rng.randrange(SPAN_DAYS))
            same_numbers(session, a, a + timedelta(days=rng.randrange(31)), LONDON)
    with sessions.begin() as session:
        overview_summary.rebuild(session, LONDON)
        assert rows(session) == kept


def test_the_summary_holds_counts_and_no_conversation(
    sessions: sessionmaker, clock: list[datetime]
) -> None:
    phone = "+447700900777"
    with sessions.begin() as session:
        overview_summary.rebuild(session, LONDON)
        repository.save_screening(
            session,
            conversation_id=phone,
            channel="twilio",
            assessment=assess({**CLEAR, **FACTS["defer_dated"]}, TODAY),
            consent_text_version="v1",
        )
        funnel.record_stage(session, phone, funnel.STARTED)
    with sessions.begin() as session:
        counts, waits = rows(session)
        assert counts and not waits
        stored = " ".join(str(key) for key in counts)
        assert phone not in stored and "hmac" not in stored and "web-" not in stored
        assert {series for series, _, _ in counts} >= {"outcome", "channel", "first_outcome"}
        privacy.erase(session, conversation_id=phone)
    with sessions.begin() as session:
        assert rows(session) == ({}, {})


def test_another_zone_rebuilds_it_and_counts_that_zones_days(
    sessions: sessionmaker, clock: list[datetime]
) -> None:
    random_writes(sessions, clock, random.Random(3))
    first, last = START.date(), (START + timedelta(days=SPAN_DAYS)).date()
    for zone in (LONDON, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")):
        with sessions.begin() as session:
            same_numbers(session, first, last, zone)
            assert overview_summary.summary_zone(session).key == zone.key


def test_the_front_desks_start_rebuilds_it_only_for_another_zone(
    sessions: sessionmaker, caplog: pytest.LogCaptureFixture
) -> None:
    from needlecheck.config import Settings
    from needlecheck.frontdesk.server import summary_in_zone

    caplog.set_level("INFO", logger="needlecheck.frontdesk.server")
    with sessions.begin() as session:
        overview_summary.rebuild(session, LONDON)
    summary_in_zone(sessions, Settings.from_environment({"NEEDLECHECK_TIMEZONE": LONDON.key}))
    assert "rebuilt" not in caplog.text
    kolkata = Settings.from_environment({"NEEDLECHECK_TIMEZONE": "Asia/Kolkata"})
    summary_in_zone(sessions, kolkata)
    assert "overview summary rebuilt for Asia/Kolkata" in caplog.text
    with sessions.begin() as session:
        assert overview_summary.summary_zone(session).key == "Asia/Kolkata"


def test_without_a_setting_the_servers_zone_is_found_by_its_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A named zone follows summer time; a fixed offset would move the clinic's days (and
    rebuild the summary) twice a year."""
    from needlecheck.store import clinic_days

    monkeypatch.setenv("TZ", ":Europe/Lisbon")
    assert clinic_days.clinic_zone(None) == ZoneInfo("Europe/Lisbon")
    monkeypatch.delenv("TZ")
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/America/Chicago")
    monkeypatch.setattr(clinic_days, "LOCALTIME", str(link))
    assert clinic_days.clinic_zone(None) == ZoneInfo("America/Chicago")
    monkeypatch.setenv("TZ", "Not/AZone")
    assert clinic_days.clinic_zone(None) == ZoneInfo("America/Chicago")
    monkeypatch.setattr(clinic_days, "LOCALTIME", str(tmp_path / "missing"))
    monkeypatch.delenv("TZ")
    fixed = clinic_days.clinic_zone(None)
    assert not isinstance(fixed, ZoneInfo) and fixed.utcoffset(None) is not None
    assert clinic_days.clinic_zone("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")


def test_the_purge_uncounts_exactly_the_funnel_steps_it_deletes(
    sessions: sessionmaker,
) -> None:
    """A cut-off between two steps of the same second: only the earlier one goes, from the
    table and from the summary (the daily purge's cut-off falls at any time of day)."""
    at = datetime(2026, 1, 5, 12, 0, 0, 200000, tzinfo=timezone.utc)
    with sessions.begin() as session:
        overview_summary.rebuild(session, LONDON)
        funnel.record_stage(session, "early", funnel.STARTED, at)
        funnel.record_stage(session, "late", funnel.STARTED, at + timedelta(milliseconds=500))
    with sessions.begin() as session:
        privacy.purge(session, at + timedelta(milliseconds=300))
    with sessions.begin() as session:
        counts, _ = rows(session)
        assert {k: n for k, n in counts.items() if k[0] == "stage"} == {
            ("stage", date(2026, 1, 5), funnel.STARTED): 1
        }
        same_numbers(session, date(2026, 1, 1), date(2026, 1, 10), LONDON)


@pytest.mark.postgres
def test_two_instances_storing_one_screening_at_once_count_it_once(postgres_url: str) -> None:
    """Two Rasa instances retry the same screening (one idempotency key) at the same moment:
    the second waits for the first to commit, finds its row, and adds nothing to the
    summary. Without the per-conversation lock, the second's "after" count would include
    the first's screening and count it twice."""
    import threading
    import time

    from sqlalchemy import create_engine, text

    upgrade(postgres_url)
    engine = create_db_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as session:
            overview_summary.rebuild(session, LONDON)

        def store(session) -> int:
            return repository.save_screening(
                session,
                conversation_id="web-race",
                channel="socketio",
                assessment=assess(CLEAR, TODAY),
                consent_text_version="v1",
                idempotency_key="web-race@1#0",
            ).id

        stored: list[int] = []
        first_wrote = threading.Event()

        def second() -> None:
            first_wrote.wait(10)
            with sessions.begin() as session:
                stored.append(store(session))

        other = threading.Thread(target=second)
        other.start()
        with sessions.begin() as session:
            stored.append(store(session))
            first_wrote.set()
            time.sleep(1.0)  # the second is now waiting on this transaction
        other.join(20)
        assert not other.is_alive()
        assert stored[0] == stored[1]
        today = datetime.now(timezone.utc).date()
        with sessions.begin() as session:
            counts, _ = rows(session)
            assert sum(n for (series, _, _), n in counts.items() if series == "outcome") == 1
            same_numbers(session, today - timedelta(days=1), today + timedelta(days=1), LONDON)
    finally:
        engine.dispose()
        cleanup = create_engine(postgres_url, future=True)
        with cleanup.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        cleanup.dispose()
