"""`needlecheck staff`, `purge` and `erase`, run as real processes on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import AuditEntry, ContactRequest, Screening
from tests.frontdesk.support import add_contact, add_screening

BIN = Path(sys.executable).with_name("needlecheck")


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    yield url, session_factory(engine)
    engine.dispose()


def run(url: str, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DATABASE_URL": url, **env},
    )


def test_a_clinic_creates_its_first_accounts(database) -> None:
    url, _ = database
    done = run(
        url,
        "staff",
        "add",
        "dr.lee",
        "--role",
        "clinician",
        "--name",
        "Dr Lee",
        "--password-stdin",
        stdin="a long clinician passphrase\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added dr.lee (clinician)"
    short = run(
        url, "staff", "add", "sam", "--role", "front_desk", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1
    assert "password: at least 12 characters" in short.stderr
    again = run(
        url,
        "staff",
        "add",
        "dr.lee",
        "--role",
        "clinician",
        "--password-stdin",
        stdin="a long clinician passphrase\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    assert run(url, "staff", "disable", "dr.lee").returncode == 0
    listed = run(url, "staff", "list")
    assert "dr.lee" in listed.stdout and "(disabled)" in listed.stdout
    assert "passphrase" not in listed.stdout
    missing = run(url, "staff", "enable", "nobody")
    assert missing.returncode == 1 and "no staff member 'nobody'" in missing.stderr


def test_purge_deletes_old_records_and_says_how_many(database) -> None:
    url, sessions = database
    add_screening(sessions, "old", "eligible", minutes_ago=60 * 24 * 40)
    add_screening(sessions, "new", "eligible")
    done = run(url, "purge", "--days", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted records older than 30 days: 1 screening(s)"
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Screening)).scalar_one() == 1
        (entry,) = session.execute(select(AuditEntry)).scalars()
        assert (entry.action, entry.staff_username) == ("purge", "system")
    assert run(url, "purge", "--days", "0").returncode == 1
    bad = run(url, "purge", NEEDLECHECK_RETENTION_DAYS="forever")
    assert bad.returncode == 3 and "NEEDLECHECK_RETENTION_DAYS" in bad.stderr


def test_erase_removes_one_person_and_logs_no_detail_of_them(database) -> None:
    url, sessions = database
    add_screening(sessions, "p-1", "clinician_review")
    add_contact(sessions, "p-1", "Kai Berg", "+49 30 5555 0100", "kai@example.org")
    add_screening(sessions, "p-2", "eligible")
    done = run(url, "erase", "--email", "kai@example.org")
    assert done.returncode == 0, done.stderr
    assert "1 contact(s)" in done.stdout and "1 screening(s)" in done.stdout
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(ContactRequest)).scalar_one() == 0
        assert [s.conversation_id for s in session.execute(select(Screening)).scalars()] == ["p-2"]
        (entry,) = session.execute(select(AuditEntry)).scalars()
        assert entry.action == "erase"
        # The same wording as the front desk's and the widget's erasures.
        assert entry.detail.startswith("1 contact, ") and "1 screening" in entry.detail
        assert "kai" not in (entry.detail or "").lower() and "5555" not in (entry.detail or "")
    nothing = run(url, "erase")
    assert nothing.returncode == 1 and "needs a conversation id" in nothing.stderr


def test_overview_rebuild_counts_what_was_written_past_the_store(database) -> None:
    """Rows moved by hand (here: a screening's time) are counted again by the command."""
    from needlecheck.store.models import OverviewCount, OverviewState

    url, sessions = database
    add_screening(sessions, "p-1", "eligible", minutes_ago=60 * 24 * 3)
    done = run(url, "overview", "rebuild", NEEDLECHECK_TIMEZONE="Asia/Kolkata")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("overview summary rebuilt for Asia/Kolkata: ")
    with sessions() as session:
        assert session.execute(select(OverviewState.zone)).scalar_one() == "Asia/Kolkata"
        outcomes = session.execute(
            select(OverviewCount.key, OverviewCount.n).where(OverviewCount.series == "outcome")
        ).all()
        assert outcomes == [("eligible", 1)]
