"""How far the conversation got, for the front desk's overview: a thin adapter over
needlecheck.store.funnel (a keyed digest of the conversation, the stage and the time)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


async def reached(conversation_id: str, stage: str) -> None:
    """Record the stage's first time; a failure costs the overview a count, never the turn."""
    from needlecheck.runtime import services
    from needlecheck.store.funnel import record_stage

    def store() -> None:
        with services().sessions.begin() as session:
            record_stage(session, conversation_id, stage)

    try:
        await asyncio.to_thread(store)
    except (SQLAlchemyError, OSError, ValueError) as error:
        logger.warning("could not record a funnel step: %s", error.__class__.__name__)
