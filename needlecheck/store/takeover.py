"""Live takeover: which member of staff holds a conversation, and what staff wrote.

Only one member of staff holds a conversation at a time. The database decides, not a
read before the write: `takeovers.active_conversation` is unique and holds the
conversation's key while a takeover lasts (NULL after), so of two staff who press "Take
over" together, one insert fails and that member is told who has it (`Taken`).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from needlecheck.store.encryption import conversation_key, conversation_keys, sealed_conversation
from needlecheck.store.models import TAKEOVER_ENDINGS, Takeover, TakeoverMessage, utcnow


class Taken(Exception):
    """Another member of staff already holds this conversation."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"{holder} has already taken over this conversation")
        self.holder = holder


class NotHeld(Exception):
    """The conversation is not taken over (any more), or by someone else."""


def active(session: Session, conversation_id: str) -> Takeover | None:
    statement = select(Takeover).where(
        Takeover.active_conversation.in_(conversation_keys(conversation_id))
    )
    return session.execute(statement).scalars().first()


def take_over(
    sessions: sessionmaker,
    conversation_id: str,
    *,
    staff_id: int | None,
    staff_username: str,
    channel: str | None = None,
    handoff_id: int | None = None,
) -> int:
    """Starts a takeover in a transaction of its own and returns its ID, or raises Taken
    naming who holds it. The same member taking over again gets their own takeover back.

    Its own transaction, because the loser of a race fails on the unique key, and after
    that failure the transaction is unusable (PostgreSQL) while a savepoint does not work
    on pysqlite: the holder is read in a new one."""
    key = conversation_key(conversation_id)
    try:
        with sessions.begin() as session:
            held = active(session, conversation_id)
            if held is not None:
                if held.staff_username == staff_username:
                    return held.id
                raise Taken(held.staff_username)
            takeover = Takeover(
                conversation_id=key,
                encrypted_conversation_id=sealed_conversation(conversation_id),
                active_conversation=key,
                handoff_id=handoff_id,
                channel=channel,
                staff_id=staff_id,
                staff_username=staff_username,
            )
            session.add(takeover)
            session.flush()
            return takeover.id
    except IntegrityError:
        with sessions.begin() as session:
            held = active(session, conversation_id)
            raise Taken(held.staff_username if held is not None else "someone else") from None


def abandon(sessions: sessionmaker, takeover_id: int) -> None:
    """Undoes a takeover that could not start (the assistant could not be paused)."""
    with sessions.begin() as session:
        session.execute(delete(Takeover).where(Takeover.id == takeover_id))


def holding(session: Session, conversation_id: str, staff_username: str) -> Takeover:
    held = active(session, conversation_id)
    if held is None or held.staff_username != staff_username:
        raise NotHeld("you do not hold this conversation")
    return held


def add_message(
    session: Session, takeover: Takeover, staff_username: str, text: str, delivered: bool
) -> TakeoverMessage:
    message = TakeoverMessage(
        takeover_id=takeover.id, staff_username=staff_username, text=text, delivered=delivered
    )
    session.add(message)
    session.flush()
    return message


def hand_back(session: Session, takeover: Takeover, staff_username: str, ending: str) -> None:
    """Ends the takeover; a conditional UPDATE, so that it ends once."""
    if ending not in TAKEOVER_ENDINGS:
        raise ValueError(f"ending must be one of {', '.join(TAKEOVER_ENDINGS)}")
    result = session.execute(
        update(Takeover)
        .where(Takeover.id == takeover.id, Takeover.active_conversation.is_not(None))
        .values(active_conversation=None, ended_at=utcnow(), ended_by=staff_username, ending=ending)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        raise NotHeld("this takeover has already ended")


def history(session: Session, conversation_id: str) -> list[Takeover]:
    statement = (
        select(Takeover)
        .where(Takeover.conversation_id.in_(conversation_keys(conversation_id)))
        .order_by(Takeover.started_at, Takeover.id)
    )
    return list(session.execute(statement).scalars())
