"""Tables for screenings, their findings, contact requests and handoff requests.

The schema changes only through Alembic migrations (needlecheck/store/migrations);
tests/store/test_migrations.py checks that the migrations and these models agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import declarative_base, relationship

from needlecheck.screening.engine import OUTCOMES

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

HANDOFF_STATUSES = ("open", "in_progress", "closed")
CONTACT_STATUSES = ("new", "contacted", "booked", "closed")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that `column` holds one of `values` (fixed names, never user input)."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Screening(Base):
    __tablename__ = "screenings"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    facts = Column(JSON, nullable=False)
    outcome = Column(String(32), nullable=True, index=True)
    earliest_date = Column(Date, nullable=True)
    missing = Column(JSON, nullable=False)
    policy_name = Column(String(200), nullable=False)
    policy_version = Column(String(64), nullable=False)
    assessed_on = Column(Date, nullable=False)
    # The person's consent to health questions: which text they agreed to, and when.
    consent_text_version = Column(String(64), nullable=True)
    consent_at = Column(DateTime(timezone=True), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    findings = relationship(
        "ScreeningFinding",
        back_populates="screening",
        cascade="all, delete-orphan",
        order_by="ScreeningFinding.position",
    )

    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {one_of('outcome', OUTCOMES)}", name="outcome"),
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


class ContactRequest(Base):
    __tablename__ = "contact_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    name = Column(String(200), nullable=False)
    phone = Column(String(32), nullable=True)
    email = Column(String(320), nullable=True)
    preferred_time = Column(String(200), nullable=True)
    consent_given = Column(Boolean, nullable=False)
    consent_at = Column(DateTime(timezone=True), nullable=False)
    consent_text_version = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default="new")
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="phone_or_email"),
        CheckConstraint("consent_given", name="consent_given"),
        CheckConstraint(one_of("status", CONTACT_STATUSES), name="status"),
    )


class HandoffRequest(Base):
    __tablename__ = "handoff_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    screening_id = Column(
        Integer, ForeignKey("screenings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    reason = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="open", index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint(one_of("status", HANDOFF_STATUSES), name="status"),)
