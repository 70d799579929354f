"""\"Why do you ask?\", answers about microneedling, the offer after them, and starting over."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.consent import HEALTH_SLOTS
from actions.names import (
    ACTION_ANSWER_FAQ,
    ACTION_EXPLAIN_QUESTION,
    ACTION_HANDLE_UNCLEAR,
    ACTION_START_OVER,
    ACTION_TAKE_OFFER,
    CLINIC_INTENT_PREFIX,
    CONSENT_DECLINED,
    FAQ_INTENT_PREFIX,
    FORM_CONTACT,
    FORM_SCREENING,
    SLOT_CONSENT,
    SLOT_SCREENING_ID,
    SLOT_SCREENING_OUTCOME,
    SLOT_SCREENING_RULES,
    UTTER_ANYTHING_ELSE,
    UTTER_DEFAULT,
    UTTER_FAQ_PREFIX,
    UTTER_OFFER_CONTACT,
    UTTER_OFFER_SCREENING,
    UTTER_STARTING_OVER,
    UTTER_WHY_GENERAL,
    UTTER_WHY_PREFIX,
)
from actions.reading import lexicon, read_latest_message
from needlecheck.nlu.reading import NO, YES, Message, read_reply


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
            # The form asks for consent first, if it has not been given.
            return [FollowupAction(FORM_SCREENING)]
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
            if offer_reply(tracker) == YES:
                # "sure, how much is it tho?" to the offer: the price, then what was offered.
                return take_offer(tracker)
            if (
                not intent.startswith(CLINIC_INTENT_PREFIX)
                and about_the_person(tracker)
                and tracker.get_slot(SLOT_CONSENT) != CONSENT_DECLINED
            ):
                # "I use tretinoin, can I still have it?": answered, and the questions start.
                # A clinic question is followed by the offer (screening or contact).
                return [FollowupAction(FORM_SCREENING)]
            dispatcher.utter_message(response=next_step_offer(tracker))
        return []


def about_the_person(tracker: Tracker) -> bool:
    """Whether the latest message said something about the person's health or skin."""
    return bool(read_latest_message(tracker, None, {}).facts())


def offer_reply(tracker: Tracker) -> str | None:
    """ "yes"/"no" when the latest message replies to the offer made just before it (the
    questions or a contact request), None otherwise or when it is neither."""
    events = list(tracker.events)
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if not users:
        return None
    for event in reversed(events[: users[-1]]):
        if event.get("event") == "user":
            return None
        if event.get("event") == "bot":
            offered = (event.get("metadata") or {}).get("utter_action")
            if offered not in (UTTER_OFFER_SCREENING, UTTER_OFFER_CONTACT):
                return None
            return read_reply(Message.from_parse(tracker.latest_message or {}), lexicon())
    return None


def take_offer(tracker: Tracker) -> list[dict[str, Any]]:
    """What "yes" to the offer starts: the questions (consent first), or a contact request
    once they are done or declined."""
    if next_step_offer(tracker) == UTTER_OFFER_CONTACT:
        return [FollowupAction(FORM_CONTACT)]
    return [FollowupAction(FORM_SCREENING)]


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
        return take_offer(tracker)


class ActionHandleUnclear(Action):
    """A message outside the questions that the classifier could not place. If it says
    something about the person ("got keloids and acne scars"), that is an opening about
    them: the questions start (consent first). Otherwise, what the assistant can do."""

    def name(self) -> str:
        return ACTION_HANDLE_UNCLEAR

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        reply = offer_reply(tracker)
        if reply == YES:
            # "ya lets do it", "3 mins is fine, go" to the offer.
            return take_offer(tracker)
        if reply == NO:
            dispatcher.utter_message(response=UTTER_ANYTHING_ELSE)
            return []
        if about_the_person(tracker) and tracker.get_slot(SLOT_CONSENT) != CONSENT_DECLINED:
            # The form asks for consent first, if it has not been given.
            return [FollowupAction(FORM_SCREENING)]
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
