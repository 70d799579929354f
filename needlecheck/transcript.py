"""What the person said, from a conversation's events: the transcript, and the words
behind each screening fact, kept with the screening so the front desk can read them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

# Entities that are not facts: a date answers the question being asked.
_NOT_FACTS = {"time"}
# Intents that answer the question being asked (not "why do you ask?" or an FAQ).
_ANSWERS = {"inform", "affirm", "deny", "correct", "report_red_flag"}


def transcript(events: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each user and bot message in order: {"at", "speaker", "text"}."""
    lines: list[dict[str, str]] = []
    for event in events:
        kind = event.get("event")
        if kind not in ("user", "bot"):
            continue
        text = _spoken_text(event)
        if not text:
            continue
        lines.append(
            {
                "at": _iso(event.get("timestamp")),
                "speaker": "person" if kind == "user" else "assistant",
                "text": text,
            }
        )
    return lines


def evidence(events: Iterable[Mapping[str, Any]], facts: Iterable[str]) -> dict[str, list[str]]:
    """For each fact, the person's messages that gave or changed it, oldest first.

    A message counts for a fact when the language understanding found that fact in it,
    or when it answered that fact's question (a plain "no" to "any medications?").
    """
    wanted = set(facts)
    found: dict[str, list[str]] = {}
    requested: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        if kind != "user":
            continue
        text = _spoken_text(event)
        if not text:
            continue
        parse = event.get("parse_data") or {}
        named = {
            entity.get("entity")
            for entity in parse.get("entities") or []
            if entity.get("entity") not in _NOT_FACTS
        }
        if requested and (parse.get("intent") or {}).get("name") in _ANSWERS:
            named.add(requested)
        for fact in sorted(named & wanted):
            if text not in found.setdefault(fact, []):
                found[fact].append(text)
    return found


def _spoken_text(event: Mapping[str, Any]) -> str:
    text = event.get("text") or ""
    if event.get("event") == "user" and text.startswith("/"):
        # A button: its payload is an intent name, not the person's words.
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        return f"[button: {intent or text[1:]}]"
    return text.strip()


def _iso(timestamp: Any) -> str:
    if isinstance(timestamp, (int, float)):
        return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
    return ""
