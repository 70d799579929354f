"""The queue's rows in SQL: which records, in which order, how many.

One statement gives the filtered queue as (kind, id, rank, earliest date, outcome) rows
in the queue's order, so that a page is a LIMIT/OFFSET of it and its count a COUNT(*),
and nothing encrypted is read to order or count it. needlecheck.store.queue turns a
page's rows into QueueItems. The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from sqlalchemy import (
    Date,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from needlecheck.store.conversation_groups import group_key, widen
from needlecheck.store.models import ContactRequest, HandoffRequest, Screening

# A screening's rank by its outcome; anything else (clinician_review, not_suitable,
# unfinished) is a call back (2). A contact request with no screening is 3.
URGENT, HANDOFF, CALL_BACK, CONTACT_ONLY, DEFERRED, ELIGIBLE = range(6)
_OUTCOME_RANK = {"urgent_care": URGENT, "defer": DEFERRED, "eligible": ELIGIBLE}


@dataclass(frozen=True)
class Filters:
    status: str = "open"
    outcome: str | None = None
    # The UTC instants [since, until) the records' times must fall in.
    since: datetime | None = None
    until: datetime | None = None
    # The stored conversation IDs a search matched; None when nothing was searched.
    conversations: set[str] | None = None


def day_bounds(
    since: date | None, until: date | None, zone: tzinfo | None
) -> tuple[datetime | None, datetime | None]:
    """The first instant of the day `since` and the first after the day `until`, in UTC,
    for calendar days in `zone`. Computed here, not in SQL: SQLite has no time zones, and
    a day across a clock change is 23 or 25 hours. A midnight that a clock change skips
    is the instant of the change (zoneinfo's fold=0), still the day's first instant."""
    zone = zone or timezone.utc

    def start(day: date) -> datetime:
        return datetime.combine(day, time(), zone).astimezone(timezone.utc)

    return (
        start(since) if since is not None else None,
        start(until + timedelta(days=1)) if until is not None else None,
    )


def _rank(outcome: ColumnElement) -> ColumnElement:
    return case(*((outcome == name, rank) for name, rank in _OUTCOME_RANK.items()), else_=CALL_BACK)


def _deferred_until(outcome: ColumnElement, earliest: ColumnElement) -> ColumnElement:
    # The earliest date orders only a deferral; other outcomes' dates are ignored.
    return case((outcome == "defer", earliest), else_=cast(null(), Date))


def _filtered(
    statement: Select,
    filters: Filters,
    *,
    status: ColumnElement,
    outcome: ColumnElement,
    created_at: ColumnElement,
    conversation: ColumnElement | None,
) -> Select:
    conditions = []
    if filters.status == "open":
        conditions.append(status != "closed")
    elif filters.status != "all":
        conditions.append(status == filters.status)
    if filters.outcome is not None:
        conditions.append(outcome == filters.outcome)
    if filters.since is not None:
        conditions.append(created_at >= filters.since)
    if filters.until is not None:
        conditions.append(created_at < filters.until)
    if filters.conversations is not None and conversation is not None:
        conditions.append(conversation.in_(sorted(filters.conversations)))
    return statement.where(and_(*conditions)) if conditions else statement


def latest_screenings(split: dict[str, str], conversations: set[str] | None) -> Select:
    """Each conversation's latest screening (by time, then ID)."""
    if split:
        return _latest_by_window(split, conversations)
    # A screening for which no later one of its conversation exists: one probe of
    # ix_screenings_queue per screening, three times faster on SQLite than the window
    # below, which sorts them all (14 against 42 ms for 20,000).
    later = aliased(Screening)
    newer = (
        select(later.id)
        .where(later.conversation_id == Screening.conversation_id)
        .where(
            or_(
                later.created_at > Screening.created_at,
                and_(later.created_at == Screening.created_at, later.id > Screening.id),
            )
        )
    )
    statement = select(*_latest_columns(Screening.conversation_id)).where(~newer.exists())
    if conversations is not None:
        statement = statement.where(Screening.conversation_id.in_(sorted(conversations)))
    return statement


def _latest_by_window(split: dict[str, str], conversations: set[str] | None) -> Select:
    """In a key rotation's window a conversation is grouped by a CASE over its digests,
    which no index holds: the screenings are numbered in each group instead."""
    conversation = group_key(Screening.conversation_id, split)
    ranked = select(
        *_latest_columns(conversation),
        func.row_number()
        .over(
            partition_by=conversation,
            order_by=(Screening.created_at.desc(), Screening.id.desc()),
        )
        .label("newest"),
    )
    if conversations is not None:
        ranked = ranked.where(Screening.conversation_id.in_(sorted(conversations)))
    ranked = ranked.subquery("ranked")
    return select(*(c for c in ranked.c if c.key != "newest")).where(ranked.c.newest == 1)


def _latest_columns(conversation: ColumnElement) -> tuple[ColumnElement, ...]:
    return (
        Screening.id,
        Screening.outcome,
        Screening.earliest_date,
        Screening.status,
        Screening.created_at,
        conversation.label("conversation"),
    )


def queue_rows(filters: Filters, split: dict[str, str]) -> Select:
    """The filtered queue's rows, unordered: kind, id, rank, earliest, created_at,
    outcome. `split` is conversation_groups.split_conversations' answer."""
    conversations = None
    if filters.conversations is not None:
        conversations = widen(filters.conversations, split)
        filters = replace(filters, conversations=conversations)
    # Inlined, SQLite joins each request to its conversation's screenings through
    # ix_screenings_queue; the window's numbering (a key rotation) is computed once.
    latest_select = latest_screenings(split, conversations)
    latest = latest_select.cte("latest") if split else latest_select.subquery("latest")

    screenings = _filtered(
        select(
            literal("screening", String).label("kind"),
            latest.c.id,
            _rank(latest.c.outcome).label("rank"),
            _deferred_until(latest.c.outcome, latest.c.earliest_date).label("earliest"),
            latest.c.created_at,
            latest.c.outcome,
        ),
        filters,
        status=latest.c.status,
        outcome=latest.c.outcome,
        created_at=latest.c.created_at,
        # The search already chose the screenings that `latest` is made of.
        conversation=None,
    )
    # A contact or handoff request takes its conversation's latest screening's outcome.
    contact_conversation = group_key(ContactRequest.conversation_id, split)
    contacts = _filtered(
        select(
            literal("contact", String),
            ContactRequest.id,
            case((latest.c.id.is_(None), CONTACT_ONLY), else_=_rank(latest.c.outcome)),
            _deferred_until(latest.c.outcome, latest.c.earliest_date),
            ContactRequest.created_at,
            latest.c.outcome,
        ).outerjoin(latest, latest.c.conversation == contact_conversation),
        filters,
        status=ContactRequest.status,
        outcome=latest.c.outcome,
        created_at=ContactRequest.created_at,
        conversation=ContactRequest.conversation_id,
    )
    handoff_status = case(
        (HandoffRequest.status.in_(("open", "in_progress")), "new"), else_=HandoffRequest.status
    )
    handoffs = _filtered(
        select(
            literal("handoff", String),
            HandoffRequest.id,
            case((latest.c.outcome == "urgent_care", URGENT), else_=HANDOFF),
            cast(null(), Date),
            HandoffRequest.created_at,
            latest.c.outcome,
        ).outerjoin(
            latest, latest.c.conversation == group_key(HandoffRequest.conversation_id, split)
        ),
        filters,
        status=handoff_status,
        outcome=latest.c.outcome,
        created_at=HandoffRequest.created_at,
        conversation=HandoffRequest.conversation_id,
    )
    return union_all(screenings, contacts, handoffs)


def ordered(rows: Select) -> Select:
    """The rows in the queue's order: rank, earliest date (none last), time received,
    kind, ID. Total, so that consecutive pages neither overlap nor skip a row. Each row
    also carries the count of them all (`total`): the page and its count in one pass."""
    queue = rows.subquery("queue")
    return select(
        queue.c.kind,
        queue.c.id,
        queue.c.rank,
        queue.c.earliest,
        queue.c.outcome,
        func.count().over().label("total"),
    ).order_by(
        queue.c.rank,
        # SQLite puts NULLs first, PostgreSQL last: said explicitly.
        case((queue.c.earliest.is_(None), 1), else_=0),
        queue.c.earliest,
        queue.c.created_at,
        queue.c.kind,
        queue.c.id,
    )


def counted(rows: Select) -> Select:
    return select(func.count()).select_from(rows.subquery("queue"))


def page_rows(session: Session, rows: Select, offset: int, limit: int | None) -> list[Row]:
    statement = ordered(rows).offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.execute(statement))
