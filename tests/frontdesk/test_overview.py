"""The Overview page (clinicians): its numbers on SQLite and PostgreSQL, the clinic's days
across summer time, the funnel's storage (digests only, erased and purged with the rest),
the page and its CSVs in this process, and its time on a year of a busy clinic's data."""

from __future__ import annotations

import csv
import io
import os
import re
import statistics
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bench.overview import END, seed
from needlecheck.config import Settings
from needlecheck.store import funnel, privacy
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import FollowUp, FunnelEvent, Screening, ScreeningFinding
from needlecheck.store.overview import bounds, live_overview, offset_pieces, overview
from tests.frontdesk.conftest import sign_in
from tests.frontdesk.support import PASSWORDS, add_accounts

LONDON = ZoneInfo("Europe/London")
# The page's budget on a year of a busy clinic (docs/performance.md).
BUDGET_MS = 300
# 100,000 by default, as the issue asks; fewer for a quick local run.
SEEDED = int(os.environ.get("NEEDLECHECK_OVERVIEW_SEED", "100000"))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker]:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


def add(session, n: int, at: datetime, outcome: str | None, channel: str = "web") -> Screening:
    row = Screening(
        conversation_id=f"c-{n}",
        channel=channel,
        facts={},
        outcome=outcome,
        missing=[],
        policy_name="test",
        policy_version="1",
        assessed_on=at.date(),
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    return row


def test_offsets_are_cut_where_summer_time_starts_and_ends() -> None:
    first, last = bounds(date(2026, 3, 27), date(2026, 10, 26), LONDON)
    pieces = offset_pieces(first, last, LONDON)
    assert [minutes for _, _, minutes in pieces] == [0, 60, 0]
    assert pieces[1][0] == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    assert pieces[2][0] == datetime(2026, 10, 25, 1, 0, tzinfo=timezone.utc)
    assert pieces[0][0] == first and pieces[-1][1] == last


def test_the_numbers_count_the_clinics_days(sessions: sessionmaker) -> None:
    with sessions.begin() as session:
        # 23:30 UTC on 1 July is 00:30 on 2 July in London; 23:30 UTC on 1 December is
        # still 1 December there.
        summer = add(session, 1, datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc), "eligible")
        add(session, 2, datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc), "defer", "twilio")
        add(session, 3, datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc), None, "twilio")
        session.add(
            ScreeningFinding(
                screening_id=summer.id,
                position=0,
                rule_id="DF-ISOTRETINOIN",
                severity="defer",
                reason="r",
                source="s",
            )
        )
        for status, hours in (("contacted", 2), ("booked", 20)):
            session.add(
                FollowUp(
                    record_type="screening",
                    record_id=summer.id,
                    status=status,
                    staff_username="alice",
                    created_at=summer.created_at + timedelta(hours=hours),
                )
            )
        funnel.record_stage(session, "c-1", funnel.STARTED, summer.created_at)
        funnel.record_stage(session, "c-1", funnel.CONSENTED, summer.created_at)
        funnel.record_stage(session, "c-1", funnel.question_stage("age"), summer.created_at)
        funnel.record_stage(session, "c-9", funnel.STARTED, summer.created_at)
    with sessions.begin() as session:
        july = overview(session, date(2026, 7, 1), date(2026, 7, 2), LONDON)
        december = overview(session, date(2026, 12, 1), date(2026, 12, 1), LONDON)
        year = overview(session, date(2026, 1, 1), date(2026, 12, 31), LONDON)
    assert july.per_day[date(2026, 7, 1)]["eligible"] == 0
    assert july.per_day[date(2026, 7, 2)]["eligible"] == 1
    assert december.per_day[date(2026, 12, 1)] == {
        "urgent_care": 0,
        "not_suitable": 0,
        "defer": 1,
        "clinician_review": 0,
        "eligible": 0,
        "unfinished": 1,
    }
    steps = {key: n for key, _, n in july.funnel}
    assert steps["started"] == 2 and steps["consented"] == 1
    assert steps["question:age"] == 1 and steps["question:conditions"] == 0
    assert steps["outcome"] == 1 and steps["booked"] == 1
    assert july.rules == [("DF-ISOTRETINOIN", 1)]
    assert july.median_contact_seconds == pytest.approx(7200, abs=1)
    assert dict(july.contact_times)["1 to 4 hours"] == 1
    assert dict(december.contact_times)["not contacted yet"] == 2
    assert december.channels == [("twilio", 2)]
    assert year.screenings == 3 and len(year.days) == 365


def test_the_funnel_keeps_a_keyed_digest_once_per_stage_and_is_erased_and_purged(
    sessions: sessionmaker,
) -> None:
    phone = "+447700900123"
    with sessions.begin() as session:
        assert funnel.record_stage(session, phone, funnel.STARTED)
        assert not funnel.record_stage(session, phone, funnel.STARTED)
        funnel.record_stage(
            session, "web-abc", funnel.STARTED, datetime(2020, 1, 1, tzinfo=timezone.utc)
        )
        with pytest.raises(ValueError):
            funnel.record_stage(session, phone, "said something")
    with sessions.begin() as session:
        rows = session.execute(select(FunnelEvent)).scalars().all()
        assert {row.stage for row in rows} == {"started"}
        assert all(row.conversation_digest.startswith("hmac:") for row in rows)
        assert not any(
            phone in row.conversation_digest or "web-abc" in row.conversation_digest for row in rows
        )
    with sessions.begin() as session:
        assert privacy.erase(session, phone=None, conversation_id=phone)["funnel step"] == 1
        assert privacy.purge(session, datetime(2021, 1, 1, tzinfo=timezone.utc))["funnel step"] == 1
        assert session.execute(select(FunnelEvent)).first() is None


def _client(sessions: sessionmaker, tmp_path):
    from fastapi.testclient import TestClient

    from needlecheck.frontdesk.app import create_app

    settings = Settings.from_environment(
        {
            **os.environ,
            "NEEDLECHECK_VAR_DIR": str(tmp_path),
            "NEEDLECHECK_TODAY": END.isoformat(),
            "NEEDLECHECK_TIMEZONE": "Europe/London",
        }
    )
    return TestClient(
        create_app(sessions, settings), base_url="http://localhost", follow_redirects=False
    )


def test_the_page_and_its_csvs(sessions: sessionmaker, tmp_path) -> None:
    add_accounts(sessions)
    seed(sessions, screenings=300, days=30)
    with _client(sessions, tmp_path) as client:
        assert sign_in(client, "alice", PASSWORDS["alice"]).status_code == 303
        page = client.get("/overview")
        assert page.status_code == 200
        # The last 7 days up to today in the clinic's zone.
        assert 'name="from" value="2026-11-30"' in page.text
        assert 'name="to" value="2026-12-06"' in page.text
        assert page.text.count('<svg class="chart"') == 5
        assert page.text.count("<desc id=") == 5 and page.text.count("<table") == 5
        # The plots need no script: the page's only one is the staff alerts' (every page).
        assert "style=" not in page.text
        assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/alerts.js" defer>']
        assert "db;dur=" in page.headers["server-timing"]
        for plot in ("per_day", "funnel", "channels", "first_contact", "rules"):
            assert f'href="/overview/{plot}.csv?from=2026-11-30&amp;to=2026-12-06"' in page.text
            answer = client.get(
                f"/overview/{plot}.csv", params={"from": "2026-11-30", "to": "2026-12-06"}
            )
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(
                "text/csv"
            )
            rows = list(csv.reader(io.StringIO(answer.text)))
            assert len(rows) > 1
        days = list(csv.reader(io.StringIO(client.get("/overview/per_day.csv").text)))
        assert days[0][0] == "date" and days[0][-1] == "total" and len(days) == 8
        assert client.get("/overview/nothing.csv").status_code == 404
        assert (
            client.get("/overview", params={"from": "2026-12-06", "to": "2026-12-01"}).status_code
            == 422
        )
        assert (
            client.get("/overview", params={"from": "2024-01-01", "to": "2026-12-01"}).status_code
            == 422
        )
        month = client.get("/overview", params={"from": "2026-11-07", "to": "2026-12-06"})
        assert month.status_code == 200 and 'value="2026-11-07"' in month.text
    with _client(sessions, tmp_path) as client:
        assert sign_in(client, "bob", PASSWORDS["bob"]).status_code == 303
        assert client.get("/overview").status_code == 403
        assert "/overview" not in client.get("/").text


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def busy_clinic(request, tmp_path_factory) -> Iterator[tuple[sessionmaker, str]]:
    """A year of a busy clinic: 100,000 screenings with findings, contacts, follow-ups and
    funnel steps, seeded once per backend."""
    from sqlalchemy import create_engine, text

    folder = tmp_path_factory.mktemp("busy")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'busy.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = create_db_engine(url)
    sessions = session_factory(engine)
    add_accounts(sessions)
    seed(sessions, screenings=SEEDED, days=365)
    yield sessions, str(folder)
    engine.dispose()
    if request.param == "postgresql":
        cleanup = create_engine(url, future=True)
        with cleanup.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        cleanup.dispose()


@pytest.mark.parametrize("days", [7, 30, 365])
def test_the_page_is_fast_on_a_year_of_a_busy_clinic(busy_clinic, days: int) -> None:
    """The whole request (session, queries, SVG, template) for 7 days (the default), 30
    and 365 days up to today, timed over 7 requests after one to warm up: the median
    under 300 ms. The counts come from the summary (the seed rebuilds it)."""
    sessions, folder = busy_clinic
    from pathlib import Path

    wanted = {"from": (END - timedelta(days=days - 1)).isoformat(), "to": END.isoformat()}
    with _client(sessions, Path(folder)) as client:
        assert sign_in(client, "alice", PASSWORDS["alice"]).status_code == 303
        client.get("/overview", params=wanted)
        times, database = [], []
        for _ in range(7):
            began = time.perf_counter()
            page = client.get("/overview", params=wanted)
            times.append(1000 * (time.perf_counter() - began))
            assert page.status_code == 200
            database.append(float(re.search(r"db;dur=([\d.]+)", page.headers["server-timing"])[1]))
    median = statistics.median(times)
    print(
        f"overview, {days} days of {SEEDED} screenings: median {median:.0f} ms "
        f"(database {statistics.median(database):.0f} ms), max {max(times):.0f} ms"
    )
    assert median < BUDGET_MS, times


def test_the_summary_gives_the_numbers_of_the_records_on_a_busy_clinic(busy_clinic) -> None:
    sessions, _ = busy_clinic
    with sessions.begin() as session:
        for days in (7, 30, 365):
            start = END - timedelta(days=days - 1)
            kept, live = (
                overview(session, start, END, LONDON),
                live_overview(session, start, END, LONDON),
            )
            assert kept.median_contact_seconds == pytest.approx(
                live.median_contact_seconds, abs=2e-3
            )
            kept.median_contact_seconds = live.median_contact_seconds = None
            assert kept == live
