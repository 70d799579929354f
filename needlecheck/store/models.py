"""Tables for screenings, their findings, contact requests and handoff requests, and the
front desk's: staff, their sessions, failed sign-ins, follow-ups, outcome overrides and the
audit log.

The schema changes only through Alembic migrations (needlecheck/store/migrations);
tests/store/test_migrations.py checks that the migrations and these models agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

from needlecheck.screening.engine import OUTCOMES
from needlecheck.store.encryption import EncryptedJSON, EncryptedText

# Named constraints, so that migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base = declarative_base(metadata=metadata)

HANDOFF_STATUSES = ("open", "in_progress", "contacted", "booked", "closed")
CONTACT_STATUSES = ("new", "contacted", "booked", "closed")
SCREENING_STATUSES = ("new", "contacted", "booked", "closed")
STAFF_ROLES = ("front_desk", "clinician")
RECORD_TYPES = ("screening", "contact", "handoff")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A stored time with its offset: SQLite gives times back without one, and they are
    UTC (PostgreSQL gives them back aware)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class HasConversation:
    """A row that names its conversation. A phone-shaped conversation ID (SMS, WhatsApp)
    is stored in `conversation_id` as a keyed digest (needlecheck.store.encryption
    .conversation_key), which the database can look up but a thief cannot read, and in
    `encrypted_conversation_id` encrypted, for staff and for erasure."""

    @property
    def conversation(self) -> str:
        """The conversation ID as the channel gave it: what staff read."""
        return self.encrypted_conversation_id or self.conversation_id  # type: ignore[attr-defined]


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that `column` holds one of `values` (fixed names, never user input)."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Screening(HasConversation, Base):
    __tablename__ = "screenings"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    encrypted_conversation_id = Column(EncryptedText, nullable=True)
    channel = Column(String(64), nullable=False)
    # The answers, encrypted at rest like the words behind them.
    facts = Column(EncryptedJSON, nullable=False)
    outcome = Column(String(32), nullable=True, index=True)
    earliest_date = Column(Date, nullable=True)
    missing = Column(JSON, nullable=False)
    policy_name = Column(String(200), nullable=False)
    policy_version = Column(String(64), nullable=False)
    assessed_on = Column(Date, nullable=False)
    # The person's consent to health questions: which text they agreed to, and when.
    consent_text_version = Column(String(64), nullable=True)
    consent_at = Column(DateTime(timezone=True), nullable=True)
    # The front desk's follow-up: new until someone has called the person back.
    status = Column(String(16), nullable=False, default="new", server_default="new", index=True)
    # The person's own words behind each fact ({fact: [message, ...]}) and the
    # conversation, encrypted at rest (needlecheck.store.encryption).
    evidence = Column(EncryptedJSON, nullable=True)
    transcript = Column(EncryptedJSON, nullable=True)
    # Names the person gave that are outside the screening's lists ({fact: [name]}): "the
    # pill" at the medicines question. Encrypted like the words.
    notes = Column(EncryptedJSON, nullable=True)
    # The staff member who ran the screening for a caller (channel `frontdesk`), else NULL.
    taken_by = Column(String(64), nullable=True)
    # One per conversation and screening: a retried write (a lost connection, an action
    # run again after a failure) finds the row it wrote instead of adding a second. Stored
    # as a keyed digest, since the key names the conversation.
    idempotency_key = Column(String(300), nullable=True, unique=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    findings = relationship(
        "ScreeningFinding",
        back_populates="screening",
        cascade="all, delete-orphan",
        order_by="ScreeningFinding.position",
    )

    overrides = relationship(
        "OutcomeOverride",
        back_populates="screening",
        cascade="all, delete-orphan",
        order_by="OutcomeOverride.id",
    )

    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {one_of('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint(one_of("status", SCREENING_STATUSES), name="status"),
        # The overview's date ranges (needlecheck.store.overview): it counts by day,
        # outcome, channel and conversation from this index alone, never the rows.
        Index("ix_screenings_created_at", "created_at", "outcome", "channel", "conversation_id"),
        # The queue (needlecheck.store.queue_rows): each conversation's latest screening,
        # and its outcome, status and earliest date, from this index alone.
        Index(
            "ix_screenings_queue",
            "conversation_id",
            "created_at",
            "id",
            "outcome",
            "status",
            "earliest_date",
        ),
    )


class ScreeningFinding(Base):
    __tablename__ = "screening_findings"

    id = Column(Integer, primary_key=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position = Column(Integer, nullable=False)
    rule_id = Column(String(64), nullable=False, index=True)
    severity = Column(String(16), nullable=False)
    until = Column(Date, nullable=True)
    reason = Column(Text, nullable=False)
    # What the engine cited when it decided, kept even if the clinic's policy changes later.
    source = Column(Text, nullable=False)

    screening = relationship("Screening", back_populates="findings")

    # The overview's rules that fire most, from the index alone.
    __table_args__ = (Index("ix_screening_findings_rules", "screening_id", "rule_id"),)


class ContactRequest(HasConversation, Base):
    __tablename__ = "contact_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    encrypted_conversation_id = Column(EncryptedText, nullable=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # Contact details: encrypted at rest (needlecheck.store.encryption); the repository
    # checks their lengths before they are written.
    name = Column(EncryptedText, nullable=False)
    phone = Column(EncryptedText, nullable=True)
    email = Column(EncryptedText, nullable=True)
    preferred_time = Column(EncryptedText, nullable=True)
    consent_given = Column(Boolean, nullable=False)
    consent_at = Column(DateTime(timezone=True), nullable=False)
    consent_text_version = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default="new")
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="phone_or_email"),
        CheckConstraint("consent_given", name="consent_given"),
        CheckConstraint(one_of("status", CONTACT_STATUSES), name="status"),
    )


class HandoffRequest(HasConversation, Base):
    __tablename__ = "handoff_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    encrypted_conversation_id = Column(EncryptedText, nullable=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # The person's own words ("call me about my ..."): encrypted at rest.
    reason = Column(EncryptedText, nullable=False)
    # The conversation so far, when the assistant itself asked for a person (answers it
    # could not understand); encrypted at rest.
    transcript = Column(EncryptedJSON, nullable=True)
    status = Column(String(16), nullable=False, default="open", index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint(one_of("status", HANDOFF_STATUSES), name="status"),)


class OutcomeOverride(Base):
    """A clinician's outcome, kept beside the engine's, which it never replaces."""

    __tablename__ = "outcome_overrides"

    id = Column(Integer, primary_key=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    outcome = Column(String(32), nullable=False)
    reason = Column(Text, nullable=False)
    clinician_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    clinician_username = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    screening = relationship("Screening", back_populates="overrides")

    __table_args__ = (CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),)


class StaffMember(Base):
    __tablename__ = "staff"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint(one_of("role", STAFF_ROLES), name="role"),)


class StaffSession(Base):
    """A signed-in browser; the cookie holds a random token, the table only its hash."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    csrf_token = Column(String(64), nullable=False)
    staff_id = Column(
        Integer, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)

    staff = relationship("StaffMember")


class LoginAttempt(Base):
    """Failed sign-ins, counted per user name and per client to slow down guessing."""

    __tablename__ = "login_attempts"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, index=True)
    client = Column(String(64), nullable=False, index=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)


class FollowUp(Base):
    """A status change of a screening, contact or handoff request, with the staff's note."""

    __tablename__ = "follow_ups"

    id = Column(Integer, primary_key=True)
    record_type = Column(String(16), nullable=False)
    record_id = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False)
    note = Column(Text, nullable=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    staff_username = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        CheckConstraint(one_of("record_type", RECORD_TYPES), name="record_type"),
        Index("ix_follow_ups_record", "record_type", "record_id"),
        # The overview's "booked" step: booked follow-ups in a date range.
        Index("ix_follow_ups_status_created_at", "status", "created_at"),
        # The overview's time to first contact: a record's first follow-up from the index.
        Index("ix_follow_ups_first", "record_type", "record_id", "created_at"),
    )


class AuditEntry(Base):
    """Who viewed or changed which record, and when; never a name, phone or email."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    staff_username = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    record_type = Column(String(16), nullable=True)
    record_id = Column(Integer, nullable=True)
    detail = Column(Text, nullable=True)


class ChannelMessage(Base):
    """A provider's message ID already processed: a webhook retry is answered, not rerun.

    Only the provider's opaque ID is kept, never the sender or the text.
    """

    __tablename__ = "channel_messages"

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    message_id = Column(String(255), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_channel_messages_id"),)


class ChannelOptOut(Base):
    """An SMS/WhatsApp number that replied STOP: nothing more is sent to it until START.

    The number is kept as a keyed digest (HMAC with the data key: a stolen database cannot
    be matched against guessed numbers), beside an encrypted copy that `keys rotate`
    digests again. Rows from before migration 0009 hold a plain SHA-256 until the number
    sends STOP or START again.
    """

    __tablename__ = "channel_opt_outs"

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    address_digest = Column(String(80), nullable=False)
    encrypted_address = Column(EncryptedText, nullable=True)
    opted_out_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("channel", "address_digest", name="uq_channel_opt_outs_address"),
    )


class ConversationActivity(HasConversation, Base):
    """What the front desk knows of a conversation from Rasa's event stream (production
    profile): where and when, how many messages and how far it got; never the words."""

    __tablename__ = "conversation_activity"

    conversation_id = Column(String(255), primary_key=True)
    encrypted_conversation_id = Column(EncryptedText, nullable=True)
    channel = Column(String(64), nullable=True)
    started_at = Column(DateTime(timezone=True), nullable=False)
    last_event_at = Column(DateTime(timezone=True), nullable=False, index=True)
    messages = Column(Integer, nullable=False, default=0)
    # The slot the screening form asks for now (`requested_slot`), and the outcome once
    # the assessment has run.
    step = Column(String(64), nullable=True)
    outcome = Column(String(32), nullable=True)


FUNNEL_STAGES = ("started", "consented", "question")


class FunnelEvent(Base):
    """How far a conversation got, for the overview's funnel: a keyed digest of the
    conversation ID (never the ID, never any text), the stage and when it was first
    reached. Written by the action server (needlecheck.store.funnel)."""

    __tablename__ = "funnel_events"

    id = Column(Integer, primary_key=True)
    conversation_digest = Column(String(80), nullable=False)
    # `started`, `consented`, or `question:<name>` (the screening question first asked).
    stage = Column(String(64), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("conversation_digest", "stage", name="uq_funnel_events_stage"),
        Index("ix_funnel_events_at_stage", "at", "stage"),
    )


TAKEOVER_ENDINGS = ("continue", "end")


class Takeover(HasConversation, Base):
    """A member of staff talking to a person in the assistant's place.

    `active_conversation` holds the conversation's key while the takeover lasts and NULL
    once it is handed back: its unique constraint lets only one member of staff hold a
    conversation at a time, on every database (several NULLs are allowed)."""

    __tablename__ = "takeovers"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    encrypted_conversation_id = Column(EncryptedText, nullable=True)
    active_conversation = Column(String(255), nullable=True, unique=True)
    handoff_id = Column(
        Integer, ForeignKey("handoff_requests.id", ondelete="SET NULL"), nullable=True
    )
    channel = Column(String(64), nullable=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    staff_username = Column(String(64), nullable=False)
    started_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    ended_at = Column(DateTime(timezone=True), nullable=True)
    ended_by = Column(String(64), nullable=True)
    ending = Column(String(16), nullable=True)

    messages = relationship(
        "TakeoverMessage",
        back_populates="takeover",
        cascade="all, delete-orphan",
        order_by="TakeoverMessage.id",
    )

    __table_args__ = (
        CheckConstraint(f"ending IS NULL OR {one_of('ending', TAKEOVER_ENDINGS)}", name="ending"),
    )


class TakeoverMessage(Base):
    """What a member of staff wrote during a takeover: encrypted at rest like the
    person's words."""

    __tablename__ = "takeover_messages"

    id = Column(Integer, primary_key=True)
    takeover_id = Column(
        Integer, ForeignKey("takeovers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    staff_username = Column(String(64), nullable=False)
    text = Column(EncryptedText, nullable=False)
    sent_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    delivered = Column(Boolean, nullable=False, default=False)

    takeover = relationship("Takeover", back_populates="messages")


ALERT_KINDS = ("urgent", "handoff", "waiting")
ALERT_CHANNELS = ("email", "webhook")
DELIVERY_STATUSES = ("pending", "sent", "failed")


class StaffAlert(Base):
    """Something staff must know at once (docs/operating.md, "Staff alerts"): a new urgent
    screening, a new handoff request, a person still waiting. It names the record by type
    and number only: no name, phone, answer or words. One per kind and record."""

    __tablename__ = "staff_alerts"

    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False)
    record_type = Column(String(16), nullable=False)
    record_id = Column(Integer, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    # When a dispatcher queued its deliveries (one per channel configured then).
    dispatched_at = Column(DateTime(timezone=True), nullable=True, index=True)

    deliveries = relationship(
        "AlertDelivery", back_populates="alert", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint(one_of("kind", ALERT_KINDS), name="kind"),
        CheckConstraint(one_of("record_type", RECORD_TYPES), name="record_type"),
        UniqueConstraint("kind", "record_type", "record_id", name="uq_staff_alerts_record"),
        Index("ix_staff_alerts_record", "record_type", "record_id"),
    )


class AlertDelivery(Base):
    """The outbox: one alert to one channel. A dispatcher claims a row (a conditional
    UPDATE; on PostgreSQL after SELECT ... FOR UPDATE SKIP LOCKED) before it sends, so two
    front desks never send the same one; a failed send waits `next_attempt_at`."""

    __tablename__ = "alert_deliveries"

    id = Column(Integer, primary_key=True)
    alert_id = Column(
        Integer, ForeignKey("staff_alerts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    channel = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # The dispatcher sending it, and until when its claim holds (then another may retry).
    claimed_by = Column(String(64), nullable=True)
    claimed_until = Column(DateTime(timezone=True), nullable=True)
    # What went wrong last: an error's class or an HTTP or SMTP status, never a message.
    last_error = Column(String(100), nullable=True)
    sent_at = Column(DateTime(timezone=True), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    alert = relationship("StaffAlert", back_populates="deliveries")

    __table_args__ = (
        CheckConstraint(one_of("channel", ALERT_CHANNELS), name="channel"),
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status"),
        UniqueConstraint("alert_id", "channel", name="uq_alert_deliveries_channel"),
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
    )


class OverviewState(Base):
    """Which clinic zone the Overview's summary counts days in (one row, id 1). A summary
    built for another zone is not read: the Overview rebuilds it (needlecheck.store
    .overview_summary)."""

    __tablename__ = "overview_state"

    id = Column(Integer, primary_key=True)
    zone = Column(String(64), nullable=False)
    built_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class OverviewCount(Base):
    """A count of the Overview's for one of the clinic's days: `series` names what is
    counted (outcome, channel, rule, stage, wait bucket, or a "first" of a conversation or
    record, keyed by the day of the one before it), `key` the value. Counts only: no
    conversation, record or person."""

    __tablename__ = "overview_counts"

    series = Column(String(16), nullable=False)
    day = Column(Date, nullable=False)
    key = Column(String(64), nullable=False)
    n = Column(Integer, nullable=False)

    __table_args__ = (PrimaryKeyConstraint("series", "day", "key", name="pk_overview_counts"),)


class OverviewWait(Base):
    """How many of a day's screenings waited exactly `wait_ms` for their first follow-up,
    in bucket `bucket` (for the Overview's exact median): no record, no person."""

    __tablename__ = "overview_waits"

    bucket = Column(SmallInteger, nullable=False)
    day = Column(Date, nullable=False)
    wait_ms = Column(BigInteger, nullable=False)
    n = Column(Integer, nullable=False)

    __table_args__ = (PrimaryKeyConstraint("bucket", "day", "wait_ms", name="pk_overview_waits"),)
