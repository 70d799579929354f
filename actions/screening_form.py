"""The screening form: which question comes next, and what the latest message did to it.

Outside the form the facts are read by action_read_facts (actions/reading.py); inside it
this validation reads them with the same `read_message`, writes them, and decides
whether the open question was answered, was unclear (asked again, differently), or was set aside for another purpose
("why do you ask?", a question about the clinic, "talk to a person"), in which case the
form steps aside for that purpose's rule and the question comes back afterwards.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.consent import consent_events, needs_consent_again
from actions.funnel import reached
from actions.names import (
    ACTION_VALIDATE_SCREENING_FORM,
    CONSENT_DECLINED,
    CONSENT_GIVEN,
    FACT_SLOTS,
    FORM_SCREENING,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_DATES_UNKNOWN,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
    UTTER_FACT_UPDATED,
    UTTER_INVALID_ANSWER,
    UTTER_WHICH_ONES,
    UTTER_WHICH_RED_FLAG,
)
from actions.questions import shown_as
from actions.reading import read_latest_message, slots_before_latest_message
from needlecheck.nlu.answers import undated_procedures
from needlecheck.nlu.reading import CORRECTION, UNCLEAR, WHICH_ONES, is_other_purpose
from needlecheck.screening import FactError, Facts, validate_fact
from needlecheck.screening.facts import COURSE_FACTS, DATE_FOLLOW_UPS, LIST_FACTS, PROCEDURE_FACT
from needlecheck.store.funnel import CONSENTED

logger = logging.getLogger(__name__)

# The follow-up question that asks for each course fact's date ("isotretinoin_last_dose").
COURSE_FOLLOW_UPS = {fact: question for question, fact in DATE_FOLLOW_UPS.items()}
PROCEDURE_FOLLOW_UP = COURSE_FOLLOW_UPS.pop(PROCEDURE_FACT)


class ValidateScreeningForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_SCREENING_FORM

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return screening_questions(tracker.slots)

    async def next_requested_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> EventType | None:
        questions = screening_questions(tracker.slots)
        answered = set(tracker.get_slot(SLOT_ANSWERED_FACTS) or [])
        return SlotSet(
            REQUESTED_SLOT,
            next((q for q in questions if is_open(q, tracker.slots, answered)), None),
        )

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        asked = tracker.get_slot(REQUESTED_SLOT)
        if asked is None and tracker.get_slot(SLOT_CONSENT) == CONSENT_DECLINED:
            # Started again after a "no" to consent ("ok, ask me then"): consent is asked
            # again, first.
            again = [SlotSet(SLOT_CONSENT, None)]
            tracker.add_slots(again)
            return [*again, *await super().run(dispatcher, tracker, domain)]
        if not answers_latest_message(tracker):
            # Back from "why do you ask?" or an FAQ: only the next question is needed.
            return await super().run(dispatcher, tracker, domain)
        before = slots_before_latest_message(tracker)
        reading = read_latest_message(tracker, asked, before)
        # The question as it was put: a question asked in parts counts each part's answers.
        shown = shown_as(asked, before) if asked else asked
        # While the form runs it reads the facts itself (action_read_facts is for the
        # messages outside it): every fact the message states, whatever happens next.
        read: list[EventType] = [SlotSet(name, value) for name, value in reading.slots.items()]
        if reading.slots.get(SLOT_CONSENT):
            read = [*read, *consent_events(reading.slots[SLOT_CONSENT], domain, shown or "")]
            if reading.slots[SLOT_CONSENT] == CONSENT_GIVEN:
                await reached(tracker.sender_id, CONSENTED)
        tracker.add_slots(read)
        if needs_consent_again(tracker.slots):
            # Under the clinic's adult age: consent is asked again, involving a parent or
            # guardian, before the next health question (consent comes first when not given).
            again = [SlotSet(SLOT_CONSENT, None)]
            tracker.add_slots(again)
            read = [*read, *again]
        route = reading.route
        if _handed_over_again(tracker, shown, route):
            # The same question about sessions twice at one question is more likely an
            # answer the assistant misread: it escalates like an unclear answer (in other
            # words, then the options and a person) instead of looping.
            route = UNCLEAR
        if is_other_purpose(route):
            # That purpose's rule answers it; the facts it stated are recorded. The question
            # comes back afterwards, as itself (not as a repeat of "I didn't get that"):
            # the state says the last answer was not unclear.
            return [
                *read,
                SlotSet(SLOT_QUESTION_STATE, _question_state(tracker, shown, route)),
                ActionExecutionRejected(self.form_name()),
            ]
        if route == WHICH_ONES:
            dispatcher.utter_message(
                response=UTTER_WHICH_RED_FLAG if asked == "red_flags" else UTTER_WHICH_ONES
            )
        if (
            route == CORRECTION or _changed_earlier_answer(tracker, asked)
        ) and not tracker.get_slot("red_flags"):
            # (A red flag goes straight to the urgent advice, with nothing before it.)
            dispatcher.utter_message(response=UTTER_FACT_UPDATED)
        events = await super().run(dispatcher, tracker, domain)
        validated = {e["name"] for e in events if e.get("event") == "slot"}
        # Always one event of our own: a form that validates nothing rejects the turn.
        return [
            *(e for e in read if e["name"] not in validated),
            SlotSet(SLOT_QUESTION_STATE, _question_state(tracker, shown, route)),
            *events,
        ]

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Each fact the reader set, checked with the engine's own validator."""
        events: list[EventType] = []
        for name, value in tracker.slots_to_validate().items():
            if name not in FACT_SLOTS or value is None:
                continue
            checked = _checked(name, value, dispatcher)
            tracker.slots.update(checked)
            events.extend(SlotSet(k, v) for k, v in checked.items())
        next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
        if next_slot:
            events.append(next_slot)
        return events


def screening_questions(slots: dict[str, Any]) -> list[str]:
    """The form's questions in order, consent first, follow-ups only where needed; red
    flags end it (urgent advice needs no consent), and so does a "no" to consent."""
    if slots.get("red_flags"):
        return ["red_flags"]
    consent = slots.get(SLOT_CONSENT)
    if consent == CONSENT_DECLINED:
        return []
    unknown = set(slots.get(SLOT_DATES_UNKNOWN) or [])
    questions: list[str] = [] if consent == CONSENT_GIVEN else [SLOT_CONSENT]
    for fact in FACT_SLOTS:
        questions.append(fact)
        if fact in COURSE_FOLLOW_UPS:
            course = slots.get(fact) or {}
            field = COURSE_FACTS[fact]
            if (
                isinstance(course, dict)
                and course.get("status") == "past"
                and not course.get(field)
                and f"{fact}.{field}" not in unknown
            ):
                questions.append(COURSE_FOLLOW_UPS[fact])
    if undated_procedures(slots.get(PROCEDURE_FACT), unknown):
        questions.append(PROCEDURE_FOLLOW_UP)
    return questions


def is_open(question: str, slots: dict[str, Any], answered: set[str]) -> bool:
    """Still to be asked: unknown, only partly told before its question, or being checked."""
    check = slots.get(SLOT_PENDING_CHECK)
    if isinstance(check, dict) and check.get("fact") == question:
        return True
    value = slots.get(question)
    if value is None:
        return True
    return question in LIST_FACTS and question != "red_flags" and question not in answered


def answers_latest_message(tracker: Tracker) -> bool:
    """Whether the form runs on the person's latest message (not after an interjection).

    Rasa validates on a copy of the tracker that ends with the form's own run and then the
    slots to validate (`..., requested_slot, action screening_form, slot, slot`): those are
    not what happened since the message, so they are skipped first.
    """
    events = list(tracker.events)
    end = len(events)
    while end and events[end - 1].get("event") == "slot":
        end -= 1
    last = events[end - 1] if end else {}
    if last.get("event") == "action" and last.get("name") == FORM_SCREENING:
        end -= 1
    for event in reversed(events[:end]):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "action" and event.get("name") not in ("action_listen", "action_extract_slots"):
            return False
    return False


def _question_state(tracker: Tracker, asked: str | None, route: str) -> dict[str, Any]:
    state = dict(tracker.get_slot(SLOT_QUESTION_STATE) or {})
    if state.get("question") != asked:
        state = {"question": asked, "asked": 1, "unclear": 0}
    if route == UNCLEAR:
        state["unclear"] = int(state.get("unclear") or 0) + 1
    state["last_unclear"] = route == UNCLEAR
    if is_other_purpose(route) and route not in state.get("handed_over", []):
        state["handed_over"] = [*state.get("handed_over", []), route]
    return state


# Purposes that always go where they ask, however often: a person, a contact, leaving.
ALWAYS_HANDED_OVER = frozenset({"request_handoff", "request_contact", "goodbye", "start_over"})


def _handed_over_again(tracker: Tracker, asked: str | None, route: str) -> bool:
    """Whether a message at this question already went to this purpose."""
    state = tracker.get_slot(SLOT_QUESTION_STATE) or {}
    return (
        is_other_purpose(route)
        and route not in ALWAYS_HANDED_OVER
        and state.get("question") == asked
        and route in (state.get("handed_over") or [])
    )


def _changed_earlier_answer(tracker: Tracker, asked: str | None) -> bool:
    before = slots_before_latest_message(tracker)
    return any(
        before.get(fact) is not None
        and fact != asked
        and fact != DATE_FOLLOW_UPS.get(asked or "")
        and tracker.get_slot(fact) != before[fact]
        for fact in FACT_SLOTS
    )


def _checked(slot: str, value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    """The slot set to the engine's normalised fact, or cleared (so the form asks again)."""
    try:
        normalised = validate_fact(slot, _as_list(value) if slot in LIST_FACTS else value)
    except FactError as error:
        # The field name only: the value may be personal data.
        logger.info("rejected an answer for %s: %s", slot, error.field)
        dispatcher.utter_message(response=UTTER_INVALID_ANSWER)
        return {slot: None}
    return {slot: Facts({slot: normalised}).to_json()[slot]}


def _as_list(value: Any) -> Any:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        return value
    # Rasa wraps a mapping's `value: []` into a list slot as `[[]]`: flatten one level.
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, list) else [item])
    return flat
