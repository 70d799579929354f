"""Buttons as numbered options, for channels that show text only (SMS, plain chat).

"1", "1.", "option 1" or an option's title pick that option; anything else is free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_CHOICE = re.compile(r"^\s*(?:option\s*)?#?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)
HINT = "Reply with a number, or type your answer."


def render(text: str, buttons: Sequence[dict[str, Any]]) -> str:
    """The message followed by its options, one per line, numbered from 1."""
    if not buttons:
        return text
    options = "\n".join(f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n{options}\n{HINT}"


def resolve(reply: str, buttons: Sequence[dict[str, Any]]) -> str:
    """The payload of the option the reply picks, or the reply itself."""
    if not buttons:
        return reply
    match = _CHOICE.match(reply or "")
    if match:
        index = int(match.group(1))
        if 1 <= index <= len(buttons):
            return str(buttons[index - 1].get("payload", reply))
        return reply
    wanted = (reply or "").strip().casefold()
    for button in buttons:
        if str(button.get("title", "")).strip().casefold() == wanted:
            return str(button.get("payload", reply))
    return reply


def last_buttons(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buttons of the assistant's latest message, if it had any, from tracker events."""
    for event in reversed(list(events)):
        if event.get("event") == "user":
            return []
        if event.get("event") == "bot":
            data = event.get("data") or {}
            return list(data.get("buttons") or [])
    return []
