"""action_read_facts: the facts of every message outside the screening form into the slots.

Rasa runs it for each user message while no form is active (the fact slots' custom
mapping, domain.yml), before any rule; inside the form its validation reads the message
with the same function (actions/screening_form.py). A keloid mentioned at the products
question, chemo in the opening or warfarin inside a question about price is recorded all
the same.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.names import ACTION_READ_FACTS, CONSENT_DECLINED, FORM_SCREENING, SLOT_CONSENT
from needlecheck.nlu.extractor import Lexicon
from needlecheck.nlu.reading import Message, Reading, read_message


@cache
def lexicon() -> Lexicon:
    # Read on first use, not at import: rasa-sdk imports every module of actions/.
    return Lexicon.load()


class ActionReadFacts(Action):
    def name(self) -> str:
        return ACTION_READ_FACTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot(SLOT_CONSENT) == CONSENT_DECLINED:
            # "I won't ask health questions or keep any."
            return []
        asked = (
            tracker.get_slot(REQUESTED_SLOT) if tracker.active_loop_name == FORM_SCREENING else None
        )
        # Rasa runs this before anything of the turn is applied: the slots are as before.
        reading = read_latest_message(tracker, asked, dict(tracker.slots))
        return [SlotSet(name, value) for name, value in reading.slots.items()]


def read_latest_message(tracker: Tracker, asked: str | None, before: dict[str, Any]) -> Reading:
    from needlecheck.runtime import services

    return read_message(
        Message.from_parse(tracker.latest_message or {}),
        asked,
        before,
        services().settings.today(),
        lexicon(),
    )


def slots_before_latest_message(tracker: Tracker) -> dict[str, Any]:
    """Slot values as they were before the latest user message."""
    values: dict[str, Any] = {}
    last_user = max(
        (i for i, e in enumerate(tracker.events) if e.get("event") == "user"), default=-1
    )
    for event in tracker.events[: max(last_user, 0)]:
        if event.get("event") == "slot":
            values[event["name"]] = event.get("value")
        elif event.get("event") in ("restart", "session_started"):
            values = {}
    return values
