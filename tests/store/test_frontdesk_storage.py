"""The front desk's storage on SQLite and PostgreSQL: accounts, sessions, throttling,
the queue, follow-ups, overrides, the audit log, retention and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from needlecheck.store import audit, privacy, staff
from needlecheck.store import queue as queue_store
from needlecheck.store.models import (
    AuditEntry,
    ContactRequest,
    FollowUp,
    OutcomeOverride,
    Screening,
    ScreeningFinding,
    StaffSession,
)
from needlecheck.store.repository import InvalidRecord
from tests.frontdesk.support import add_accounts, add_contact, add_handoff, add_screening


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_passwords_are_hashed_with_argon2_and_checked(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        member = staff.authenticate(session, "Alice", "alice's long passphrase", "127.0.0.1")
        assert member is not None and member.role == "clinician"
        assert member.password_hash.startswith("$argon2id$")
        assert "passphrase" not in member.password_hash
        assert staff.authenticate(session, "alice", "wrong", "127.0.0.1") is None
        assert staff.authenticate(session, "nobody", "wrong", "127.0.0.1") is None


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("Al ice", "clinician", "long enough password", "username"),
        ("alice2", "nurse", "long enough password", "role"),
        ("alice3", "clinician", "short", "at least 12 characters"),
    ],
)
def test_bad_accounts_are_refused_with_the_field_named(
    sessions, username, role, password, message
) -> None:
    with sessions.begin() as session, pytest.raises(InvalidRecord, match=message):
        staff.add_staff(session, username=username, display_name="", role=role, password=password)


def test_a_username_is_unique(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session, pytest.raises(InvalidRecord, match="already exists"):
        staff.add_staff(
            session, username="alice", display_name="", role="clinician", password="x" * 12
        )


def test_sessions_store_only_a_hash_and_end_with_disable_or_new_password(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        member = staff.authenticate(session, "bob", "bob's long passphrase", "c")
        token = staff.open_session(session, member)
        stored = session.execute(select(StaffSession)).scalar_one()
        assert stored.token_hash != token and len(stored.token_hash) == 64
        assert staff.signed_in(session, token).username == "bob"
        assert staff.signed_in(session, "forged") is None
    with sessions.begin() as session:
        staff.set_password(session, "bob", "a brand new passphrase")
    with sessions.begin() as session:
        assert staff.signed_in(session, token) is None
        member = staff.authenticate(session, "bob", "a brand new passphrase", "c")
        token = staff.open_session(session, member)
        staff.set_active(session, "bob", False)
    with sessions.begin() as session:
        assert staff.signed_in(session, token) is None
        assert staff.authenticate(session, "bob", "a brand new passphrase", "c") is None


def test_an_expired_session_signs_nobody_in(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        member = staff.authenticate(session, "bob", "bob's long passphrase", "c")
        token = staff.open_session(session, member)
        session.execute(select(StaffSession)).scalar_one().expires_at = datetime.now(
            timezone.utc
        ) - timedelta(seconds=1)
    with sessions.begin() as session:
        assert staff.signed_in(session, token) is None


def test_five_failures_throttle_the_name_and_the_client(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        for _ in range(4):
            staff.authenticate(session, "bob", "wrong", "10.0.0.1")
        assert not staff.is_throttled(session, "bob", "10.0.0.2")
        staff.authenticate(session, "bob", "wrong", "10.0.0.1")
        assert staff.is_throttled(session, "bob", "10.0.0.2")
        assert staff.is_throttled(session, "alice", "10.0.0.1")
        assert not staff.is_throttled(session, "alice", "10.0.0.3")
        later = datetime.now(timezone.utc) + staff.FAILURE_WINDOW + timedelta(seconds=1)
        assert not staff.is_throttled(session, "bob", "10.0.0.1", now=later)


# A no-break space, full-width letters and capitals: each the same name as "bob".
PADDED_BOBS = (" bob", "bob ", "\u00a0bob", "bob\u00a0", "BOB", "\uff42\uff4f\uff42", "\tBob\n")


def test_a_padded_or_differently_written_name_is_the_same_name_to_the_throttle(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        # Each failure from its own address, so only the name's count can throttle.
        for number, name in enumerate(PADDED_BOBS[:5]):
            assert staff.authenticate(session, name, "wrong", f"10.1.0.{number}") is None
        for name in ("bob", *PADDED_BOBS):
            assert staff.is_throttled(session, name, "10.1.1.1"), repr(name)
        assert not staff.is_throttled(session, "alice", "10.1.1.1")


def test_user_names_are_stored_and_found_in_one_normalised_form(sessions) -> None:
    assert [staff.normalise_username(name) for name in PADDED_BOBS] == ["bob"] * len(PADDED_BOBS)
    with sessions.begin() as session:
        member = staff.add_staff(
            session,
            username="\u00a0\uff24\uff41\uff4e\uff41 ",
            display_name="Dana",
            role="front_desk",
            password="dana's long passphrase",
        )
        assert member.username == "dana"
        with pytest.raises(InvalidRecord, match="already exists"):
            staff.add_staff(
                session,
                username=" DANA",
                display_name="Dana",
                role="front_desk",
                password="dana's long passphrase",
            )
        found = staff.authenticate(session, "\u00a0Dana", "dana's long passphrase", "10.2.0.1")
        assert found is not None and found.id == member.id
        staff.set_active(session, " DANA ", False)
        assert staff.authenticate(session, "dana", "dana's long passphrase", "10.2.0.1") is None


def test_the_queue_order_and_the_latest_screening_per_conversation(sessions) -> None:
    eligible = add_screening(sessions, "c-eligible", "eligible", minutes_ago=9)
    first = add_screening(sessions, "c-corrected", "eligible", minutes_ago=8)
    corrected = add_screening(sessions, "c-corrected", "clinician_review", minutes_ago=7)
    urgent = add_screening(sessions, "c-urgent", "urgent_care", minutes_ago=1)
    handoff = add_handoff(sessions, "c-handoff")
    with sessions() as session:
        items = queue_store.queue(session)
    assert [(i.kind, i.id) for i in items] == [
        ("screening", urgent),
        ("handoff", handoff),
        ("screening", corrected),
        ("screening", eligible),
    ]
    assert first not in {i.id for i in items if i.kind == "screening"}


def test_follow_ups_change_status_and_closed_records_leave_the_open_queue(sessions) -> None:
    add_accounts(sessions)
    screening = add_screening(sessions, "c-1", "eligible")
    with sessions.begin() as session:
        queue_store.set_follow_up(
            session,
            "screening",
            screening,
            status="closed",
            note="booked elsewhere",
            staff_id=None,
            staff_username="bob",
        )
        with pytest.raises(InvalidRecord, match="status"):
            queue_store.set_follow_up(
                session,
                "screening",
                screening,
                status="new",
                note=None,
                staff_id=None,
                staff_username="bob",
            )
        with pytest.raises(LookupError):
            queue_store.set_follow_up(
                session,
                "screening",
                999,
                status="closed",
                note=None,
                staff_id=None,
                staff_username="bob",
            )
    with sessions() as session:
        assert queue_store.queue(session) == []
        (closed,) = queue_store.queue(session, status="closed")
        assert closed.id == screening
        (entry,) = queue_store.follow_ups(session, "screening", screening)
        assert (entry.status, entry.note) == ("closed", "booked elsewhere")


def test_a_handoff_moves_from_open_to_contacted_booked_and_closed(sessions) -> None:
    handoff = add_handoff(sessions, "h-1")
    for status in ("contacted", "booked", "closed"):
        with sessions.begin() as session:
            queue_store.set_follow_up(
                session,
                "handoff",
                handoff,
                status=status,
                note=None,
                staff_id=None,
                staff_username="bob",
            )
        with sessions() as session:
            assert queue_store.record(session, "handoff", handoff).status == status
    with sessions() as session:
        assert queue_store.queue(session) == []
        with pytest.raises(LookupError):
            queue_store.record(session, "handoff", 99999)


def test_stale_sessions_and_old_failed_sign_ins_are_forgotten(sessions) -> None:
    add_accounts(sessions)
    with sessions.begin() as session:
        member = staff.authenticate(session, "bob", "bob's long passphrase", "c")
        token = staff.open_session(session, member)
        staff.authenticate(session, "alice", "wrong", "10.0.0.9")
    with sessions.begin() as session:
        assert staff.forget_stale(session) == 0
    later = datetime.now(timezone.utc) + staff.SESSION_LIFETIME + timedelta(seconds=1)
    with sessions.begin() as session:
        assert staff.forget_stale(session, now=later) == 2
    with sessions() as session:
        assert staff.signed_in(session, token) is None
        assert count(session, StaffSession) == 0


def test_only_a_clinician_overrides_and_the_engine_outcome_stays(sessions) -> None:
    screening = add_screening(sessions, "c-1", "not_suitable")
    with sessions.begin() as session:
        with pytest.raises(PermissionError):
            queue_store.add_override(
                session,
                screening,
                outcome="eligible",
                reason="r",
                role="front_desk",
                staff_id=None,
                staff_username="bob",
            )
        with pytest.raises(InvalidRecord, match="outcome"):
            queue_store.add_override(
                session,
                screening,
                outcome="cleared",
                reason="r",
                role="clinician",
                staff_id=None,
                staff_username="alice",
            )
        queue_store.add_override(
            session,
            screening,
            outcome="clinician_review",
            reason="seen the scar",
            role="clinician",
            staff_id=None,
            staff_username="alice",
        )
    with sessions() as session:
        stored = session.get(Screening, screening)
        assert stored.outcome == "not_suitable"
        assert [o.outcome for o in stored.overrides] == ["clinician_review"]
        (item,) = queue_store.queue(session)
        assert (item.outcome, item.override) == ("not_suitable", "clinician_review")


def test_the_queue_version_changes_with_every_kind_of_change(sessions) -> None:
    def version() -> str:
        with sessions() as session:
            return queue_store.newest_change(session)

    seen = [version()]
    screening = add_screening(sessions, "v-1", "not_suitable")
    seen.append(version())
    add_contact(sessions, "v-1", "Uma Rao", "+91 22 5555 0100")
    seen.append(version())
    add_handoff(sessions, "v-1")
    seen.append(version())
    with sessions.begin() as session:
        queue_store.add_override(
            session,
            screening,
            outcome="clinician_review",
            reason="r",
            role="clinician",
            staff_id=None,
            staff_username="alice",
        )
    seen.append(version())
    with sessions.begin() as session:
        queue_store.set_follow_up(
            session,
            "screening",
            screening,
            status="contacted",
            note=None,
            staff_id=None,
            staff_username="bob",
        )
    seen.append(version())
    assert len(set(seen)) == len(seen)


def test_audit_entries_are_kept_newest_first(sessions) -> None:
    with sessions.begin() as session:
        audit.audit(session, staff_id=None, staff_username="bob", action="view_queue")
        audit.audit(
            session,
            staff_id=None,
            staff_username="bob",
            action="view",
            record_type="screening",
            record_id=3,
        )
        with pytest.raises(ValueError, match="unknown audit action"):
            audit.audit(session, staff_id=None, staff_username="bob", action="peek")
    with sessions() as session:
        assert [e.action for e in audit.entries(session)] == ["view", "view_queue"]
        assert [e.record_id for e in audit.entries(session, record_type="screening")] == [3]


def test_purge_deletes_what_is_older_than_the_retention_period(sessions) -> None:
    add_accounts(sessions)
    old = add_screening(sessions, "old", "clinician_review", minutes_ago=60 * 24 * 400)
    add_contact(sessions, "old", "Old Person", "+1 202 555 0100", minutes_ago=60 * 24 * 400)
    add_handoff(sessions, "old", minutes_ago=60 * 24 * 400)
    kept = add_screening(sessions, "new", "eligible")
    with sessions.begin() as session:
        queue_store.set_follow_up(
            session,
            "screening",
            old,
            status="contacted",
            note="called Old Person",
            staff_id=None,
            staff_username="bob",
        )
        queue_store.add_override(
            session,
            old,
            outcome="eligible",
            reason="r",
            role="clinician",
            staff_id=None,
            staff_username="alice",
        )
    with sessions.begin() as session:
        deleted = privacy.purge(session, datetime.now(timezone.utc) - timedelta(days=365))
    assert (deleted["screening"], deleted["contact"], deleted["handoff"]) == (1, 1, 1)
    with sessions() as session:
        assert [s.id for s in session.execute(select(Screening)).scalars()] == [kept]
        assert count(session, ContactRequest) == 0
        assert count(session, FollowUp) == 0
        assert count(session, OutcomeOverride) == 0
        assert count(session, ScreeningFinding) == 0


def test_purge_also_deletes_old_tracker_store_events_in_the_same_database(sessions) -> None:
    now = datetime.now(timezone.utc).timestamp()
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE events (sender_id VARCHAR(255), timestamp FLOAT)"))
        session.execute(
            text("INSERT INTO events VALUES ('a', :old), ('b', :new)"),
            {"old": now - 400 * 86400, "new": now},
        )
    with sessions.begin() as session:
        deleted = privacy.purge(session, datetime.now(timezone.utc) - timedelta(days=365))
        assert deleted["conversation event"] == 1
        assert session.execute(text("SELECT sender_id FROM events")).scalars().all() == ["b"]


@pytest.mark.parametrize(
    "how",
    [
        {"conversation_id": "p-1"},
        {"phone": "020 7946 0999"},
        {"phone": "+44 20-7946-0999"},
        {"email": "JOY@example.org"},
    ],
)
def test_erasure_deletes_one_person_everything_and_nobody_else(sessions, how) -> None:
    add_screening(sessions, "p-1", "clinician_review")
    add_contact(sessions, "p-1", "Joy Ahmed", "+44 20 7946 0999", "joy@example.org")
    add_handoff(sessions, "p-1")
    other = add_screening(sessions, "p-2", "eligible")
    with sessions.begin() as session:
        deleted = privacy.erase(session, **how)
    assert (deleted["screening"], deleted["contact"], deleted["handoff"]) == (1, 1, 1)
    with sessions() as session:
        assert [s.id for s in session.execute(select(Screening)).scalars()] == [other]
        assert count(session, ContactRequest) == 0


def test_erasure_needs_a_way_to_find_the_person(sessions) -> None:
    with sessions.begin() as session:
        with pytest.raises(ValueError, match="needs a conversation id"):
            privacy.erase(session)
        with pytest.raises(ValueError, match="at least 7 digits"):
            privacy.erase(session, phone="123")
        assert privacy.erase(session, email="nobody@example.org") == {}


def test_the_audit_log_survives_erasure(sessions) -> None:
    screening = add_screening(sessions, "p-3", "eligible")
    with sessions.begin() as session:
        audit.audit(
            session,
            staff_id=None,
            staff_username="bob",
            action="view",
            record_type="screening",
            record_id=screening,
        )
        privacy.erase(session, conversation_id="p-3")
    with sessions() as session:
        assert count(session, AuditEntry) == 1
