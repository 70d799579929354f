"""The clinic's week in numbers, for the front desk's Overview page (clinicians).

`overview()` adds up the summary kept per clinic day (needlecheck.store.overview_summary):
a few thousand rows for a year. `live_overview()` counts the same from the raw tables,
which the summary must always equal (the tests compare them). There, every query counts
in the database and returns a few dozen rows, whatever the range:
screenings per day by outcome, the funnel, the channel mix, the time from a screening to
the staff's first follow-up, and the rules that fire most. Days are the clinic's
(NEEDLECHECK_TIMEZONE): the range is cut where the zone's offset changes (summer time),
and each piece is grouped by its local date with a fixed offset, the same SQL on SQLite
and PostgreSQL. docs/performance.md has the timings on 100,000 screenings.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from needlecheck.screening.engine import OUTCOMES
from needlecheck.screening.facts import FACT_NAMES
from needlecheck.store import overview_summary as summary
from needlecheck.store.clinic_days import as_date, bounds, local_date_sql, offset_pieces, zone_name
from needlecheck.store.funnel import CONSENTED, STARTED, question_stage
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    FunnelEvent,
    OverviewCount,
    OverviewWait,
    Screening,
    ScreeningFinding,
)
from needlecheck.store.overview_summary import UNFINISHED

__all__ = ["UNFINISHED", "Overview", "bounds", "live_overview", "offset_pieces", "overview"]
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


def _seconds_between(session: Session, earlier, later) -> ColumnElement:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def live_overview(session: Session, start: date, end: date, zone: tzinfo) -> Overview:
    """The numbers of the clinic's days `start` to `end` (inclusive), in `zone`, counted
    from the raw tables (what the summary must always equal)."""
    first, last = bounds(start, end, zone)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    outcomes = (*OUTCOMES, UNFINISHED)
    in_range = and_(Screening.created_at >= first, Screening.created_at < last)

    per_day = {day: dict.fromkeys(outcomes, 0) for day in days}
    for piece_from, piece_to, minutes in offset_pieces(first, last, zone):
        day = local_date_sql(session, Screening.created_at, minutes)
        rows = session.execute(
            select(day, Screening.outcome, func.count())
            .where(Screening.created_at >= piece_from, Screening.created_at < piece_to)
            .group_by(day, Screening.outcome)
        )
        for value, outcome, count in rows:
            key = as_date(value)
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


def overview(session: Session, start: date, end: date, zone: tzinfo) -> Overview:
    """The numbers of the clinic's days `start` to `end` (inclusive), in `zone`, from the
    summary (rebuilt first if it counts days in another zone: the front desk's start
    normally did that already, see `summary_in_zone`)."""
    summary_in_zone(session, zone)
    return summarized_overview(session, start, end)


def summary_in_zone(session: Session, zone: tzinfo) -> bool:
    """Rebuild the summary when it counts days in another zone than `zone`
    (NEEDLECHECK_TIMEZONE changed): seconds, once. True when it did."""
    built = summary.summary_zone(session)
    if built is not None and zone_name(built) == zone_name(zone):
        return False
    return summary.rebuild_unless_in(session, zone)


def _sums(session: Session, series: str, start: date, end: date, *extra) -> dict[str, int]:
    rows = session.execute(
        select(OverviewCount.key, func.sum(OverviewCount.n))
        .where(OverviewCount.series == series, OverviewCount.day.between(start, end), *extra)
        .group_by(OverviewCount.key)
    )
    return {key: int(n) for key, n in rows}


def _firsts(session: Session, series: str, start: date, end: date) -> int:
    """Distinct conversations (or records): events in the range whose previous one is not."""
    earlier = or_(OverviewCount.key == summary.NONE_BEFORE, OverviewCount.key < start.isoformat())
    return sum(_sums(session, series, start, end, earlier).values())


def _ranked(session: Session, series: str, start: date, end: date, limit: int | None):
    total = func.sum(OverviewCount.n)
    statement = (
        select(OverviewCount.key, total)
        .where(OverviewCount.series == series, OverviewCount.day.between(start, end))
        .group_by(OverviewCount.key)
        .having(total > 0)
        .order_by(total.desc(), OverviewCount.key)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [(key, int(n)) for key, n in session.execute(statement)]


def _median_ms(session: Session, buckets: dict[int, int], start: date, end: date) -> float | None:
    """The exact median wait: find the bucket of each middle rank, then that rank inside
    the bucket in SQL (a running sum), so only one value leaves the database."""
    total = sum(buckets.values())
    if not total:
        return None
    values = []
    for rank in sorted({(total - 1) // 2, total // 2}):
        below = 0
        for bucket in sorted(buckets):
            if rank < below + buckets[bucket]:
                break
            below += buckets[bucket]
        grouped = (
            select(OverviewWait.wait_ms, func.sum(OverviewWait.n).label("n"))
            .where(OverviewWait.bucket == bucket, OverviewWait.day.between(start, end))
            .group_by(OverviewWait.wait_ms)
            .subquery()
        )
        running = select(
            grouped.c.wait_ms, func.sum(grouped.c.n).over(order_by=grouped.c.wait_ms).label("upto")
        ).subquery()
        values.append(
            int(
                session.execute(
                    select(running.c.wait_ms)
                    .where(running.c.upto > rank - below)
                    .order_by(running.c.wait_ms)
                    .limit(1)
                ).scalar_one()
            )
        )
    return (values[0] + values[-1]) / 2 / 1000


def _bar(bucket: int) -> str:
    lower = summary.WAIT_EDGES[bucket]
    return next(label for label, upper in CONTACT_BUCKETS if upper is None or lower < upper)


def summarized_overview(session: Session, start: date, end: date) -> Overview:
    """The Overview's numbers from the summary (its zone is the one it was built for)."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    outcomes = (*OUTCOMES, UNFINISHED)
    per_day = {day: dict.fromkeys(outcomes, 0) for day in days}
    for day, outcome, n in session.execute(
        select(OverviewCount.day, OverviewCount.key, func.sum(OverviewCount.n))
        .where(OverviewCount.series == "outcome", OverviewCount.day.between(start, end))
        .group_by(OverviewCount.day, OverviewCount.key)
    ):
        per_day[as_date(day)][outcome] += int(n)
    screenings = sum(sum(counts.values()) for counts in per_day.values())

    reached: dict[str, int] = _sums(session, "stage", start, end)
    reached["outcome"] = _firsts(session, "first_outcome", start, end)
    reached["contact"] = _firsts(session, "first_contact", start, end)
    reached["booked"] = _firsts(session, "first_booked", start, end)
    funnel = [(key, label, int(reached.get(key, 0))) for key, label in FUNNEL_STEPS]

    waits = {int(bucket): n for bucket, n in _sums(session, "wait", start, end).items() if n}
    bars: dict[str, int] = {label: 0 for label, _ in CONTACT_BUCKETS}
    for bucket, n in waits.items():
        bars[_bar(bucket)] += n
    contacted = sum(waits.values())
    return Overview(
        start=start,
        end=end,
        days=days,
        per_day=per_day,
        funnel=funnel,
        channels=_ranked(session, "channel", start, end, None),
        contact_times=[*bars.items(), (NOT_CONTACTED, screenings - contacted)],
        median_contact_seconds=_median_ms(session, waits, start, end),
        contacted=contacted,
        rules=_ranked(session, "rule", start, end, TOP_RULES),
        screenings=screenings,
    )
