"""Consent to the health questions: what is recorded when the person answers it.

The consent question is the screening form's first question (actions/screening_form.py),
so it owns the next message like every other question: "yes fine, how much is it?" gives
consent and gets the price; "maybe" is asked again in other words, then with buttons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.types import DomainDict

from actions.names import (
    CONSENT_GIVEN,
    CONSENT_MINOR_QUESTION,
    FACT_SLOTS,
    FOLLOW_UP_SLOTS,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_CONSENT_AT,
    SLOT_CONSENT_MINOR,
    SLOT_CONSENT_VERSION,
    SLOT_DATES_UNKNOWN,
    SLOT_FACT_NOTES,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
    UTTER_ASK_CONSENT,
    UTTER_ASK_CONSENT_MINOR,
)

# Everything a health answer leaves in the slots: forgotten on "start over" and when
# consent is declined.
HEALTH_SLOTS = (
    *FACT_SLOTS,
    *FOLLOW_UP_SLOTS,
    SLOT_ANSWERED_FACTS,
    SLOT_DATES_UNKNOWN,
    SLOT_FACT_NOTES,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
)


def consent_version(
    domain: DomainDict, response: str = UTTER_ASK_CONSENT, values: dict[str, str] | None = None
) -> str:
    """Identifies the consent text the person saw, as they saw it (with the retention
    period it promises, `needlecheck.responses`): any edit of either is a new version."""
    from needlecheck.responses import render, response_values
    from needlecheck.runtime import clinic

    if values is None:
        values = response_values(clinic())
    variants = domain.get("responses", {}).get(response, [])
    text = "\n".join(render(v.get("text", ""), values) for v in variants)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def consent_events(value: str, domain: DomainDict, asked: str = SLOT_CONSENT) -> list[EventType]:
    """The answer, the version of the consent text that was `asked` and the time; on "no",
    every health answer is forgotten, including what was said before the question ("I'm
    on warfarin, can I have it?")."""
    given = value == CONSENT_GIVEN
    minor = asked == CONSENT_MINOR_QUESTION
    forgotten = [] if given else [SlotSet(name, None) for name in HEALTH_SLOTS]
    return [
        SlotSet(SLOT_CONSENT, value),
        SlotSet(
            SLOT_CONSENT_VERSION,
            consent_version(domain, UTTER_ASK_CONSENT_MINOR if minor else UTTER_ASK_CONSENT),
        ),
        SlotSet(SLOT_CONSENT_AT, datetime.now(timezone.utc).isoformat(timespec="seconds")),
        SlotSet(SLOT_CONSENT_MINOR, True if given and minor else None),
        *forgotten,
    ]


def under_adult_age(age: Any) -> bool:
    """Whether `age` is below the age from which the clinic lets a person agree alone
    (clinic.yml's `adult_age`)."""
    from needlecheck.runtime import clinic

    return isinstance(age, (int, float)) and not isinstance(age, bool) and age < clinic().adult_age


def consent_question(slots: Mapping[str, Any]) -> str:
    """The consent question as put to this person: someone under the adult age is asked to
    involve a parent or guardian."""
    return CONSENT_MINOR_QUESTION if under_adult_age(slots.get("age")) else SLOT_CONSENT


def needs_consent_again(slots: Mapping[str, Any]) -> bool:
    """A "yes" given before the person's age showed they are under the adult age: it is
    asked again, in the words for someone that age, before any more health questions."""
    return (
        slots.get(SLOT_CONSENT) == CONSENT_GIVEN
        and under_adult_age(slots.get("age"))
        and not slots.get(SLOT_CONSENT_MINOR)
    )
