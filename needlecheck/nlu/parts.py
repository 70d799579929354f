"""Questions asked in parts: one fact, put to the person as two shorter questions.

The conditions fact has eleven values; asked at once it was a 43-word sentence. It is
asked as "your skin" and then "your general health". Both parts fill the same fact, and
an answer to either may name a value of the other ("no, but I'm diabetic"): nothing is
lost. The fact counts as answered at its question only when its last part is answered,
so the form asks the question again until then, and `answered_facts` records each part
as it is answered ("conditions_skin", then "conditions_health" and "conditions").

The responses are named after the part (`utter_ask_conditions_skin`,
`utter_rephrase_conditions_skin`); tests/actions/test_names.py checks them against
domain.yml, and tests/nlu/test_parts.py that the parts cover the fact's values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    values: frozenset[str]


QUESTION_PARTS: dict[str, tuple[Part, ...]] = {
    "conditions": (
        Part(
            "conditions_skin",
            frozenset(
                {
                    "keloid_history",
                    "pigmentation_history",
                    "cold_sore_history",
                    "chronic_skin_condition",
                    "skin_cancer_in_area",
                }
            ),
        ),
        Part(
            "conditions_health",
            frozenset(
                {
                    "bleeding_disorder",
                    "diabetes",
                    "cardiac_condition",
                    "immunosuppression",
                    "autoimmune_disease",
                    "collagen_vascular_disease",
                }
            ),
        ),
    ),
}


def open_part(question: str, answered: Iterable[str] | None) -> Part | None:
    """The part of `question` being asked: the first not yet answered (the last once all
    are), or None for a question asked whole."""
    parts = QUESTION_PARTS.get(question)
    if not parts:
        return None
    done = set(answered or ())
    return next((p for p in parts if p.name not in done), parts[-1])


def asked_as(question: str, answered: Iterable[str] | None) -> str:
    """The name the open question is asked under: its part's, or its own."""
    part = open_part(question, answered)
    return part.name if part else question


def started(question: str, answered: Iterable[str] | None) -> bool:
    """Whether any part of `question` (or the whole of it) was answered at its question."""
    done = set(answered or ())
    return question in done or any(p.name in done for p in QUESTION_PARTS.get(question, ()))


def in_open_part(question: str, answered: Iterable[str] | None, value: str) -> bool:
    """Whether `value` is one the open part asks about (every value, for a whole question)."""
    part = open_part(question, answered)
    return part is None or value in part.values


def mark_answered(question: str, answered: Iterable[str] | None) -> list[str]:
    """`answered_facts` once the open part of `question` is answered: that part, and the
    question itself when the part was its last."""
    done = list(answered or ())
    part = open_part(question, done)
    if part is not None and part.name not in done:
        done.append(part.name)
    parts = QUESTION_PARTS.get(question, ())
    if question not in done and all(p.name in done for p in parts):
        done.append(question)
    return done
