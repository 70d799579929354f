"""The clinic's week in numbers, for the front desk's Overview page (clinicians).

Every query counts in the database and returns a few dozen rows, whatever the range:
screenings per day by outcome, the funnel, the channel mix, the time from a screening to
the staff's first follow-up, and the rules that fire most. Days are the clinic's
(NEEDLECHECK_TIMEZONE): the range is cut where the zone's offset changes (summer time),
and each piece is grouped by its local date with a fixed offset, the same SQL on SQLite
and PostgreSQL. docs/performance.md has the timings on 100,000 screenings.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from needlecheck.screening.engine import OUTCOMES
from needlecheck.screening.facts import FACT_NAMES
from needlecheck.store.funnel import CONSENTED, STARTED, question_stage
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    FunnelEvent,
    Screening,
    ScreeningFinding,
)

# A screening stored before its outcome was known (the person stopped answering).
UNFINISHED = "unfinished"
# The funnel's steps, in order: (key, label).
FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    (STARTED, "Started (consent question put)"),
    (CONSENTED, "Agreed to the health questions"),
    *((question_stage(name), f"Reached: {name.replace('_', ' ')}") for name in FACT_NAMES),
    ("outcome", "Got an outcome"),
    ("contact", "Asked to be contacted"),
    ("booked", "Booked by staff"),
)
# The time from a screening to the staff's first follow-up, in buckets (upper bounds).
CONTACT_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("under 1 hour", 3600.0),
    ("1 to 4 hours", 4 * 3600.0),
    ("4 to 24 hours", 24 * 3600.0),
    ("1 to 3 days", 3 * 86400.0),
    ("over 3 days", None),
)
NOT_CONTACTED = "not contacted yet"
TOP_RULES = 10


@dataclass
class Overview:
    start: date
    end: date  # inclusive
    days: list[date]
    # {day: {outcome: count}}; every day of the range, every outcome (and unfinished).
    per_day: dict[date, dict[str, int]]
    funnel: list[tuple[str, str, int]]  # (key, label, conversations)
    channels: list[tuple[str, int]]
    contact_times: list[tuple[str, int]]
    median_contact_seconds: float | None
    contacted: int
    rules: list[tuple[str, int]]
    screenings: int = 0
    outcomes: tuple[str, ...] = field(default=(*OUTCOMES, UNFINISHED))


def bounds(start: date, end: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants of `start`'s local midnight and of the midnight after `end`."""
    first = datetime.combine(start, time(), zone).astimezone(timezone.utc)
    last = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(timezone.utc)
    return first, last


def offset_pieces(
    first: datetime, last: datetime, zone: tzinfo
) -> list[tuple[datetime, datetime, int]]:
    """[first, last) cut where the zone's UTC offset changes: (from, to, offset minutes)."""

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset() or timedelta()
        return int(delta.total_seconds() // 60)

    pieces: list[tuple[datetime, datetime, int]] = []
    at = first
    while at < last:
        here = offset(at)
        # Walk day by day to the first day whose offset differs, then find the minute.
        step = at
        while step < last and offset(step) == here:
            step += timedelta(days=1)
        if step >= last and offset(last - timedelta(seconds=1)) == here:
            pieces.append((at, last, here))
            break
        low, high = step - timedelta(days=1), min(step, last)
        while high - low > timedelta(minutes=1):
            middle = low + (high - low) / 2
            if offset(middle) == here:
                low = middle
            else:
                high = middle
        cut = high.replace(second=0, microsecond=0)
        pieces.append((at, cut, here))
        at = cut
    return pieces


def _local_date(session: Session, column, minutes: int) -> ColumnElement:
    """The date of a stored UTC time `minutes` east of UTC, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        shifted = column.op("AT TIME ZONE")("UTC") + func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.date(shifted)
    return func.date(column, f"{minutes:+d} minutes")


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _seconds_between(session: Session, earlier, later) -> ColumnElement:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def overview(session: Session, start: date, end: date, zone: tzinfo) -> Overview:
    """The numbers of the clinic's days `start` to `end` (inclusive), in `zone`."""
    first, last = bounds(start, end, zone)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    outcomes = (*OUTCOMES, UNFINISHED)
    in_range = and_(Screening.created_at >= first, Screening.created_at < last)

    per_day = {day: dict.fromkeys(outcomes, 0) for day in days}
    for piece_from, piece_to, minutes in offset_pieces(first, last, zone):
        day = _local_date(session, Screening.created_at, minutes)
        rows = session.execute(
            select(day, Screening.outcome, func.count())
            .where(Screening.created_at >= piece_from, Screening.created_at < piece_to)
            .group_by(day, Screening.outcome)
        )
        for value, outcome, count in rows:
            key = _as_date(value)
            if key in per_day:
                per_day[key][outcome or UNFINISHED] += count
    screenings = sum(sum(counts.values()) for counts in per_day.values())

    reached = dict(
        session.execute(
            select(FunnelEvent.stage, func.count())
            .where(FunnelEvent.at >= first, FunnelEvent.at < last)
            .group_by(FunnelEvent.stage)
        ).all()
    )
    reached["outcome"] = session.execute(
        select(func.count(func.distinct(Screening.conversation_id))).where(
            in_range, Screening.outcome.is_not(None)
        )
    ).scalar_one()
    reached["contact"] = session.execute(
        select(func.count(func.distinct(ContactRequest.conversation_id))).where(
            ContactRequest.created_at >= first, ContactRequest.created_at < last
        )
    ).scalar_one()
    booked = (
        select(FollowUp.record_type, FollowUp.record_id)
        .where(FollowUp.status == "booked", FollowUp.created_at >= first)
        .where(FollowUp.created_at < last)
        .distinct()
        .subquery()
    )
    reached["booked"] = session.execute(select(func.count()).select_from(booked)).scalar_one()
    funnel = [(key, label, int(reached.get(key, 0))) for key, label in FUNNEL_STEPS]

    channels = [
        (channel, count)
        for channel, count in session.execute(
            select(Screening.channel, func.count())
            .where(in_range)
            .group_by(Screening.channel)
            .order_by(func.count().desc(), Screening.channel)
        )
    ]

    # Driven from the range's screenings (a correlated subquery per screening, on the
    # follow-ups' record index), never from every follow-up there is.
    first_contact = (
        select(func.min(FollowUp.created_at))
        .where(FollowUp.record_type == "screening", FollowUp.record_id == Screening.id)
        .correlate(Screening)
        .scalar_subquery()
    )
    waits = sorted(
        float(seconds)
        for (seconds,) in session.execute(
            select(_seconds_between(session, Screening.created_at, first_contact)).where(in_range)
        )
        if seconds is not None
    )
    buckets: dict[str, int] = {label: 0 for label, _ in CONTACT_BUCKETS}
    for seconds in waits:
        for label, upper in CONTACT_BUCKETS:
            if upper is None or seconds < upper:
                buckets[label] += 1
                break
    contact_times = [*buckets.items(), (NOT_CONTACTED, screenings - len(waits))]

    rules = [
        (rule, count)
        for rule, count in session.execute(
            select(ScreeningFinding.rule_id, func.count())
            .join(Screening, Screening.id == ScreeningFinding.screening_id)
            .where(in_range)
            .group_by(ScreeningFinding.rule_id)
            .order_by(func.count().desc(), ScreeningFinding.rule_id)
            .limit(TOP_RULES)
        )
    ]
    return Overview(
        start=start,
        end=end,
        days=days,
        per_day=per_day,
        funnel=funnel,
        channels=channels,
        contact_times=contact_times,
        median_contact_seconds=statistics.median(waits) if waits else None,
        contacted=len(waits),
        rules=rules,
        screenings=screenings,
    )
