"""Staff alerts and their outbox (docs/operating.md, "Staff alerts").

An alert is raised in the transaction that stores its record: a screening whose outcome
is `urgent_care` (`repository.save_screening`), a handoff request
(`repository.add_handoff_request`), and, by the front desk's dispatcher, a handoff
request still open after the clinic's waiting time (`raise_waiting`). It names the
record by type and number only, never a person or an answer.

The dispatcher (needlecheck.frontdesk.alerts) then queues one delivery per channel
configured (`queue_deliveries`), claims due deliveries (`claim`), sends them outside any
transaction, and records each result (`delivered`, `failed`). A claim is a conditional
UPDATE that only one dispatcher can win (on PostgreSQL after SELECT ... FOR UPDATE SKIP
LOCKED, so two dispatchers do not even wait for each other), and it holds for a lease:
a dispatcher that dies mid-send leaves its deliveries to be retried when the lease ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from needlecheck.store.models import (
    AlertDelivery,
    HandoffRequest,
    Screening,
    StaffAlert,
    as_utc,
    utcnow,
)

# What staff must still act on: a screening nobody has followed up, a handoff request
# still open.
PENDING_SCREENING = "new"
PENDING_HANDOFF = "open"
# A handoff request older than this gets no "still waiting" alert (when alerts are first
# turned on, or the front desk was down for long, old requests do not all alert at once).
WAITING_WINDOW = timedelta(days=1)
# How long a claim holds before another dispatcher may try the delivery again; longer
# than a send can take.
CLAIM_LEASE = timedelta(minutes=5)
# The longest pause between two attempts.
MAX_BACKOFF = timedelta(hours=1)
# A record's link in the front desk.
RECORD_PATHS = {"screening": "/screenings/{}", "handoff": "/handoffs/{}", "contact": "/contacts/{}"}


def raise_alert(session: Session, kind: str, record_type: str, record_id: int) -> bool:
    """Raise an alert about a record, once: False when it was already raised (by this or
    another process). In the caller's transaction."""
    values = {
        "kind": kind,
        "record_type": record_type,
        "record_id": record_id,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = (
            insert(StaffAlert)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["kind", "record_type", "record_id"])
        )
        return bool(session.execute(statement).rowcount)
    try:
        with session.begin_nested():
            session.add(StaffAlert(**values))
            session.flush()
    except IntegrityError:
        return False
    return True


def raise_waiting(session: Session, wait_minutes: int, now: datetime | None = None) -> int:
    """A "still waiting" alert for each handoff request open for longer than
    `wait_minutes` (and less than WAITING_WINDOW) that has none yet; how many were raised."""
    if wait_minutes <= 0:
        return 0
    now = now or utcnow()
    already = select(StaffAlert.record_id).where(
        StaffAlert.kind == "waiting", StaffAlert.record_type == "handoff"
    )
    waiting = select(HandoffRequest.id).where(
        HandoffRequest.status == PENDING_HANDOFF,
        HandoffRequest.created_at <= now - timedelta(minutes=wait_minutes),
        HandoffRequest.created_at > now - WAITING_WINDOW,
        HandoffRequest.id.not_in(already),
    )
    return sum(
        raise_alert(session, "waiting", "handoff", record_id)
        for record_id in session.execute(waiting).scalars().all()
    )


def queue_deliveries(
    session: Session, channels: tuple[str, ...], now: datetime | None = None, limit: int = 100
) -> int:
    """One delivery per channel for each alert not yet queued; the alert is marked queued
    by a conditional UPDATE, so two dispatchers never queue it twice. An alert raised while
    no channel is configured is marked all the same: turning email on later does not send
    the old ones. Returns the number of alerts queued."""
    now = now or utcnow()
    statement = (
        select(StaffAlert.id)
        .where(StaffAlert.dispatched_at.is_(None))
        .order_by(StaffAlert.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    queued = 0
    for alert_id in session.execute(statement).scalars().all():
        won = session.execute(
            update(StaffAlert)
            .where(StaffAlert.id == alert_id, StaffAlert.dispatched_at.is_(None))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue
        for channel in channels:
            session.add(AlertDelivery(alert_id=alert_id, channel=channel, next_attempt_at=now))
        queued += 1
    session.flush()
    return queued


@dataclass(frozen=True)
class Claimed:
    """A delivery a dispatcher holds: what to send, and where."""

    delivery_id: int
    channel: str
    attempt: int
    alert_id: int
    kind: str
    record_type: str
    record_id: int

    @property
    def path(self) -> str:
        return RECORD_PATHS[self.record_type].format(self.record_id)


def claim(
    session: Session,
    dispatcher: str,
    now: datetime | None = None,
    limit: int = 20,
    lease: timedelta = CLAIM_LEASE,
) -> list[Claimed]:
    """Claim up to `limit` due deliveries for `dispatcher`; commit before sending."""
    now = now or utcnow()
    free = or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now)
    due = (
        select(AlertDelivery.id)
        .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now, free)
        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    won = []
    for delivery_id in session.execute(due).scalars().all():
        # Only one dispatcher's UPDATE finds the row still free (SQLite has no row locks:
        # this is what keeps two front desks on one file from both sending).
        result = session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending", free)
            .values(
                claimed_by=dispatcher,
                claimed_until=now + lease,
                attempts=AlertDelivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            won.append(delivery_id)
    if not won:
        return []
    rows = session.execute(
        select(AlertDelivery, StaffAlert)
        .join(StaffAlert, StaffAlert.id == AlertDelivery.alert_id)
        .where(AlertDelivery.id.in_(won))
        .order_by(AlertDelivery.id)
    ).all()
    return [
        Claimed(
            delivery_id=delivery.id,
            channel=delivery.channel,
            attempt=delivery.attempts,
            alert_id=alert.id,
            kind=alert.kind,
            record_type=alert.record_type,
            record_id=alert.record_id,
        )
        for delivery, alert in rows
    ]


def delivered(
    session: Session, delivery_id: int, dispatcher: str, now: datetime | None = None
) -> bool:
    """Record a sent delivery; False if the claim was lost (the lease ran out and another
    dispatcher took it)."""
    result = session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.claimed_by == dispatcher)
        .values(
            status="sent",
            sent_at=now or utcnow(),
            claimed_by=None,
            claimed_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def backoff(attempt: int, retry_seconds: float) -> timedelta:
    """The pause after failed attempt number `attempt` (1, 2, ...): retry_seconds, then
    twice as long each time, at most MAX_BACKOFF."""
    return min(timedelta(seconds=retry_seconds * 2 ** (attempt - 1)), MAX_BACKOFF)


def failed(
    session: Session,
    delivery_id: int,
    dispatcher: str,
    error: str,
    *,
    attempts: int,
    retry_seconds: float,
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: "retry" (due again after the backoff), "failed" (that was
    the last of `attempts`), or "lost" (the claim had run out)."""
    now = now or utcnow()
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None or delivery.claimed_by != dispatcher:
        return "lost"
    delivery.claimed_by = None
    delivery.claimed_until = None
    delivery.last_error = error[:100]
    if delivery.attempts >= attempts:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts, retry_seconds)
    session.flush()
    return delivery.status if delivery.status == "failed" else "retry"


@dataclass(frozen=True)
class PendingAlert:
    id: int
    kind: str
    record_type: str
    record_id: int
    created_at: datetime

    @property
    def path(self) -> str:
        return RECORD_PATHS[self.record_type].format(self.record_id)

    def as_json(self) -> dict[str, object]:
        at = self.created_at
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return {
            "id": self.id,
            "kind": self.kind,
            "record_type": self.record_type,
            "record_id": self.record_id,
            "path": self.path,
            "created_at": at.isoformat(),
        }


def pending_for_staff(session: Session, limit: int = 50) -> tuple[int, int, list[PendingAlert]]:
    """The alerts whose record nobody has followed up yet, newest first: (the number of
    records they name, the newest alert's ID of all, up to `limit` alerts)."""
    pending = or_(
        and_(StaffAlert.record_type == "screening", Screening.status == PENDING_SCREENING),
        and_(StaffAlert.record_type == "handoff", HandoffRequest.status == PENDING_HANDOFF),
    )
    joined = (
        select(StaffAlert)
        .outerjoin(
            Screening,
            and_(StaffAlert.record_type == "screening", Screening.id == StaffAlert.record_id),
        )
        .outerjoin(
            HandoffRequest,
            and_(StaffAlert.record_type == "handoff", HandoffRequest.id == StaffAlert.record_id),
        )
        .where(pending)
    )
    alerts = session.execute(joined.order_by(StaffAlert.id.desc()).limit(limit)).scalars().all()
    records = joined.with_only_columns(StaffAlert.record_type, StaffAlert.record_id).distinct()
    count = session.execute(select(func.count()).select_from(records.subquery())).scalar() or 0
    latest = session.execute(select(func.max(StaffAlert.id))).scalar() or 0
    return (
        count,
        latest,
        [PendingAlert(a.id, a.kind, a.record_type, a.record_id, a.created_at) for a in alerts],
    )


# An alert not queued, or a delivery still due, this long after it should have gone means
# no front desk is dispatching, or every send is failing: `needlecheck status` says so.
STALE_AFTER = timedelta(minutes=10)
# Failed deliveries this recent are reported (an older failure was seen, or is history).
FAILED_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class OutboxHealth:
    """How the alerts' outbox stands: counts and times only, never a record's details."""

    unqueued: int  # alerts no dispatcher has queued for sending
    oldest_unqueued: datetime | None
    due: int  # deliveries waiting to be sent or retried
    oldest_due: datetime | None
    failed: int  # deliveries given up on within FAILED_WITHIN
    last_error: str | None  # the newest failure's error class or status

    def stale(self, now: datetime) -> bool:
        """Whether something has waited longer than STALE_AFTER, or a send was given up."""
        limit = as_utc(now) - STALE_AFTER
        late = [at for at in (self.oldest_unqueued, self.oldest_due) if at is not None]
        return self.failed > 0 or any(as_utc(at) < limit for at in late)

    def describe(self) -> str:
        parts = [f"{self.due} delivery(ies) due", f"{self.failed} failed in the last day"]
        if self.unqueued:
            parts.insert(0, f"{self.unqueued} alert(s) not queued")
        if self.last_error:
            parts.append(f"last error {self.last_error}")
        return ", ".join(parts)


def outbox_health(session: Session, now: datetime | None = None) -> OutboxHealth:
    now = now or utcnow()
    unqueued, oldest_unqueued = session.execute(
        select(func.count(StaffAlert.id), func.min(StaffAlert.created_at)).where(
            StaffAlert.dispatched_at.is_(None)
        )
    ).one()
    due, oldest_due = session.execute(
        select(func.count(AlertDelivery.id), func.min(AlertDelivery.next_attempt_at)).where(
            AlertDelivery.status == "pending"
        )
    ).one()
    recent = and_(
        AlertDelivery.status == "failed", AlertDelivery.next_attempt_at >= now - FAILED_WITHIN
    )
    failed = session.execute(select(func.count(AlertDelivery.id)).where(recent)).scalar_one()
    last_error = session.execute(
        select(AlertDelivery.last_error)
        .where(AlertDelivery.last_error.is_not(None))
        .order_by(AlertDelivery.next_attempt_at.desc(), AlertDelivery.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return OutboxHealth(
        unqueued=unqueued,
        oldest_unqueued=oldest_unqueued,
        due=due,
        oldest_due=oldest_due,
        failed=failed,
        last_error=last_error if (failed or due) else None,
    )
