"""Records for the front-desk tests, stored the way the assistant stores them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import sessionmaker

from needlecheck.screening import assess
from needlecheck.store import repository, staff
from tests.screening.test_engine import CLEAR

TODAY = date(2026, 11, 24)
PASSWORDS = {"alice": "alice's long passphrase", "bob": "bob's long passphrase"}

FACTS = {
    "urgent_care": {"red_flags": ["infection_signs"]},
    "not_suitable": {"conditions": ["keloid_history"]},
    "clinician_review": {"conditions": ["diabetes"]},
    "defer_dated": {"isotretinoin": {"status": "past", "last_dose": "2026-06-20"}},
    "defer_undated": {"pregnant_or_breastfeeding": True},
    "eligible": {},
}


def add_accounts(sessions: sessionmaker) -> None:
    with sessions.begin() as session:
        staff.add_staff(
            session,
            username="alice",
            display_name="Alice Chen",
            role="clinician",
            password=PASSWORDS["alice"],
        )
        staff.add_staff(
            session,
            username="bob",
            display_name="Bob Diaz",
            role="front_desk",
            password=PASSWORDS["bob"],
        )


def add_screening(
    sessions: sessionmaker,
    conversation_id: str,
    kind: str,
    *,
    minutes_ago: int = 0,
    evidence: dict[str, list[str]] | None = None,
    transcript: list[dict[str, str]] | None = None,
    notes: dict[str, list[str]] | None = None,
    channel: str = "rest",
) -> int:
    assessment = assess({**CLEAR, **FACTS[kind]}, TODAY)
    with sessions.begin() as session:
        screening = repository.save_screening(
            session,
            conversation_id=conversation_id,
            channel=channel,
            assessment=assessment,
            consent_text_version="sha256:" + "a" * 16,
            evidence=evidence,
            transcript=transcript,
            notes=notes,
        )
        screening.created_at = _ago(minutes_ago)
        return screening.id


def add_contact(
    sessions: sessionmaker,
    conversation_id: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    *,
    minutes_ago: int = 0,
) -> int:
    details = repository.normalise_contact(name, phone, email, "mornings")
    with sessions.begin() as session:
        contact = repository.add_contact_request(
            session,
            conversation_id=conversation_id,
            details=details,
            consent_given=True,
            consent_text_version="sha256:" + "b" * 16,
        )
        contact.created_at = _ago(minutes_ago)
        return contact.id


def add_handoff(
    sessions: sessionmaker,
    conversation_id: str,
    *,
    minutes_ago: int = 0,
    reason: str = "asked to talk to a person",
    transcript: list[dict[str, str]] | None = None,
) -> int:
    with sessions.begin() as session:
        handoff = repository.add_handoff_request(
            session, conversation_id=conversation_id, reason=reason, transcript=transcript
        )
        handoff.created_at = _ago(minutes_ago)
        return handoff.id


def _ago(minutes: int) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)


def words() -> dict[str, Any]:
    return {
        "evidence": {"conditions": ["I have diabetes, type 2"], "age": ["I'm 34"]},
        "transcript": [
            {"at": "2026-11-24T10:00:00+00:00", "speaker": "assistant", "text": "How old are you?"},
            {"at": "2026-11-24T10:00:05+00:00", "speaker": "person", "text": "I'm 34"},
            {
                "at": "2026-11-24T10:01:00+00:00",
                "speaker": "person",
                "text": "I have diabetes, type 2",
            },
        ],
    }
