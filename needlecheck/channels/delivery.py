"""Sending to a provider's API: retried with back-off, logged without personal data.

A failed send never raises into Rasa: the conversation is already stored in the tracker,
so the person loses nothing but the reply, and the log says which channel failed and how
(status code or error class), never to whom or what.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# Seconds to wait before each retry. Replies are sent while the provider waits for the
# webhook's answer (Twilio gives up after 15 s, Meta after 20 s), so every send of one
# turn shares a budget that ends before that: a retry that would not fit is not made.
BACKOFF: Sequence[float] = (0.5, 1.0, 2.0)
TIMEOUT = aiohttp.ClientTimeout(total=5)
BUDGET = 12.0


@dataclass
class Outgoing:
    """One request to a provider's send API."""

    url: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def client() -> aiohttp.ClientSession:
    """A client for one provider, kept open so that its connections are reused."""
    return aiohttp.ClientSession(timeout=TIMEOUT)


async def send_all(
    channel: str,
    requests: Sequence[Outgoing],
    backoff: Sequence[float] = BACKOFF,
    budget: float = BUDGET,
    session: aiohttp.ClientSession | None = None,
) -> int:
    """Send in order; returns how many were delivered. Stops at the first lost message,
    so that a later message never arrives without the one before it."""
    if session is None:
        async with client() as own:
            return await send_all(channel, requests, backoff, budget, own)
    delivered = 0
    deadline = time.monotonic() + budget
    for request in requests:
        if time.monotonic() >= deadline:
            logger.error("%s send skipped: the turn's time to send is over", channel)
            return delivered
        if not await _send(session, channel, request, backoff, deadline):
            return delivered
        delivered += 1
    return delivered


async def _send(
    session: aiohttp.ClientSession,
    channel: str,
    request: Outgoing,
    backoff: Sequence[float],
    deadline: float,
) -> bool:
    attempts = len(backoff) + 1
    for attempt in range(1, attempts + 1):
        try:
            async with session.post(
                request.url,
                json=request.json,
                data=request.form,
                headers=request.headers,
                auth=aiohttp.BasicAuth(*request.auth) if request.auth else None,
            ) as response:
                if response.status < 300:
                    return True
                problem = f"status {response.status}"
                if not _retryable(response.status):
                    logger.error("%s send refused: %s; not retried", channel, problem)
                    return False
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            problem = error.__class__.__name__
        if attempt == attempts or time.monotonic() + backoff[attempt - 1] >= deadline:
            break
        logger.warning("%s send failed: %s (attempt %d of %d)", channel, problem, attempt, attempts)
        await asyncio.sleep(backoff[attempt - 1])
    logger.error("%s send failed after %d attempts: %s", channel, attempt, problem)
    return False


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line or word when possible."""
    text = text.strip()
    pieces = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces
