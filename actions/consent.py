"""Consent to the health questions: what is recorded when the person answers it.

The consent question is the screening form's first question (actions/screening_form.py),
so it owns the next message like every other question: "yes fine, how much is it?" gives
consent and gets the price; "maybe" is asked again in other words, then with buttons.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.types import DomainDict

from actions.names import (
    CONSENT_GIVEN,
    FACT_SLOTS,
    FOLLOW_UP_SLOTS,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_CONSENT_AT,
    SLOT_CONSENT_VERSION,
    SLOT_DATES_UNKNOWN,
    SLOT_FACT_NOTES,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
    UTTER_ASK_CONSENT,
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


def consent_events(value: str, domain: DomainDict) -> list[EventType]:
    """The answer, the consent text's version and the time; on "no", every health answer
    is forgotten, including what was said before the question ("I'm on warfarin, can I
    have it?")."""
    forgotten = [] if value == CONSENT_GIVEN else [SlotSet(name, None) for name in HEALTH_SLOTS]
    return [
        SlotSet(SLOT_CONSENT, value),
        SlotSet(SLOT_CONSENT_VERSION, consent_version(domain)),
        SlotSet(SLOT_CONSENT_AT, datetime.now(timezone.utc).isoformat(timespec="seconds")),
        *forgotten,
    ]
