"""Conversation activity from Rasa's event stream: one row per conversation, with no
message text. Written by the front desk's event consumer, read by its queue page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from needlecheck.store.encryption import conversation_key, conversation_keys, sealed_conversation
from needlecheck.store.models import ConversationActivity, as_utc

# The slots whose changes say how far a screening got.
STEP_SLOT = "requested_slot"
OUTCOME_SLOT = "screening_outcome"
# A conversation with no event for this long is no longer "in progress".
IN_PROGRESS = timedelta(minutes=30)


class InvalidEvent(ValueError):
    """An event without a conversation ID or timestamp: it cannot be placed."""


@dataclass(frozen=True)
class Activity:
    conversation_id: str
    channel: str | None
    started_at: datetime
    last_event_at: datetime
    messages: int
    step: str | None


def check_event(event: dict[str, Any]) -> tuple[str, float]:
    """The conversation and time of an event, or InvalidEvent."""
    sender = event.get("sender_id")
    timestamp = event.get("timestamp")
    if not isinstance(sender, str) or not sender or len(sender) > 255:
        raise InvalidEvent("an event without a usable sender_id")
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        raise InvalidEvent("an event without a numeric timestamp")
    return sender, float(timestamp)


def record_event(session: Session, event: dict[str, Any]) -> bool:
    """Apply one Rasa event; False when it changed nothing."""
    sender, timestamp = check_event(event)
    when = datetime.fromtimestamp(timestamp, timezone.utc)
    # A phone-shaped sender is stored as a digest (needlecheck.store.encryption).
    row = (
        session.execute(
            select(ConversationActivity).where(
                ConversationActivity.conversation_id.in_(conversation_keys(sender))
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        row = ConversationActivity(
            conversation_id=conversation_key(sender),
            encrypted_conversation_id=sealed_conversation(sender),
            started_at=when,
            last_event_at=when,
            messages=0,
        )
        session.add(row)
    # Each Rasa instance publishes the events it kept during a broker outage when it
    # reconnects, so events arrive out of order: counts take every event, the current
    # step only the newest.
    newest = when >= as_utc(row.last_event_at)
    row.last_event_at = max(when, as_utc(row.last_event_at))
    row.started_at = min(when, as_utc(row.started_at))
    kind = event.get("event")
    value = event.get("value")
    if kind == "user":
        row.messages = (row.messages or 0) + 1
        channel = event.get("input_channel")
        if isinstance(channel, str) and channel:
            row.channel = channel[:64]
    elif kind == "slot" and event.get("name") == STEP_SLOT and newest:
        row.step = value[:64] if isinstance(value, str) else None
    elif kind == "slot" and event.get("name") == OUTCOME_SLOT:
        # A result, once reached, stays; only a newer event clears it (a new screening).
        if isinstance(value, str):
            row.outcome = value[:32]
        elif newest:
            row.outcome = None
    else:
        return newest
    return True


def in_progress(session: Session, now: datetime, limit: int = 50) -> list[Activity]:
    """Conversations with an event in the last half hour and no result yet, newest first."""
    statement = (
        select(ConversationActivity)
        .where(ConversationActivity.last_event_at >= now - IN_PROGRESS)
        .where(ConversationActivity.outcome.is_(None))
        .order_by(ConversationActivity.last_event_at.desc())
        .limit(limit)
    )
    return [
        Activity(
            conversation_id=row.conversation,
            channel=row.channel,
            started_at=as_utc(row.started_at),
            last_event_at=as_utc(row.last_event_at),
            messages=row.messages or 0,
            step=row.step,
        )
        for row in session.execute(statement).scalars()
    ]


def newest(session: Session) -> str:
    value = session.execute(
        select(ConversationActivity.last_event_at)
        .order_by(ConversationActivity.last_event_at.desc())
        .limit(1)
    ).scalar()
    return as_utc(value).isoformat() if value else ""


def forget(session: Session, before: datetime) -> int:
    result = session.execute(
        delete(ConversationActivity).where(ConversationActivity.last_event_at < before)
    )
    return result.rowcount or 0
