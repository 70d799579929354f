"""Retention and erasure: the clinic keeps a person's data no longer than it needs.

`purge` deletes screenings, contact and handoff requests (with their findings,
overrides and follow-up notes) older than the retention period, and conversation events
in Rasa's SQL tracker store when it shares this database. `erase` deletes everything
about one person, found by conversation id, phone or email. The audit log keeps that an
erasure happened, never what was erased.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from needlecheck.store import audit, funnel, overview_summary
from needlecheck.store import tracker_events as tracker_store
from needlecheck.store.encryption import conversation_keys, keyring
from needlecheck.store.models import (
    ContactRequest,
    ConversationActivity,
    FollowUp,
    HandoffRequest,
    Screening,
    StaffAlert,
    Takeover,
)
from needlecheck.store.repository import phone_digits
from needlecheck.store.tracker_events import EVENTS, has_events_table

# Above this many conversations, a purge rebuilds the Overview's summary instead of
# following each one (a retention period shortened by months).
PURGE_FOLLOWED = 2000


def purge(session: Session, older_than: datetime) -> Counter[str]:
    """Delete records created before `older_than`; returns how many of each kind."""
    keys: set[str] = set()
    for model in (Screening, ContactRequest, HandoffRequest):
        keys.update(
            session.execute(
                select(model.conversation_id).where(model.created_at < older_than)
            ).scalars()
        )
    if len(keys) > PURGE_FOLLOWED:
        deleted = _purge_rows(session, older_than)
        zone = overview_summary.summary_zone(session)
        if zone is not None:
            overview_summary.rebuild(session, zone)
        return deleted
    # A conversation's later screening may become its first: the summary follows the
    # purged conversations' records, and drops the funnel steps by day.
    with overview_summary.keeping(session, conversations=keys):
        overview_summary.forget_stages(session, older_than)
        return _purge_rows(session, older_than)


def _purge_rows(session: Session, older_than: datetime) -> Counter[str]:
    deleted: Counter[str] = Counter()
    for kind, model in (("handoff", HandoffRequest), ("contact", ContactRequest)):
        ids = list(session.execute(select(model.id).where(model.created_at < older_than)).scalars())
        deleted[kind] += _delete(session, kind, model, ids)
    ids = list(
        session.execute(select(Screening.id).where(Screening.created_at < older_than)).scalars()
    )
    deleted["screening"] += _delete(session, "screening", Screening, ids)
    steps = funnel.purge(session, older_than)
    if steps:
        deleted["funnel step"] += steps
    for takeover in session.execute(
        select(Takeover).where(Takeover.started_at < older_than)
    ).scalars():
        session.delete(takeover)  # with what staff wrote in it
        deleted["takeover"] += 1
    if has_events_table(session):
        result = session.execute(delete(EVENTS).where(EVENTS.c.timestamp < older_than.timestamp()))
        deleted["conversation event"] += result.rowcount or 0
    return deleted


@dataclass(frozen=True)
class Requester:
    """Who asked for an erasure, as the audit log names them: a member of staff (with the
    record whose page they erased from), "command line" or "visitor"."""

    username: str
    staff_id: int | None = None
    record_type: str | None = None
    record_id: int | None = None
    # Where it was asked, before the counts in the audit's detail ("front desk: ").
    where: str = ""


def erase_everywhere(
    session: Session,
    requester: Requester,
    database_url: str,
    *,
    conversation_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Counter[str]:
    """`erase`, with the assistant's copy of the conversations (Rasa's tracker store, found
    from `database_url`: needlecheck.store.tracker_events), and the audit entry: what
    `needlecheck erase`, the widget and a record's page all do. Raises what `erase` and
    `tracker_events.erase_events` raise; the caller's transaction then rolls back and
    none of the clinic's records are erased.

    Not one transaction when the tracker store is elsewhere (Redis, another database, the
    running server): its delete is final as soon as it is done, before the audit entry
    and the commit here. If those then fail, Rasa's copy is gone and the records are not;
    erasing again finishes the job (every step finds nothing it already deleted)."""
    deleted = erase(
        session,
        conversation_id=conversation_id,
        phone=phone,
        email=email,
        tracker_events=lambda conversations: tracker_store.erase_events(
            conversations, screening_database_url=database_url
        ),
    )
    audit.audit(
        session,
        staff_id=requester.staff_id,
        staff_username=requester.username,
        action="erase",
        record_type=requester.record_type,
        record_id=requester.record_id,
        detail=requester.where + audit.counted(deleted),
    )
    return deleted


def erase(
    session: Session,
    *,
    conversation_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    tracker_events: Callable[[set[str]], int] | None = None,
) -> Counter[str]:
    """Delete everything about one person; at least one way to find them is needed.

    `tracker_events` deletes the conversations' events from a tracker store outside this
    database (needlecheck.store.tracker_events); it runs inside this transaction, so if
    it fails nothing is erased and the erasure can be tried again."""
    if not (conversation_id or phone or email):
        raise ValueError("erase needs a conversation id, a phone number or an email address")
    conversations: set[str] = set()
    if conversation_id:
        conversations.add(conversation_id)
    digits = phone_digits(phone) if phone else ""
    if phone and len(digits) < 7:
        raise ValueError("phone: at least 7 digits are needed to find a person by phone")
    wanted_email = email.strip().lower() if email else None
    if phone or email:
        # Encrypted at rest: decrypted and compared here, not by the database.
        rows = session.execute(select(ContactRequest)).scalars()
        for contact in rows:
            stored_phone, stored_email = contact.phone, contact.email
            # A national number (its leading 0 dropped) ends the international one.
            if (digits and stored_phone and phone_digits(stored_phone).endswith(digits)) or (
                wanted_email and stored_email == wanted_email
            ):
                # As the channel gave it: Rasa's tracker stores know it by that.
                conversations.add(contact.conversation)
    deleted: Counter[str] = Counter()
    if not conversations:
        return deleted
    # How the screening tables store them: phone-shaped IDs as digests.
    stored = {key for conversation in conversations for key in conversation_keys(conversation)}
    digests = {d for conversation in conversations for d in keyring().digests(conversation)}
    # The Overview's summary loses these conversations' counts in this transaction.
    with overview_summary.keeping(session, conversations=stored, digests=digests):
        _erase_rows(session, conversations, stored, deleted)
    if tracker_events is not None:
        deleted["conversation event"] += tracker_events(conversations)
    deleted["conversation"] = len(conversations)
    return deleted


def _erase_rows(
    session: Session, conversations: set[str], stored: set[str], deleted: Counter[str]
) -> None:
    for kind, model in (
        ("handoff", HandoffRequest),
        ("contact", ContactRequest),
        ("screening", Screening),
    ):
        ids = list(
            session.execute(select(model.id).where(model.conversation_id.in_(stored))).scalars()
        )
        deleted[kind] += _delete(session, kind, model, ids)
    # Takeovers, and what staff wrote in them (cascade).
    for takeover in session.execute(
        select(Takeover).where(Takeover.conversation_id.in_(stored))
    ).scalars():
        session.delete(takeover)
        deleted["takeover"] += 1
    # The front desk's activity rows (production profile) name the conversation.
    result = session.execute(
        delete(ConversationActivity).where(ConversationActivity.conversation_id.in_(stored))
    )
    if result.rowcount:
        deleted["conversation activity"] += result.rowcount
    # The overview's funnel knows the conversation by its keyed digest only.
    steps = funnel.erase(session, conversations)
    if steps:
        deleted["funnel step"] += steps
    if has_events_table(session):
        # Rasa's production store keeps a phone-shaped sender as its digest; rows written
        # before that keep the ID itself.
        senders = sorted({*stored, *conversations})
        result = session.execute(delete(EVENTS).where(EVENTS.c.sender_id.in_(senders)))
        deleted["conversation event"] += result.rowcount or 0


def _delete(session: Session, kind: str, model: type, ids: list[int]) -> int:
    if not ids:
        return 0
    # Staff notes can name the person: they go with the record.
    session.execute(
        delete(FollowUp).where(FollowUp.record_type == kind, FollowUp.record_id.in_(ids))
    )
    # Alerts name only the record's number, but an erased record leaves nothing behind, and
    # an alert not yet sent about it is not sent (its deliveries go with it).
    session.execute(
        delete(StaffAlert).where(StaffAlert.record_type == kind, StaffAlert.record_id.in_(ids))
    )
    # Row by row through the ORM, so findings and overrides cascade on every backend.
    for record in session.execute(select(model).where(model.id.in_(ids))).scalars():
        session.delete(record)
    session.flush()
    return len(ids)
