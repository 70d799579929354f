"""What the messaging channels remember in the screening database: provider message IDs
already processed, and numbers that opted out. Shared by every Rasa instance."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from needlecheck.store.models import ChannelMessage, ChannelOptOut

logger = logging.getLogger(__name__)


def digest(address: str) -> str:
    return hashlib.sha256(address.strip().encode()).hexdigest()


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
            ChannelOptOut.channel == channel, ChannelOptOut.address_digest == digest(address)
        )
    ).first()
    return found is not None


def opt_out(session: Session, channel: str, address: str) -> None:
    if not opted_out(session, channel, address):
        session.add(ChannelOptOut(channel=channel, address_digest=digest(address)))


def opt_in(session: Session, channel: str, address: str) -> None:
    session.execute(
        delete(ChannelOptOut).where(
            ChannelOptOut.channel == channel, ChannelOptOut.address_digest == digest(address)
        )
    )


def forget_messages(session: Session, older_than: datetime) -> int:
    """Message IDs are needed only while a provider may still retry (hours, not days)."""
    result = session.execute(delete(ChannelMessage).where(ChannelMessage.received_at < older_than))
    return result.rowcount or 0


async def first_time(sessions: sessionmaker, channel: str, message_id: str | None) -> bool:
    """Whether to process a message; when the database is down, process it (a duplicate
    answer is better than a lost message)."""
    if not message_id:
        return True

    def run() -> bool:
        with sessions.begin() as session:
            return claim(session, channel, message_id)

    try:
        return await asyncio.to_thread(run)
    except SQLAlchemyError as error:
        logger.error("%s: could not check for a retried message: %s", channel, type(error).__name__)
        return True


async def is_opted_out(sessions: sessionmaker, channel: str, address: str) -> bool:
    """When the database is down, assume opted out: never message someone who said STOP."""

    def run() -> bool:
        with sessions.begin() as session:
            return opted_out(session, channel, address)

    try:
        return await asyncio.to_thread(run)
    except SQLAlchemyError as error:
        logger.error("%s: could not read opt-outs: %s", channel, type(error).__name__)
        return True


async def set_opt_out(sessions: sessionmaker, channel: str, address: str, out: bool) -> None:
    def run() -> None:
        with sessions.begin() as session:
            (opt_out if out else opt_in)(session, channel, address)

    await asyncio.to_thread(run)
