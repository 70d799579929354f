"""The storage operations the assistant and the front desk use.

Each function takes an open Session from the caller, who decides the transaction
(`with factory.begin() as session:`); nothing here commits on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from needlecheck.screening import Assessment
from needlecheck.store import overview_summary
from needlecheck.store.alerts import raise_alert
from needlecheck.store.encryption import (
    conversation_key,
    conversation_keys,
    keyring,
    sealed_conversation,
)
from needlecheck.store.models import (
    ContactRequest,
    HandoffRequest,
    Screening,
    ScreeningFinding,
    utcnow,
)


class InvalidRecord(ValueError):
    """A record the clinic could not act on (no way to reach the person, no consent, ...)."""


def save_screening(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    assessment: Assessment,
    consent_text_version: str,
    consent_at: datetime | None = None,
    evidence: dict[str, list[str]] | None = None,
    transcript: list[dict[str, str]] | None = None,
    taken_by: str | None = None,
    idempotency_key: str | None = None,
    notes: dict[str, list[str]] | None = None,
) -> Screening:
    """Store a screening; health answers are kept only with the person's consent.

    With an `idempotency_key`, storing the same screening again (a retried write, an
    action run again) returns the row stored the first time instead of adding one.
    """
    # The Overview's summary changes with the screening, in its transaction.
    with overview_summary.keeping(session, conversations=conversation_keys(conversation_id)):
        return _save_screening(
            session,
            conversation_id=conversation_id,
            channel=channel,
            assessment=assessment,
            consent_text_version=consent_text_version,
            consent_at=consent_at,
            evidence=evidence,
            transcript=transcript,
            taken_by=taken_by,
            idempotency_key=idempotency_key,
            notes=notes,
        )


def _save_screening(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    assessment: Assessment,
    consent_text_version: str,
    consent_at: datetime | None,
    evidence: dict[str, list[str]] | None,
    transcript: list[dict[str, str]] | None,
    taken_by: str | None,
    idempotency_key: str | None,
    notes: dict[str, list[str]] | None,
) -> Screening:
    _require(conversation_id, "conversation_id")
    _require(channel, "channel")
    _require(consent_text_version, "consent_text_version")
    if idempotency_key is not None:
        _require(idempotency_key, "idempotency_key")
        stored = _screening_by_key(session, idempotency_key)
        if stored is not None:
            return stored
    screening = Screening(
        consent_text_version=consent_text_version,
        consent_at=consent_at or utcnow(),
        conversation_id=conversation_key(conversation_id),
        encrypted_conversation_id=sealed_conversation(conversation_id),
        channel=channel,
        facts=assessment.facts.to_json(),
        outcome=assessment.outcome,
        earliest_date=assessment.earliest_date,
        missing=list(assessment.missing),
        policy_name=assessment.policy["name"],
        policy_version=assessment.policy["version"],
        assessed_on=assessment.today,
        evidence=evidence,
        transcript=transcript,
        notes=notes or None,
        taken_by=taken_by,
        findings=[
            ScreeningFinding(
                position=position,
                rule_id=finding.rule,
                severity=finding.severity,
                until=finding.until,
                reason=finding.reason,
                source=finding.source,
            )
            for position, finding in enumerate(assessment.findings)
        ],
        # The key names the conversation (a phone number on SMS): only its digest is kept.
        idempotency_key=None if idempotency_key is None else keyring().digest(idempotency_key),
    )
    if idempotency_key is None:
        session.add(screening)
        session.flush()
        _alert_if_urgent(session, screening)
        return screening
    # Two writers with one key (two instances retrying at once): the loser's insert fails
    # inside its savepoint, and it returns the winner's row.
    try:
        with session.begin_nested():
            session.add(screening)
            session.flush()
    except IntegrityError:
        stored = _screening_by_key(session, idempotency_key)
        if stored is None:
            raise
        return stored
    _alert_if_urgent(session, screening)
    return screening


def _alert_if_urgent(session: Session, screening: Screening) -> None:
    """A new urgent screening alerts staff (needlecheck.store.alerts), in its transaction:
    the alert exists exactly when the screening does."""
    if screening.outcome == "urgent_care":
        raise_alert(session, "urgent", "screening", screening.id)


def _screening_by_key(session: Session, key: str) -> Screening | None:
    statement = select(Screening).where(Screening.idempotency_key.in_(keyring().digests(key)))
    return session.execute(statement).scalars().first()


def latest_screening(session: Session, conversation_id: str) -> Screening | None:
    statement = (
        select(Screening)
        .where(Screening.conversation_id.in_(conversation_keys(conversation_id)))
        .options(selectinload(Screening.findings))
        .order_by(Screening.created_at.desc(), Screening.id.desc())
        .limit(1)
    )
    return session.execute(statement).scalars().first()


@dataclass(frozen=True)
class ContactDetails:
    name: str
    phone: str | None
    email: str | None
    preferred_time: str | None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
# What a person types as their details: "call me on +44 20 7946 0958 or ana@example.com".
_EMAIL_IN_TEXT = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}")
_PHONE_IN_TEXT = re.compile(r"\+?[0-9][0-9 ()./-]{5,}[0-9]")


def phone_digits(text: str) -> str:
    """The digits to look a stored number up by: a national number's trunk zero
    ("020 7946 0999") is dropped, so it matches the end of the international one."""
    return re.sub(r"\D", "", text).lstrip("0")


def find_contact(text: str) -> tuple[str | None, str | None]:
    """The phone number and the email address in a free-text answer, as typed, if any."""
    email = _EMAIL_IN_TEXT.search(text or "")
    phone = _PHONE_IN_TEXT.search(_EMAIL_IN_TEXT.sub(" ", text or ""))
    return (phone.group(0).strip() if phone else None, email.group(0) if email else None)


def normalise_reach(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """The phone number (digits, with its "+") and the email address (lower case) the
    clinic can reach the person by; raise InvalidRecord naming the field."""
    phone = (phone or "").strip() or None
    email = (email or "").strip() or None
    if phone is None and email is None:
        raise InvalidRecord("phone or email: at least one is needed to contact the person")
    if phone is not None:
        digits = re.sub(r"\D", "", phone)
        if not _PHONE_CHARS.match(phone) or not 7 <= len(digits) <= 15:
            raise InvalidRecord(f"phone: {len(digits)} digits is not a phone number (7 to 15)")
        phone = ("+" if phone.startswith("+") else "") + digits
    if email is not None and (len(email) > 320 or not _EMAIL.match(email)):
        raise InvalidRecord("email: not an email address")
    return phone, email.lower() if email else None


def normalise_contact(
    name: str, phone: str | None, email: str | None, preferred_time: str | None
) -> ContactDetails:
    """Check that the clinic can reach the person; raise InvalidRecord naming the field."""
    name = (name or "").strip()
    if not name:
        raise InvalidRecord("name: a name is needed so the clinic knows whom to ask for")
    if len(name) > 200:
        raise InvalidRecord("name: at most 200 characters")
    phone, email = normalise_reach(phone, email)
    preferred_time = (preferred_time or "").strip() or None
    if preferred_time is not None and len(preferred_time) > 200:
        raise InvalidRecord("preferred_time: at most 200 characters")
    return ContactDetails(name, phone, email, preferred_time)


def add_contact_request(
    session: Session,
    *,
    conversation_id: str,
    details: ContactDetails,
    consent_given: bool,
    consent_text_version: str,
    screening_id: int | None = None,
    consent_at: datetime | None = None,
) -> ContactRequest:
    _require(conversation_id, "conversation_id")
    # Contact details are kept only with the person's explicit consent.
    if consent_given is not True:
        raise InvalidRecord("consent: contact details are stored only with explicit consent")
    _require(consent_text_version, "consent_text_version")
    with overview_summary.keeping(session, conversations=conversation_keys(conversation_id)):
        return _add_contact_request(
            session, conversation_id, details, consent_text_version, screening_id, consent_at
        )


def _add_contact_request(
    session: Session,
    conversation_id: str,
    details: ContactDetails,
    consent_text_version: str,
    screening_id: int | None,
    consent_at: datetime | None,
) -> ContactRequest:
    request = ContactRequest(
        conversation_id=conversation_key(conversation_id),
        encrypted_conversation_id=sealed_conversation(conversation_id),
        screening_id=screening_id,
        name=details.name,
        phone=details.phone,
        email=details.email,
        preferred_time=details.preferred_time,
        consent_given=True,
        consent_at=consent_at or utcnow(),
        consent_text_version=consent_text_version,
    )
    session.add(request)
    session.flush()
    return request


def add_handoff_request(
    session: Session,
    *,
    conversation_id: str,
    reason: str,
    screening_id: int | None = None,
    transcript: list[dict[str, str]] | None = None,
) -> HandoffRequest:
    _require(conversation_id, "conversation_id")
    _require(reason, "reason")
    request = HandoffRequest(
        conversation_id=conversation_key(conversation_id),
        encrypted_conversation_id=sealed_conversation(conversation_id),
        reason=reason.strip(),
        screening_id=screening_id,
        transcript=transcript or None,
    )
    session.add(request)
    session.flush()
    # A person asked for a person: staff are alerted (needlecheck.store.alerts).
    raise_alert(session, "handoff", "handoff", request.id)
    return request


def _require(value: str | None, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord(f"{field}: must not be empty")
