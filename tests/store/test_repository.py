"""Storage of screenings, contact and handoff requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from needlecheck.screening import assess
from needlecheck.store import repository
from needlecheck.store.models import ContactRequest, HandoffRequest, Screening, ScreeningFinding
from needlecheck.store.repository import (
    InvalidRecord,
    find_contact,
    normalise_contact,
    normalise_reach,
)
from tests.screening.test_engine import CLEAR

TODAY = date(2026, 11, 24)


def deferred():
    return assess(
        {
            **CLEAR,
            "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
            "topical_products": ["retinoid"],
        },
        TODAY,
    )


def test_a_screening_is_stored_with_its_findings_and_read_back(sessions) -> None:
    with sessions.begin() as session:
        stored = repository.save_screening(
            session,
            consent_text_version="sha256:test",
            conversation_id="c-1",
            channel="rest",
            assessment=deferred(),
        )
        screening_id = stored.id
    with sessions() as session:
        screening = repository.latest_screening(session, "c-1")
        assert screening is not None and screening.id == screening_id
        assert screening.outcome == "defer"
        assert screening.earliest_date == date(2026, 12, 20)
        assert screening.channel == "rest"
        assert screening.policy_name == "needlecheck default policy"
        assert screening.policy_version == "2026.11"
        assert screening.assessed_on == TODAY
        assert screening.facts["isotretinoin"] == {"status": "past", "last_dose": "2026-06-20"}
        assert screening.missing == []
        assert [(f.rule_id, f.severity, f.until) for f in screening.findings] == [
            ("DF-ISOTRETINOIN", "defer", date(2026, 12, 20)),
            ("PR-RETINOID", "prepare", None),
        ]
        assert screening.findings[0].source.startswith("SkinPen pre-care; disputed")
        assert "6 months after the last dose" in screening.findings[0].reason
        assert screening.created_at is not None


def test_an_incomplete_screening_keeps_its_missing_facts_and_no_outcome(sessions) -> None:
    with sessions.begin() as session:
        repository.save_screening(
            session,
            consent_text_version="sha256:test",
            conversation_id="c-2",
            channel="socketio",
            assessment=assess({"age": 30}, TODAY),
        )
    with sessions() as session:
        screening = repository.latest_screening(session, "c-2")
        assert screening.outcome is None and "red_flags" in screening.missing


def test_the_latest_screening_of_a_conversation(sessions) -> None:
    with sessions.begin() as session:
        for outcome_facts in ({**CLEAR}, {**CLEAR, "conditions": ["diabetes"]}):
            repository.save_screening(
                session,
                consent_text_version="sha256:test",
                conversation_id="c-3",
                channel="rest",
                assessment=assess(outcome_facts, TODAY),
            )
    with sessions() as session:
        assert repository.latest_screening(session, "c-3").outcome == "clinician_review"
        assert repository.latest_screening(session, "nobody") is None


def test_deleting_a_screening_deletes_its_findings_and_keeps_requests(sessions) -> None:
    with sessions.begin() as session:
        screening = repository.save_screening(
            session,
            consent_text_version="sha256:test",
            conversation_id="c-4",
            channel="rest",
            assessment=deferred(),
        )
        repository.add_handoff_request(
            session, conversation_id="c-4", reason="wants a person", screening_id=screening.id
        )
    with sessions.begin() as session:
        session.delete(session.get(Screening, screening.id))
    with sessions() as session:
        assert session.execute(select(ScreeningFinding)).scalars().all() == []
        (handoff,) = session.execute(select(HandoffRequest)).scalars().all()
        assert handoff.screening_id is None


def test_a_contact_request_is_stored_with_consent(sessions) -> None:
    consent_at = datetime(2026, 11, 24, 10, 30, tzinfo=timezone.utc)
    with sessions.begin() as session:
        repository.add_contact_request(
            session,
            conversation_id="c-5",
            details=normalise_contact("Ana Silva", "+44 (0)20 7946-0958", None, "weekday mornings"),
            consent_given=True,
            consent_text_version="contact-v1",
            consent_at=consent_at,
        )
    with sessions() as session:
        (request,) = session.execute(select(ContactRequest)).scalars().all()
        assert request.phone == "+4402079460958"
        assert request.email is None and request.status == "new"
        assert request.consent_given is True and request.consent_text_version == "contact-v1"
        assert request.consent_at.replace(tzinfo=timezone.utc) == consent_at


def test_no_contact_request_without_consent(sessions) -> None:
    with sessions.begin() as session, pytest.raises(InvalidRecord, match="consent"):
        repository.add_contact_request(
            session,
            conversation_id="c-6",
            details=normalise_contact("Ana", None, "ana@example.org", None),
            consent_given=False,
            consent_text_version="contact-v1",
        )


@pytest.mark.parametrize(
    ("name", "phone", "email", "message"),
    [
        ("", "0123456789", None, "name"),
        ("Ana", None, None, "phone or email"),
        ("Ana", "12345", None, "phone"),
        ("Ana", "call me maybe", None, "phone"),
        ("Ana", None, "ana@", "email"),
        ("Ana", None, "ana example.org", "email"),
    ],
)
def test_contact_details_are_checked(name, phone, email, message) -> None:
    with pytest.raises(InvalidRecord) as caught:
        normalise_contact(name, phone, email, None)
    assert str(caught.value).startswith(message)


def test_the_database_refuses_a_contact_without_phone_or_email(sessions) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(
            ContactRequest(
                conversation_id="c-7",
                name="Ana",
                consent_given=True,
                consent_at=datetime.now(timezone.utc),
                consent_text_version="v1",
            )
        )


def test_the_database_refuses_an_unknown_outcome(sessions) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(
            Screening(
                conversation_id="c-8",
                channel="rest",
                facts={},
                outcome="cleared",
                missing=[],
                policy_name="p",
                policy_version="1",
                assessed_on=TODAY,
            )
        )


def test_empty_identifiers_are_refused(sessions) -> None:
    with sessions.begin() as session:
        with pytest.raises(InvalidRecord, match="conversation_id"):
            repository.save_screening(
                session,
                consent_text_version="sha256:test",
                conversation_id=" ",
                channel="rest",
                assessment=deferred(),
            )
        with pytest.raises(InvalidRecord, match="reason"):
            repository.add_handoff_request(session, conversation_id="c", reason="")


def test_contact_details_are_found_in_free_text() -> None:
    assert find_contact("call me on +44 20 7946 0958 or ana@example.com") == (
        "+44 20 7946 0958",
        "ana@example.com",
    )
    assert find_contact("text me 07700 900123 pls") == ("07700 900123", None)
    assert find_contact("no idea") == (None, None)


def test_the_reach_is_checked_without_a_name() -> None:
    assert normalise_reach("+44 (0)20 7946-0958", "Ana@Example.COM") == (
        "+4402079460958",
        "ana@example.com",
    )
    with pytest.raises(InvalidRecord, match=r"^phone: 6 digits"):
        normalise_reach(*find_contact("call 123 456"))
    with pytest.raises(InvalidRecord, match=r"^phone or email"):
        normalise_reach(*find_contact("whenever"))
