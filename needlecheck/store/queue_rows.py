"""The queue's rows in SQL: which records, in which order, how many.

One statement gives the filtered queue as (kind, id, rank, earliest date, outcome) rows
in the queue's order, so that a page is a LIMIT/OFFSET of it and its count a COUNT(*),
and nothing encrypted is read to order or count it. needlecheck.store.queue turns a
page's rows into QueueItems. The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone, tzinfo

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

from needlecheck.store.clinic_days import midnight
from needlecheck.store.conversation_groups import same_conversation, widen
from needlecheck.store.models import ContactRequest, HandoffRequest, Screening

# A screening's rank by its outcome; anything else (clinician_review, not_suitable,
# unfinished) is a call back (2). A contact request with no screening is 3.
URGENT, HANDOFF, CALL_BACK, CONTACT_ONLY, DEFERRED, ELIGIBLE = range(6)
_OUTCOME_RANK = {"urgent_care": URGENT, "defer": DEFERRED, "eligible": ELIGIBLE}
# A screening without an outcome yet, told apart in SQL from no screening at all (NULL).
UNFINISHED = "unfinished"


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
    for calendar days in `zone` (clinic_days.midnight); either end may be open."""
    zone = zone or timezone.utc
    return (
        midnight(since, zone) if since is not None else None,
        midnight(until + timedelta(days=1), zone) if until is not None else None,
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
    conversation: ColumnElement,
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
    if filters.conversations is not None:
        conditions.append(conversation.in_(sorted(filters.conversations)))
    return statement.where(and_(*conditions)) if conditions else statement


def _screenings(filters: Filters, split: dict[str, str]) -> Select:
    """Each conversation's latest screening (by time, then ID): one for which no later
    screening of its conversation exists, probed in ix_screenings_queue."""
    later = aliased(Screening)
    newer = (
        select(later.id)
        .where(same_conversation(later.conversation_id, Screening.conversation_id, split))
        .where(
            or_(
                later.created_at > Screening.created_at,
                and_(later.created_at == Screening.created_at, later.id > Screening.id),
            )
        )
    )
    return _filtered(
        select(
            literal("screening", String).label("kind"),
            Screening.id,
            _rank(Screening.outcome).label("rank"),
            _deferred_until(Screening.outcome, Screening.earliest_date).label("earliest"),
            Screening.created_at,
            Screening.outcome,
        ).where(~newer.exists()),
        filters,
        status=Screening.status,
        outcome=Screening.outcome,
        created_at=Screening.created_at,
        conversation=Screening.conversation_id,
    )


def _latest(
    conversation: ColumnElement,
    column: Callable[[type[Screening]], ColumnElement],
    split: dict[str, str],
) -> ColumnElement:
    """`column` of the latest screening of a request's conversation, in SQL: one probe
    of ix_screenings_queue per request (a join to every conversation's latest screening
    made PostgreSQL number all of them for each page)."""
    screening = aliased(Screening)
    return (
        select(column(screening))
        .where(same_conversation(screening.conversation_id, conversation, split))
        .order_by(screening.created_at.desc(), screening.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _requests(model: type, filters: Filters, split: dict[str, str]) -> Select:
    """Contact or handoff requests, each with what its conversation's latest screening
    gives it: rank, outcome and (a contact request's, for a deferral) earliest date."""
    # The latest screening's outcome; UNFINISHED for one without, NULL for no screening.
    found = _latest(model.conversation_id, lambda s: func.coalesce(s.outcome, UNFINISHED), split)
    outcome = func.nullif(found, UNFINISHED)
    if model is ContactRequest:
        kind, status = "contact", ContactRequest.status
        rank = case((found.is_(None), CONTACT_ONLY), else_=_rank(found))
        earliest = case(
            (found == "defer", _latest(model.conversation_id, lambda s: s.earliest_date, split)),
            else_=cast(null(), Date),
        )
    else:
        kind = "handoff"
        # What staff set; "open" and "in_progress" are new to the queue's filter.
        status = case(
            (HandoffRequest.status.in_(("open", "in_progress")), "new"),
            else_=HandoffRequest.status,
        )
        rank = case((found == "urgent_care", URGENT), else_=HANDOFF)
        earliest = cast(null(), Date)
    return _filtered(
        select(literal(kind, String), model.id, rank, earliest, model.created_at, outcome),
        filters,
        status=status,
        outcome=found,
        created_at=model.created_at,
        conversation=model.conversation_id,
    )


def queue_rows(filters: Filters, split: dict[str, str]) -> Select:
    """The filtered queue's rows, unordered: kind, id, rank, earliest, created_at,
    outcome. `split` is conversation_groups.split_conversations' answer."""
    if filters.conversations is not None:
        filters = replace(filters, conversations=widen(filters.conversations, split))
    return union_all(
        _screenings(filters, split),
        _requests(ContactRequest, filters, split),
        _requests(HandoffRequest, filters, split),
    )


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
