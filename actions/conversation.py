"""Consent, "why do you ask?", answers about microneedling, and starting over."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.names import (
    ACTION_ANSWER_FAQ,
    ACTION_ASK_PROCEDURE_DATE,
    ACTION_EXPLAIN_QUESTION,
    ACTION_RECORD_CONSENT,
    ACTION_START_OVER,
    CONSENT_DECLINED,
    CONSENT_GIVEN,
    FACT_SLOTS,
    FAQ_INTENT_PREFIX,
    FOLLOW_UP_SLOTS,
    INTENT_AFFIRM,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_CONSENT_AT,
    SLOT_CONSENT_VERSION,
    SLOT_DATES_UNKNOWN,
    SLOT_SCREENING_ID,
    SLOT_SCREENING_OUTCOME,
    SLOT_SCREENING_RULES,
    UTTER_ASK_CONSENT,
    UTTER_ASK_PROCEDURE_DATE,
    UTTER_DEFAULT,
    UTTER_FAQ_PREFIX,
    UTTER_STARTING_OVER,
    UTTER_WHY_GENERAL,
    UTTER_WHY_PREFIX,
)
from needlecheck.nlu.answers import undated_procedures

PROCEDURE_NAMES = {
    "chemical_peel": "chemical peel",
    "laser": "laser treatment",
    "dermabrasion": "dermabrasion",
    "filler": "filler injection",
    "neurotoxin": "Botox (or similar) injection",
    "surgery": "surgery",
}


def consent_version(domain: DomainDict, response: str = UTTER_ASK_CONSENT) -> str:
    """Identifies the consent text the person saw: any edit of it gives a new version."""
    variants = domain.get("responses", {}).get(response, [])
    text = "\n".join(v.get("text", "") for v in variants)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class ActionRecordConsent(Action):
    def name(self) -> str:
        return ACTION_RECORD_CONSENT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        given = (tracker.latest_message.get("intent") or {}).get("name") == INTENT_AFFIRM
        return [
            SlotSet(SLOT_CONSENT, CONSENT_GIVEN if given else CONSENT_DECLINED),
            SlotSet(SLOT_CONSENT_VERSION, consent_version(domain)),
            SlotSet(SLOT_CONSENT_AT, datetime.now(timezone.utc).isoformat(timespec="seconds")),
        ]


class ActionExplainQuestion(Action):
    """The reason for the question being asked, or for the questions in general."""

    def name(self) -> str:
        return ACTION_EXPLAIN_QUESTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        asked = tracker.get_slot(REQUESTED_SLOT)
        response = UTTER_WHY_PREFIX + asked if asked else UTTER_WHY_GENERAL
        if response not in domain.get("responses", {}):
            response = UTTER_WHY_GENERAL
        dispatcher.utter_message(response=response)
        return []


class ActionAnswerFaq(Action):
    """Answers a question about microneedling with the clinic's response for its intent."""

    def name(self) -> str:
        return ACTION_ANSWER_FAQ

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        response = UTTER_FAQ_PREFIX + intent.removeprefix(FAQ_INTENT_PREFIX)
        if not intent.startswith(FAQ_INTENT_PREFIX) or response not in domain.get("responses", {}):
            response = UTTER_DEFAULT
        dispatcher.utter_message(response=response)
        return []


class ActionStartOver(Action):
    """Forgets every answer (consent stays) so the questions start from the first one."""

    def name(self) -> str:
        return ACTION_START_OVER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response=UTTER_STARTING_OVER)
        cleared = [
            *FACT_SLOTS,
            *FOLLOW_UP_SLOTS,
            SLOT_ANSWERED_FACTS,
            SLOT_DATES_UNKNOWN,
            SLOT_SCREENING_OUTCOME,
            SLOT_SCREENING_RULES,
            SLOT_SCREENING_ID,
            REQUESTED_SLOT,
        ]
        return [ActiveLoop(None)] + [SlotSet(name, None) for name in cleared]


class ActionAskProcedureDate(Action):
    """Asks for the date of the first procedure still without one, naming it."""

    def name(self) -> str:
        return ACTION_ASK_PROCEDURE_DATE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        pending = undated_procedures(
            tracker.get_slot("recent_procedures"), tracker.get_slot(SLOT_DATES_UNKNOWN) or []
        )
        name = PROCEDURE_NAMES.get(pending[0], pending[0]) if pending else "procedure"
        dispatcher.utter_message(response=UTTER_ASK_PROCEDURE_DATE, procedure=name)
        return []
