"""The front desk's queue: who needs a call back first, and why.

Order: `urgent_care` first, then open handoff requests, then screenings that need a call
back (`not_suitable`, `clinician_review`, or unfinished), then contact requests with no
screening, then `defer` by earliest date, then `eligible`. Within a rank, who has waited
longest comes first. A conversation corrected after its result has several screenings:
the queue shows the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, defer, selectinload
from sqlalchemy.sql import Select

from needlecheck.screening.engine import OUTCOMES
from needlecheck.store import overview_summary, queue_rows
from needlecheck.store.contact_search import matching_conversations
from needlecheck.store.conversation_groups import split_conversations
from needlecheck.store.encryption import conversation_keys
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    HandoffRequest,
    OutcomeOverride,
    Screening,
    as_utc,
    utcnow,
)
from needlecheck.store.repository import InvalidRecord

# What staff can set, per record type; "new"/"open" is where every record starts.
FOLLOW_UP_STATUSES = ("contacted", "booked", "closed")
STATUS_FILTERS = ("open", "new", "contacted", "booked", "closed", "all")
RANK_LABELS = {
    0: "urgent care",
    1: "handoff",
    2: "call back",
    3: "contact request",
    4: "deferred",
    5: "eligible",
}


@dataclass(frozen=True)
class QueueItem:
    kind: str  # screening, contact or handoff
    id: int
    rank: int
    conversation_id: str
    status: str
    created_at: datetime
    outcome: str | None = None
    override: str | None = None
    earliest_date: date | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    summary: str = ""

    @property
    def priority(self) -> str:
        return RANK_LABELS[self.rank]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "priority": self.priority,
            "rank": self.rank,
            "conversation_id": self.conversation_id,
            "status": self.status,
            # ISO 8601 with its offset, always (SQLite gives stored times back without one).
            "created_at": as_utc(self.created_at).isoformat(),
            "outcome": self.outcome,
            "override": self.override,
            "earliest_date": self.earliest_date.isoformat() if self.earliest_date else None,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "summary": self.summary,
        }


def queue(
    session: Session,
    *,
    status: str = "open",
    outcome: str | None = None,
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    zone: tzinfo | None = None,
) -> list[QueueItem]:
    """The whole filtered queue, in order (the CSV export); `since` and `until` are
    calendar days in `zone` (the clinic's), UTC when it is not given."""
    rows = _rows(session, status, outcome, since, until, search, zone)
    found = queue_rows.page_rows(session, rows, 0, None)
    return [
        item
        for start in range(0, len(found), _LOAD_CHUNK)
        for item in _items(session, found[start : start + _LOAD_CHUNK])
    ]


# The queue page's default page size, and the largest a request may ask for.
PAGE_SIZE = 50
PAGE_SIZE_MAX = 500
# Records loaded per query when the whole queue is read (bound parameters stay few).
_LOAD_CHUNK = 500


@dataclass(frozen=True)
class QueuePage:
    """One page of the filtered queue: `total` is the filtered queue's length, whatever
    the page; pages follow the queue's order, which is total (kind and ID break ties), so
    that consecutive pages neither overlap nor skip a row."""

    items: list[QueueItem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 when it has none)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def queue_page(
    session: Session,
    *,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    status: str = "open",
    outcome: str | None = None,
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    zone: tzinfo | None = None,
) -> QueuePage:
    """Page `page` (from 1) of the filtered queue, with the filter's whole count. The
    database filters, orders, counts and cuts the page; only the page's records are
    read and decrypted."""
    if page < 1:
        raise InvalidRecord("page: 1 or more")
    if not 1 <= per_page <= PAGE_SIZE_MAX:
        raise InvalidRecord(f"per_page: 1 to {PAGE_SIZE_MAX}")
    rows = _rows(session, status, outcome, since, until, search, zone)
    found = queue_rows.page_rows(session, rows, (page - 1) * per_page, per_page)
    # Past the last page no row carries the count: it is counted on its own.
    total = found[0].total if found else session.execute(queue_rows.counted(rows)).scalar_one()
    return QueuePage(_items(session, found), total, page, per_page)


def _rows(
    session: Session,
    status: str,
    outcome: str | None,
    since: date | None,
    until: date | None,
    search: str | None,
    zone: tzinfo | None,
) -> Select:
    if status not in STATUS_FILTERS:
        raise InvalidRecord(f"status: {status!r} is not one of {', '.join(STATUS_FILTERS)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidRecord(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    start, end = queue_rows.day_bounds(since, until, zone)
    conversations = matching_conversations(session, search) if search else None
    filters = queue_rows.Filters(status, outcome, start, end, conversations)
    return queue_rows.queue_rows(filters, split_conversations(session))


def _items(session: Session, rows: list[Row]) -> list[QueueItem]:
    """The QueueItems of `rows` (a page), in their order: their records read, and
    decrypted, by ID."""
    wanted: dict[str, list[int]] = {"screening": [], "contact": [], "handoff": []}
    for row in rows:
        wanted[row.kind].append(row.id)
    screenings = {
        s.id: s
        for s in session.execute(
            select(Screening)
            .where(Screening.id.in_(wanted["screening"]))
            .options(
                selectinload(Screening.findings),
                selectinload(Screening.overrides),
                # The queue shows none of the encrypted answers, words or transcript.
                defer(Screening.facts),
                defer(Screening.evidence),
                defer(Screening.transcript),
                defer(Screening.notes),
            )
        ).scalars()
    }
    contacts = {
        c.id: c
        for c in session.execute(
            select(ContactRequest).where(ContactRequest.id.in_(wanted["contact"]))
        ).scalars()
    }
    handoffs = {
        h.id: h
        for h in session.execute(
            select(HandoffRequest)
            .where(HandoffRequest.id.in_(wanted["handoff"]))
            .options(defer(HandoffRequest.transcript))
        ).scalars()
    }
    items = []
    for row in rows:
        # A record deleted since its row was read (erasure) is left out.
        if row.kind == "screening" and row.id in screenings:
            items.append(_screening_item(screenings[row.id], row.rank))
        elif row.kind == "contact" and row.id in contacts:
            items.append(_contact_item(contacts[row.id], row))
        elif row.kind == "handoff" and row.id in handoffs:
            items.append(_handoff_item(handoffs[row.id], row))
    return items


def screening_detail(session: Session, screening_id: int) -> Screening:
    screening = session.execute(
        select(Screening)
        .where(Screening.id == screening_id)
        .options(selectinload(Screening.findings), selectinload(Screening.overrides))
    ).scalar_one_or_none()
    if screening is None:
        raise LookupError(f"no screening {screening_id}")
    return screening


def related(session: Session, conversation_id: str) -> dict[str, list[Any]]:
    """Everything the clinic holds about one conversation, named as the channel gave it
    or as stored (a digest)."""
    keys = conversation_keys(conversation_id)
    return {
        "screenings": list(
            session.execute(
                select(Screening)
                .where(Screening.conversation_id.in_(keys))
                .order_by(Screening.created_at, Screening.id)
            ).scalars()
        ),
        "contacts": list(
            session.execute(
                select(ContactRequest)
                .where(ContactRequest.conversation_id.in_(keys))
                .order_by(ContactRequest.id)
            ).scalars()
        ),
        "handoffs": list(
            session.execute(
                select(HandoffRequest)
                .where(HandoffRequest.conversation_id.in_(keys))
                .order_by(HandoffRequest.id)
            ).scalars()
        ),
    }


def record(
    session: Session, kind: str, record_id: int
) -> Screening | ContactRequest | HandoffRequest:
    model = {"screening": Screening, "contact": ContactRequest, "handoff": HandoffRequest}.get(kind)
    if model is None:
        raise LookupError(f"no record type {kind!r}")
    found = session.get(model, record_id)
    if found is None:
        raise LookupError(f"no {kind} {record_id}")
    return found


def follow_ups(session: Session, kind: str, record_id: int) -> list[FollowUp]:
    return list(
        session.execute(
            select(FollowUp)
            .where(FollowUp.record_type == kind, FollowUp.record_id == record_id)
            .order_by(FollowUp.created_at, FollowUp.id)
        ).scalars()
    )


def set_follow_up(
    session: Session,
    kind: str,
    record_id: int,
    *,
    status: str,
    note: str | None,
    staff_id: int,
    staff_username: str,
) -> FollowUp:
    if status not in FOLLOW_UP_STATUSES:
        raise InvalidRecord(f"status: {status!r} is not one of {', '.join(FOLLOW_UP_STATUSES)}")
    target = record(session, kind, record_id)
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise InvalidRecord("note: at most 2000 characters")
    # Two staff following the same record up at once take turns (PostgreSQL), so the
    # Overview's summary sees each one's first follow-up in order.
    session.execute(select(type(target).id).where(type(target).id == record_id).with_for_update())
    with overview_summary.keeping(session, records={(kind, record_id)}):
        target.status = status
        entry = FollowUp(
            record_type=kind,
            record_id=record_id,
            status=status,
            note=note,
            staff_id=staff_id,
            staff_username=staff_username,
        )
        session.add(entry)
        session.flush()
    return entry


def add_override(
    session: Session,
    screening_id: int,
    *,
    outcome: str,
    reason: str,
    role: str,
    staff_id: int,
    staff_username: str,
) -> OutcomeOverride:
    """A clinician's outcome beside the engine's; the engine's outcome is never changed."""
    if role != "clinician":
        raise PermissionError("only a clinician can override an outcome")
    if outcome not in OUTCOMES:
        raise InvalidRecord(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRecord("reason: an override needs the clinician's reason")
    if len(reason) > 2000:
        raise InvalidRecord("reason: at most 2000 characters")
    screening = screening_detail(session, screening_id)
    entry = OutcomeOverride(
        outcome=outcome,
        reason=reason,
        clinician_id=staff_id,
        clinician_username=staff_username,
        created_at=utcnow(),
    )
    screening.overrides.append(entry)
    session.flush()
    return entry


def newest_change(session: Session) -> str:
    """A token that changes whenever a record is added, updated or overridden (live refresh)."""
    parts = []
    for model in (Screening, ContactRequest, HandoffRequest):
        row = session.execute(
            select(model.id, model.updated_at).order_by(model.updated_at.desc()).limit(1)
        ).first()
        newest = session.execute(select(model.id).order_by(model.id.desc()).limit(1)).scalar()
        parts.append(f"{newest}:{row.updated_at.isoformat() if row else ''}")
    override = session.execute(
        select(OutcomeOverride.id).order_by(OutcomeOverride.id.desc()).limit(1)
    ).scalar()
    parts.append(str(override))
    return "|".join(parts)


def _screening_item(screening: Screening, rank: int) -> QueueItem:
    override = screening.overrides[-1].outcome if screening.overrides else None
    return QueueItem(
        kind="screening",
        id=screening.id,
        rank=rank,
        conversation_id=screening.conversation,
        status=screening.status,
        created_at=screening.created_at,
        outcome=screening.outcome,
        override=override,
        earliest_date=screening.earliest_date if screening.outcome == "defer" else None,
        summary="; ".join(f.reason for f in screening.findings if f.severity != "prepare")[:300]
        or ("unfinished: " + ", ".join(screening.missing) if screening.missing else ""),
    )


def _contact_item(contact: ContactRequest, row: Row) -> QueueItem:
    """`row` carries what the conversation's latest screening gives the request: its
    rank, outcome and (for a deferral) earliest date."""
    return QueueItem(
        kind="contact",
        id=contact.id,
        rank=row.rank,
        conversation_id=contact.conversation,
        status=contact.status,
        created_at=contact.created_at,
        outcome=row.outcome,
        earliest_date=_date(row.earliest),
        name=contact.name,
        phone=contact.phone,
        email=contact.email,
        summary=f"call back: {contact.preferred_time}" if contact.preferred_time else "call back",
    )


def _handoff_item(handoff: HandoffRequest, row: Row) -> QueueItem:
    status = "new" if handoff.status in ("open", "in_progress") else handoff.status
    return QueueItem(
        kind="handoff",
        id=handoff.id,
        rank=row.rank,
        conversation_id=handoff.conversation,
        status=status,
        created_at=handoff.created_at,
        outcome=row.outcome,
        summary=handoff.reason[:300],
    )


def _date(value: date | str | None) -> date | None:
    # A date computed in a UNION comes back from SQLite as its text.
    return date.fromisoformat(value) if isinstance(value, str) else value
