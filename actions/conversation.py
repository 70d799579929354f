"""Consent, "why do you ask?", answers about microneedling, and starting over."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.names import (
    ACTION_ANSWER_FAQ,
    ACTION_EXPLAIN_QUESTION,
    ACTION_HANDLE_UNCLEAR,
    ACTION_RECORD_CONSENT,
    ACTION_START_OVER,
    ACTION_TAKE_OFFER,
    CLINIC_INTENT_PREFIX,
    CONSENT_DECLINED,
    CONSENT_GIVEN,
    FACT_SLOTS,
    FAQ_INTENT_PREFIX,
    FOLLOW_UP_SLOTS,
    FORM_CONTACT,
    FORM_SCREENING,
    INTENT_AFFIRM,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_CONSENT_AT,
    SLOT_CONSENT_VERSION,
    SLOT_DATES_UNKNOWN,
    SLOT_FACT_NOTES,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
    SLOT_SCREENING_ID,
    SLOT_SCREENING_OUTCOME,
    SLOT_SCREENING_RULES,
    UTTER_ASK_CONSENT,
    UTTER_DEFAULT,
    UTTER_FAQ_PREFIX,
    UTTER_OFFER_CONTACT,
    UTTER_OFFER_SCREENING,
    UTTER_STARTING_OVER,
    UTTER_WHY_GENERAL,
    UTTER_WHY_PREFIX,
)
from actions.reading import read_latest_message

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
        # Declined: nothing said about health is kept, including what came before the
        # question ("I'm on warfarin, can I have it?").
        forgotten = [] if given else [SlotSet(name, None) for name in HEALTH_SLOTS]
        return [
            SlotSet(SLOT_CONSENT, CONSENT_GIVEN if given else CONSENT_DECLINED),
            SlotSet(SLOT_CONSENT_VERSION, consent_version(domain)),
            SlotSet(SLOT_CONSENT_AT, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            *forgotten,
        ]


class ActionExplainQuestion(Action):
    """The reason for the question being asked, or for the questions in general."""

    def name(self) -> str:
        return ACTION_EXPLAIN_QUESTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        asked = tracker.get_slot(REQUESTED_SLOT) if tracker.active_loop_name else None
        response = UTTER_WHY_PREFIX + asked if asked else UTTER_WHY_GENERAL
        if response not in domain.get("responses", {}):
            response = UTTER_WHY_GENERAL
        dispatcher.utter_message(response=response)
        if (
            tracker.active_loop_name is None
            and about_the_person(tracker)
            and tracker.get_slot(SLOT_CONSENT) != CONSENT_DECLINED
        ):
            # "I have Hashimoto's, does that matter for microneedling?": the questions start.
            if tracker.get_slot(SLOT_CONSENT) == CONSENT_GIVEN:
                return [FollowupAction(FORM_SCREENING)]
            return [FollowupAction(UTTER_ASK_CONSENT)]
        return []


class ActionAnswerFaq(Action):
    """Answers a question about microneedling (its response in the domain) or about the
    clinic (clinic.yml); outside the screening, then offers the next step that fits."""

    def name(self) -> str:
        return ACTION_ANSWER_FAQ

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        from needlecheck.runtime import clinic

        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        response = UTTER_FAQ_PREFIX + intent.removeprefix(FAQ_INTENT_PREFIX)
        answer = clinic().answer(intent) if intent.startswith(CLINIC_INTENT_PREFIX) else None
        if answer:
            dispatcher.utter_message(text=answer)
        elif intent.startswith(FAQ_INTENT_PREFIX) and response in domain.get("responses", {}):
            dispatcher.utter_message(response=response)
        else:
            dispatcher.utter_message(response=UTTER_DEFAULT)
        if tracker.active_loop_name is None:
            if (
                not intent.startswith(CLINIC_INTENT_PREFIX)
                and about_the_person(tracker)
                and tracker.get_slot(SLOT_CONSENT) != CONSENT_DECLINED
            ):
                # "I use tretinoin, can I still have it?": answered, and the questions start.
                # A clinic question is followed by the offer (screening or contact).
                if tracker.get_slot(SLOT_CONSENT) == CONSENT_GIVEN:
                    return [FollowupAction(FORM_SCREENING)]
                return [FollowupAction(UTTER_ASK_CONSENT)]
            dispatcher.utter_message(response=next_step_offer(tracker))
        return []


def about_the_person(tracker: Tracker) -> bool:
    """Whether the latest message said something about the person's health or skin."""
    return bool(read_latest_message(tracker, None, {}).facts())


def next_step_offer(tracker: Tracker) -> str:
    """The screening, unless it is done or was declined; then a contact request."""
    done = tracker.get_slot(SLOT_SCREENING_OUTCOME) is not None
    declined = tracker.get_slot(SLOT_CONSENT) == CONSENT_DECLINED
    return UTTER_OFFER_CONTACT if done or declined else UTTER_OFFER_SCREENING


class ActionTakeOffer(Action):
    """ "Yes" to the offer after an answer: the screening (consent first) or a contact request."""

    def name(self) -> str:
        return ACTION_TAKE_OFFER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if next_step_offer(tracker) == UTTER_OFFER_CONTACT:
            return [FollowupAction(FORM_CONTACT)]
        if tracker.get_slot(SLOT_CONSENT) == CONSENT_GIVEN:
            return [FollowupAction(FORM_SCREENING)]
        return [FollowupAction(UTTER_ASK_CONSENT)]


class ActionHandleUnclear(Action):
    """A message outside the questions that the classifier could not place. If it says
    something about the person ("got keloids and acne scars"), that is an opening about
    them: the questions start (consent first). Otherwise, what the assistant can do."""

    def name(self) -> str:
        return ACTION_HANDLE_UNCLEAR

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if about_the_person(tracker) and tracker.get_slot(SLOT_CONSENT) != CONSENT_DECLINED:
            if tracker.get_slot(SLOT_CONSENT) == CONSENT_GIVEN:
                return [FollowupAction(FORM_SCREENING)]
            return [FollowupAction(UTTER_ASK_CONSENT)]
        dispatcher.utter_message(response=UTTER_DEFAULT)
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
            *HEALTH_SLOTS,
            SLOT_SCREENING_OUTCOME,
            SLOT_SCREENING_RULES,
            SLOT_SCREENING_ID,
            REQUESTED_SLOT,
        ]
        return [ActiveLoop(None)] + [SlotSet(name, None) for name in cleared]
