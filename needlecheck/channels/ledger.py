"""What the messaging channels remember in the screening database: provider message IDs
already processed, and numbers that opted out. Shared by every Rasa instance."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from needlecheck.store.encryption import keyring
from needlecheck.store.models import ChannelMessage, ChannelOptOut

logger = logging.getLogger(__name__)
T = TypeVar("T")


def digest(address: str) -> str:
    """How a number is stored on the STOP list: its keyed digest with the newest key."""
    return keyring().digest(address.strip())


def digests(address: str) -> list[str]:
    """Every stored form of a number: its digest under each key, and the plain SHA-256
    that rows written before migration 0009 hold."""
    plain = hashlib.sha256(address.strip().encode()).hexdigest()
    return [*keyring().digests(address.strip()), plain]


def claim(session: Session, channel: str, message_id: str) -> bool:
    """True the first time a provider's message ID is seen, False for a retry."""
    try:
        with session.begin_nested():
            session.add(ChannelMessage(channel=channel, message_id=message_id[:255]))
    except IntegrityError:
        return False
    return True


def opted_out(session: Session, channel: str, address: str) -> bool:
    found = session.execute(
        select(ChannelOptOut.id).where(
            ChannelOptOut.channel == channel, ChannelOptOut.address_digest.in_(digests(address))
        )
    ).first()
    return found is not None


def opt_out(session: Session, channel: str, address: str) -> None:
    if not opted_out(session, channel, address):
        session.add(
            ChannelOptOut(
                channel=channel, address_digest=digest(address), encrypted_address=address.strip()
            )
        )


def opt_in(session: Session, channel: str, address: str) -> None:
    session.execute(
        delete(ChannelOptOut).where(
            ChannelOptOut.channel == channel, ChannelOptOut.address_digest.in_(digests(address))
        )
    )


def forget_messages(session: Session, older_than: datetime) -> int:
    """Message IDs are needed only while a provider may still retry (hours, not days)."""
    result = session.execute(delete(ChannelMessage).where(ChannelMessage.received_at < older_than))
    return result.rowcount or 0


async def _in_thread(sessions: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run one transaction off the event loop (the connectors run inside Sanic's)."""

    def run() -> T:
        with sessions.begin() as session:
            return work(session)

    return await asyncio.to_thread(run)


async def first_time(sessions: sessionmaker, channel: str, message_id: str | None) -> bool:
    """Whether to process a message; when the database is down, process it (a duplicate
    answer is better than a lost message)."""
    if not message_id:
        return True
    try:
        return await _in_thread(sessions, lambda session: claim(session, channel, message_id))
    except SQLAlchemyError as error:
        logger.error("%s: could not check for a retried message: %s", channel, type(error).__name__)
        return True


async def is_opted_out(sessions: sessionmaker, channel: str, address: str) -> bool:
    """When the database is down, assume opted out: never message someone who said STOP."""
    try:
        return await _in_thread(sessions, lambda session: opted_out(session, channel, address))
    except SQLAlchemyError as error:
        logger.error("%s: could not read opt-outs: %s", channel, type(error).__name__)
        return True


async def set_opt_out(sessions: sessionmaker, channel: str, address: str, out: bool) -> None:
    change = opt_out if out else opt_in
    await _in_thread(sessions, lambda session: change(session, channel, address))
