"""Times on the front desk in the clinic's zone (NEEDLECHECK_TIMEZONE), here
America/New_York on the night its clocks go forward (2026-03-08, 02:00 EST becomes 03:00
EDT, 07:00 UTC): pages show the wall-clock time, the CSV export ISO 8601 with the
clinic's offset, the JSON API ISO 8601 in UTC with its offset; the queue's date filters
are the clinic's calendar days."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from needlecheck.frontdesk import clock
from needlecheck.store.models import Screening
from tests.frontdesk.in_process import desk_in_process
from tests.frontdesk.support import add_screening

NEW_YORK = ZoneInfo("America/New_York")
BEFORE = datetime(2026, 3, 8, 6, 30, tzinfo=timezone.utc)  # 01:30 EST
AFTER = datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)  # 03:30 EDT
LATE = datetime(2026, 3, 9, 3, 0, tzinfo=timezone.utc)  # 23:00 EDT on the 8th


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (BEFORE, "2026-03-08 01:30 EST"),
        (AFTER, "2026-03-08 03:30 EDT"),
        # SQLite gives UTC back without its offset.
        (AFTER.replace(tzinfo=None), "2026-03-08 03:30 EDT"),
        ("2026-03-08T07:30:00+00:00", "2026-03-08 03:30 EDT"),
        ("2026-11-01T05:30:00Z", "2026-11-01 01:30 EDT"),  # the first 01:30 of the night
        ("2026-11-01T06:30:00Z", "2026-11-01 01:30 EST"),  # and the second
        (None, ""),
        ("not a time", "not a time"),
    ],
)
def test_a_stored_time_is_shown_in_the_clinics_zone(moment, shown) -> None:
    assert clock.clinic_time(moment, NEW_YORK, clock.FULL) == shown


def test_exports_carry_the_offset() -> None:
    assert clock.iso(BEFORE.replace(tzinfo=None)) == "2026-03-08T06:30:00+00:00"
    assert clock.iso(BEFORE, NEW_YORK) == "2026-03-08T01:30:00-05:00"
    assert clock.iso(AFTER, NEW_YORK) == "2026-03-08T03:30:00-04:00"


@pytest.fixture
def desk(tmp_path, monkeypatch):
    with desk_in_process(tmp_path, monkeypatch, timezone="America/New_York") as running:
        yield running


def stored_at(desk, conversation: str, moment: datetime, kind: str = "eligible") -> int:
    screening_id = add_screening(
        desk.sessions,
        conversation,
        kind,
        transcript=[
            {"at": moment.isoformat(), "speaker": "person", "text": "I'm 34"},
        ],
    )
    with desk.sessions.begin() as session:
        row = session.get(Screening, screening_id)
        row.created_at = moment
        row.consent_at = moment
    return screening_id


def test_pages_exports_and_the_api_around_a_clock_change(desk) -> None:
    before = stored_at(desk, "tz-before", BEFORE)
    after = stored_at(desk, "tz-after", AFTER)
    with desk.client("alice") as client:
        queue = client.get("/", params={"status": "all"}).text
        page = client.get(f"/screenings/{after}").text
        api = client.get("/api/queue", params={"status": "all"}).json()["items"]
        exported = client.get("/export/queue.csv", params={"status": "all"}).text
        audit = client.get("/audit").text
        audit_api = client.get("/api/audit").json()
    assert "Received (America/New_York)" in queue
    assert "2026-03-08 01:30" in queue and "2026-03-08 03:30" in queue
    assert 'datetime="2026-03-08T03:30:00-04:00"' in queue
    assert "06:30" not in queue and "07:30" not in queue
    # The consent time with its zone's abbreviation, the transcript's line in local time.
    assert "2026-03-08 03:30 EDT" in page
    assert "<small>03:30</small>" in page and "<small>07:30</small>" not in page
    times = {row["id"]: row["created_at"] for row in api}
    assert times[before] == "2026-03-08T06:30:00+00:00"
    assert times[after] == "2026-03-08T07:30:00+00:00"
    rows = {row["id"]: row["created_at"] for row in csv.DictReader(io.StringIO(exported))}
    assert rows[str(before)] == "2026-03-08T01:30:00-05:00"
    assert rows[str(after)] == "2026-03-08T03:30:00-04:00"
    assert "When (America/New_York)" in audit
    # Every API time has its offset.
    assert all(datetime.fromisoformat(row["at"]).utcoffset() is not None for row in audit_api)


def test_the_date_filters_are_the_clinics_calendar_days(desk) -> None:
    late = stored_at(desk, "tz-late", LATE)  # 2026-03-09 in UTC, the 8th in New York
    with desk.client("bob") as client:
        eighth = client.get(
            "/api/queue", params={"status": "all", "since": "2026-03-08", "until": "2026-03-08"}
        ).json()
        ninth = client.get("/api/queue", params={"status": "all", "since": "2026-03-09"}).json()
    assert [row["id"] for row in eighth["items"]] == [late] and eighth["total"] == 1
    assert ninth["items"] == [] and ninth["total"] == 0


def test_headings_name_the_zone_as_staff_know_it(monkeypatch) -> None:
    from needlecheck.config import Settings
    from needlecheck.store import clinic_days

    named = Settings.from_environment({"NEEDLECHECK_TIMEZONE": "America/New_York"})
    assert clock.zone_name(named) == "America/New_York"
    assert clock.zone_name(Settings.from_environment({"NEEDLECHECK_TIMEZONE": "Etc/UTC"})) == "UTC"
    # Unset, on a server whose /etc/localtime is Etc/UTC (this machine's, and many images').
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(clinic_days, "server_zone", lambda: ZoneInfo("Etc/UTC"))
    assert clock.zone_name(Settings.from_environment({})) == "UTC"
