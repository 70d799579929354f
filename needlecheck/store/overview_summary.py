"""The Overview's summary: what it counts, kept per day of the clinic, so that a year is a
few thousand rows to add up instead of every screening, finding, follow-up and funnel step.

Two tables hold counts only, never a conversation, a record's number or a person:
`overview_counts` (series, day, key, n) and `overview_waits` (the multiset of screenings'
times to first follow-up, to the millisecond, for the exact median). `overview_state`
names the zone the days are in.

Every write the Overview reads goes through `keeping()` in the write's own transaction:
it adds up the affected conversations' and records' contributions before and after the
write and applies the difference as `n = n + delta` upserts, which commute, so concurrent
writers never lose a count; on PostgreSQL two writers of one conversation take turns (an
advisory lock per conversation), so neither counts the other's change. `rebuild()` recomputes everything from the raw tables (the
migration, `needlecheck overview rebuild`, the retention purge, key rotation, a change
of NEEDLECHECK_TIMEZONE).

"Firsts" (`first_*` series) serve the Overview's counts of distinct conversations or
records: each event is keyed by its day and the day of the same group's event before it
(empty: none), so the distinct groups of a range are its events whose previous one is
before the range.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from needlecheck.store.clinic_days import (
    as_date,
    as_utc,
    local_date_sql,
    local_day,
    offset_pieces,
    zone_name,
    zone_named,
)
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    FunnelEvent,
    HandoffRequest,
    OverviewCount,
    OverviewState,
    OverviewWait,
    Screening,
    ScreeningFinding,
    utcnow,
)

# A screening stored before its outcome was known (the person stopped answering).
UNFINISHED = "unfinished"
NONE_BEFORE = ""
# Advisory locks share one namespace per database: the summary's are told apart by this.
LOCK_PREFIX = "needlecheck overview "
# Upper edges of the waits' buckets in seconds; they include the Overview's own (1 h, 4 h,
# 24 h, 3 days), so every bucket falls in one of its bars. The median reads one bucket.
WAIT_EDGES = (
    *(0, 60, 300, 900, 1800, 3600, 2 * 3600, 3 * 3600, 4 * 3600, 6 * 3600, 8 * 3600),
    *(12 * 3600, 16 * 3600, 86400, 36 * 3600, 2 * 86400, 3 * 86400, 5 * 86400, 7 * 86400),
    *(14 * 86400, 30 * 86400),
)
_EDGES_MS = [1000 * edge for edge in WAIT_EDGES]
CountKey = tuple[str, date, str]  # series, day, key
WaitKey = tuple[int, date, int]  # bucket, day, wait in ms


def wait_bucket(wait_ms: int) -> int:
    """A wait's bucket; a follow-up recorded before the screening counts as under a minute."""
    return max(0, bisect.bisect_right(_EDGES_MS, wait_ms) - 1)


@dataclass
class Contributions:
    counts: Counter[CountKey] = field(default_factory=Counter)
    waits: Counter[WaitKey] = field(default_factory=Counter)

    def minus(self, other: Contributions) -> Contributions:
        counts, waits = Counter(self.counts), Counter(self.waits)
        counts.subtract(other.counts)
        waits.subtract(other.waits)
        return Contributions(
            Counter({k: n for k, n in counts.items() if n}),
            Counter({k: n for k, n in waits.items() if n}),
        )


def summary_zone(session: Session, *, lock: bool = False) -> tzinfo | None:
    """The zone the summary counts days in; None before it was ever built. With `lock`, a
    writer holds the state row shared, so a rebuild waits for it (PostgreSQL)."""
    statement = select(OverviewState.zone).where(OverviewState.id == 1)
    if lock:
        statement = statement.with_for_update(read=True)
    name = session.execute(statement).scalar_one_or_none()
    return zone_named(name) if name else None


@contextmanager
def keeping(
    session: Session,
    *,
    conversations: Collection[str] = (),
    records: Collection[tuple[str, int]] = (),
    digests: Collection[str] = (),
) -> Iterator[None]:
    """Keep the summary right across the write in the block, which may only change these
    conversations (as stored: keys), records ((type, id)) and funnel digests."""
    zone = summary_zone(session, lock=True)
    if zone is None:
        yield
        return
    _one_writer_per_conversation(session, conversations, records, digests)
    selection = {"conversations": conversations, "records": records, "digests": digests}
    before = contributions(session, zone, **selection)
    yield
    session.flush()
    apply(session, contributions(session, zone, **selection).minus(before))


RECORD_MODELS = {"screening": Screening, "contact": ContactRequest, "handoff": HandoffRequest}


def _one_writer_per_conversation(
    session: Session,
    conversations: Collection[str],
    records: Collection[tuple[str, int]],
    digests: Collection[str],
) -> None:
    """On PostgreSQL, hold a transaction lock per conversation touched before the "before"
    count: another transaction writing the same conversation (the same screening stored
    twice by two instances, a follow-up during a correction) could otherwise commit
    between the two counts, and its change would be counted by both. SQLite has one
    writer at a time already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = set(conversations) | set(digests)
    for kind, ids in _by_kind(records).items():
        model = RECORD_MODELS[kind]
        keys.update(
            session.execute(select(model.conversation_id).where(model.id.in_(ids))).scalars()
        )
    # In one order everywhere, so that two writers of the same two conversations cannot
    # each hold one lock and wait for the other.
    for key in sorted(keys):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(LOCK_PREFIX + key))))


def _by_kind(records: Collection[tuple[str, int]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for kind, record_id in records:
        grouped.setdefault(kind, []).append(record_id)
    return grouped


def note_stage(session: Session, at: datetime, stage: str) -> None:
    """A funnel step just stored (its unique constraint makes it a plain +1)."""
    zone = summary_zone(session, lock=True)
    if zone is not None:
        apply(session, Contributions(Counter({("stage", local_day(at, zone), stage): 1})))


def forget_stages(session: Session, older_than: datetime) -> None:
    """The funnel steps before `older_than` are about to be purged: uncount them."""
    zone = summary_zone(session, lock=True)
    if zone is None:
        return
    gone: Counter[CountKey] = Counter()
    _all_stages(session, zone, gone, before=older_than)
    apply(session, Contributions().minus(Contributions(gone)))


def _upsert(session: Session, model: type, keys: list[str], rows: list[dict]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={"n": model.n + statement.excluded.n}
    )
    session.execute(statement, rows)


def apply(session: Session, delta: Contributions) -> None:
    _upsert(
        session,
        OverviewCount,
        ["series", "day", "key"],
        [
            {"series": s, "day": d, "key": k, "n": n}
            for (s, d, k), n in sorted(delta.counts.items())
        ],
    )
    _upsert(
        session,
        OverviewWait,
        ["bucket", "day", "wait_ms"],
        [
            {"bucket": b, "day": d, "wait_ms": w, "n": n}
            for (b, d, w), n in sorted(delta.waits.items())
        ],
    )


def rebuild_unless_in(session: Session, zone: tzinfo) -> bool:
    """Rebuild for `zone` unless the summary already counts its days; True when it did.
    The state row is taken first, so a second caller (another front desk, a page view)
    waits for a rebuild under way and then finds it done (PostgreSQL)."""
    state = session.execute(
        select(OverviewState).where(OverviewState.id == 1).with_for_update()
    ).scalar_one_or_none()
    if state is not None and state.zone == zone_name(zone):
        return False
    rebuild(session, zone)
    return True


def rebuild(session: Session, zone: tzinfo) -> Contributions:
    """Recompute the whole summary from the raw tables, for `zone`."""
    # Writers hold the state row shared while they write: take it whole first.
    state = session.execute(
        select(OverviewState).where(OverviewState.id == 1).with_for_update()
    ).scalar_one_or_none()
    session.execute(delete(OverviewCount))
    session.execute(delete(OverviewWait))
    built = contributions(session, zone, everything=True)
    session.flush()
    apply(session, built)
    if state is None:
        session.add(OverviewState(id=1, zone=zone_name(zone), built_at=utcnow()))
    else:
        state.zone, state.built_at = zone_name(zone), utcnow()
    session.flush()
    return built


def _firsts(series: str, events: Iterable[tuple[str, datetime, int]], zone: tzinfo) -> Counter:
    """Each event keyed by its day and the day of its group's previous event."""
    found: Counter[CountKey] = Counter()
    previous: tuple[str, datetime] | None = None
    for group, at, _ in sorted(events, key=lambda e: (e[0], as_utc(e[1]), e[2])):
        before = (
            local_day(previous[1], zone).isoformat()
            if previous and previous[0] == group
            else NONE_BEFORE
        )
        found[(series, local_day(at, zone), before)] += 1
        previous = (group, at)
    return found


def contributions(
    session: Session,
    zone: tzinfo,
    *,
    conversations: Collection[str] = (),
    records: Collection[tuple[str, int]] = (),
    digests: Collection[str] = (),
    everything: bool = False,
) -> Contributions:
    """What these conversations (everything about them), records (their follow-ups) and
    funnel digests add to the summary, from the raw tables as they are now."""
    found = Contributions()
    counts = found.counts
    wanted = set(records)
    screening_times: dict[int, datetime] = {}
    if everything or conversations:

        def of(model):
            statement = select(model.id, model.conversation_id, model.created_at)
            return (
                statement
                if everything
                else statement.where(model.conversation_id.in_(sorted(conversations)))
            )

        rows = session.execute(
            of(Screening).add_columns(Screening.outcome, Screening.channel)
        ).all()
        for screening_id, _, created, outcome, channel in rows:
            day = local_day(created, zone)
            counts[("outcome", day, outcome or UNFINISHED)] += 1
            counts[("channel", day, channel)] += 1
            screening_times[screening_id] = created
        counts.update(
            _firsts("first_outcome", ((c, t, i) for i, c, t, o, _ in rows if o is not None), zone)
        )
        findings = select(ScreeningFinding.screening_id, ScreeningFinding.rule_id)
        if not everything:
            findings = findings.where(ScreeningFinding.screening_id.in_(sorted(screening_times)))
        for screening_id, rule in session.execute(findings):
            counts[("rule", local_day(screening_times[screening_id], zone), rule)] += 1
        contacts = session.execute(of(ContactRequest)).all()
        counts.update(_firsts("first_contact", ((c, t, i) for i, c, t in contacts), zone))
        if not everything:
            # Their follow-ups count too (a rebuild reads every follow-up anyway).
            handoffs = session.execute(of(HandoffRequest)).all()
            wanted |= {("screening", i) for i in screening_times}
            wanted |= {("contact", i) for i, _, _ in contacts} | {
                ("handoff", i) for i, _, _ in handoffs
            }
    missing = sorted(i for kind, i in wanted if kind == "screening" and i not in screening_times)
    if missing:
        screening_times.update(
            session.execute(
                select(Screening.id, Screening.created_at).where(Screening.id.in_(missing))
            ).all()
        )
    if everything or wanted:
        _follow_ups(session, zone, found, None if everything else wanted, screening_times)
    if everything:
        _all_stages(session, zone, counts)
    elif digests:
        for at, stage in session.execute(
            select(FunnelEvent.at, FunnelEvent.stage).where(
                FunnelEvent.conversation_digest.in_(sorted(digests))
            )
        ):
            counts[("stage", local_day(at, zone), stage)] += 1
    return found


def _follow_ups(
    session: Session,
    zone: tzinfo,
    found: Contributions,
    records: set[tuple[str, int]] | None,
    screening_times: dict[int, datetime],
) -> None:
    """Booked records (firsts per record) and each screening's time to first follow-up."""
    statement = select(
        FollowUp.record_type, FollowUp.record_id, FollowUp.status, FollowUp.created_at, FollowUp.id
    )
    if records is not None:
        # One IN per record type: SQLite reads the index for these, not for a row-value IN.
        by_type: dict[str, list[int]] = {}
        for kind, record_id in sorted(records):
            by_type.setdefault(kind, []).append(record_id)
        statement = statement.where(
            or_(
                *(
                    and_(FollowUp.record_type == kind, FollowUp.record_id.in_(ids))
                    for kind, ids in by_type.items()
                )
            )
        )
    first: dict[int, datetime] = {}
    booked = []
    for kind, record_id, status, created, follow_up_id in session.execute(statement):
        if status == "booked":
            booked.append((f"{kind}:{record_id}", created, follow_up_id))
        if kind == "screening" and record_id in screening_times:
            known = first.get(record_id)
            if known is None or as_utc(created) < as_utc(known):
                first[record_id] = created
    found.counts.update(_firsts("first_booked", booked, zone))
    for screening_id, created in screening_times.items():
        if records is not None and ("screening", screening_id) not in records:
            continue
        day = local_day(created, zone)
        if screening_id not in first:
            continue
        wait_ms = (as_utc(first[screening_id]) - as_utc(created)) // timedelta(milliseconds=1)
        bucket = wait_bucket(wait_ms)
        found.counts[("wait", day, str(bucket))] += 1
        found.waits[(bucket, day, wait_ms)] += 1


def _all_stages(
    session: Session, zone: tzinfo, counts: Counter[CountKey], before: datetime | None = None
) -> None:
    """Every funnel step (or those before `before`), counted in SQL by day (millions)."""
    span = select(func.min(FunnelEvent.at), func.max(FunnelEvent.at))
    if before is not None:
        span = span.where(FunnelEvent.at < before)
    low, high = session.execute(span).one()
    if low is None:
        return
    first, last = as_utc(low), as_utc(high) + timedelta(seconds=1)
    for piece_from, piece_to, minutes in offset_pieces(first, last, zone):
        day = local_date_sql(session, FunnelEvent.at, minutes)
        # The span ends a second after the last step: the cut-off itself bounds the count,
        # or steps in that second would be subtracted without being deleted.
        end = piece_to if before is None else min(piece_to, before)
        for value, stage, n in session.execute(
            select(day, FunnelEvent.stage, func.count())
            .where(FunnelEvent.at >= piece_from, FunnelEvent.at < end)
            .group_by(day, FunnelEvent.stage)
        ):
            counts[("stage", as_date(value), stage)] += n
