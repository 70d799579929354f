"""How one message changes the screening facts gathered so far.

Rules that keep a gap from turning into a "no":
- A list fact counts as answered only when its own question was answered. Items
  volunteered earlier ("I use retinol" in the first message) are kept, but the question
  is still asked, and a plain "no" then means "nothing else".
- Items add up across messages; a denial ("actually I don't use retinol") removes one.
- A denial outside the question it answers ("no acne") removes that item and answers
  nothing else: warts were not asked about.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Facts answered with a list come from the engine's fact table, the one source of truth.
from needlecheck.screening.facts import LIST_FACTS

__all__ = ["LIST_FACTS", "Said", "merge_course", "merge_list", "said_by_fact", "undated_procedures"]


@dataclass(frozen=True)
class Said:
    """What the latest message said about one fact."""

    affirmed: tuple[Any, ...] = ()
    denied: tuple[Any, ...] = ()
    # A bare "no" / "none of these" to this fact's own question.
    none: bool = False


def said_by_fact(
    entities: Iterable[dict[str, Any]], facts: Iterable[str], asked: str | None = None
) -> dict[str, Said]:
    """Group a message's entities (Rasa's shape) by fact. A mention with the role
    `possible` counts only for the question being asked; one with the role `past` ("had a
    cold sore last month") answers that question as "not now" and counts nowhere else."""
    wanted = set(facts)
    affirmed: dict[str, list[Any]] = {}
    denied: dict[str, list[Any]] = {}
    for entity in entities:
        name = entity.get("entity")
        role = entity.get("role")
        if name not in wanted or (role in ("possible", "past") and name != asked):
            continue
        target = denied if role in ("denied", "past") else affirmed
        target.setdefault(name, []).append(entity.get("value"))
    return {
        name: Said(tuple(affirmed.get(name, ())), tuple(denied.get(name, ())))
        for name in wanted
        if name in affirmed or name in denied
    }


def merge_list(fact: str, previous: list[Any] | None, said: Said, asked: bool) -> list[Any] | None:
    """The list fact after this message, or None when it is still unknown."""
    if previous is None and not asked and not said.affirmed:
        return None
    items = [] if previous is None else list(previous)
    key = _procedure_type if fact == "recent_procedures" else _identity
    for value in said.affirmed:
        value = _as_item(fact, value)
        existing = [i for i, item in enumerate(items) if key(item) == key(value)]
        if existing:
            # A later mention may add the date an earlier one lacked.
            if fact == "recent_procedures" and isinstance(value, dict) and value.get("date"):
                items[existing[0]] = value
            continue
        items.append(value)
    denied = {key(_as_item(fact, value)) for value in said.denied}
    return [item for item in items if key(item) not in denied]


def merge_course(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """isotretinoin / cancer_treatment: a new status replaces; a date-less repeat keeps the date."""
    if previous and previous.get("status") == new.get("status") == "past" and len(new) == 1:
        return dict(previous)
    return dict(new)


def _as_item(fact: str, value: Any) -> Any:
    if fact == "recent_procedures" and isinstance(value, str):
        return {"type": value}
    return value


def _procedure_type(item: Any) -> Any:
    return item.get("type") if isinstance(item, dict) else item


def _identity(item: Any) -> Any:
    return json.dumps(item, sort_keys=True) if isinstance(item, (dict, list)) else item


def undated_procedures(
    procedures: list[dict[str, Any]] | None, unknown: Iterable[str]
) -> list[str]:
    """Procedure types still without a date that the person has not said they don't know."""
    skipped = set(unknown)
    return [
        p["type"]
        for p in procedures or []
        if isinstance(p, dict)
        and not p.get("date")
        and f"recent_procedures.{p['type']}" not in skipped
    ]
