"""How far conversations get, for the overview's funnel: written by the action server.

A row holds a keyed digest of the conversation ID (`Keyring.digest`, an HMAC with the data
key: the database cannot be matched against guessed IDs or phone numbers), the stage and
the time it was first reached. Never a message, a fact or the ID itself. Stages:

- `started`: the consent question was put for the first time;
- `consented`: the person agreed to the health questions;
- `question:<name>`: a screening question was put for the first time.

The outcome, the contact request and the booking come from the records themselves
(screenings, contact requests, follow-ups: needlecheck.store.overview). Erasure and the
retention purge delete these rows with the rest (needlecheck.store.privacy).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from needlecheck.store import overview_summary
from needlecheck.store.encryption import keyring
from needlecheck.store.models import FunnelEvent, utcnow

STARTED = "started"
CONSENTED = "consented"
QUESTION = "question:"


def question_stage(question: str) -> str:
    return QUESTION + question


def record_stage(
    session: Session, conversation_id: str, stage: str, at: datetime | None = None
) -> bool:
    """The first time this conversation reaches `stage`; False when it had already."""
    if not (stage in (STARTED, CONSENTED) or stage.startswith(QUESTION)) or len(stage) > 64:
        raise ValueError(f"unknown funnel stage {stage!r}")
    digests = keyring().digests(conversation_id)
    seen = session.execute(
        select(FunnelEvent.id)
        .where(FunnelEvent.conversation_digest.in_(digests))
        .where(FunnelEvent.stage == stage)
        .limit(1)
    ).first()
    if seen is not None:
        return False
    try:
        # Two action servers may race for the same conversation: the unique constraint
        # keeps one row, and the loser's savepoint is rolled back alone.
        with session.begin_nested():
            at = at or utcnow()
            session.add(FunnelEvent(conversation_digest=digests[0], stage=stage, at=at))
            session.flush()
            overview_summary.note_stage(session, at, stage)
    except IntegrityError:
        return False
    return True


def erase(session: Session, conversation_ids: set[str]) -> int:
    """Delete the funnel rows of these conversations (under every key)."""
    digests = {d for conversation in conversation_ids for d in keyring().digests(conversation)}
    if not digests:
        return 0
    result = session.execute(
        delete(FunnelEvent).where(FunnelEvent.conversation_digest.in_(sorted(digests)))
    )
    return result.rowcount or 0


def purge(session: Session, older_than: datetime) -> int:
    result = session.execute(delete(FunnelEvent).where(FunnelEvent.at < older_than))
    return result.rowcount or 0
