"""The screening form: which question comes next, and how each answer updates the facts.

Each message is folded into what was said before by needlecheck.nlu.answers (volunteered
items kept, denials removed, a plain "no" answering only its own question); then one
validate_<fact> per fact checks the result with the engine's own validator, so the form
can never hold a value the engine would reject.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.names import (
    ACTION_VALIDATE_SCREENING_FORM,
    ENTITY_TIME,
    FACT_SLOTS,
    FAQ_INTENT_PREFIX,
    INTENT_AFFIRM,
    INTENT_DENY,
    SLOT_ANSWERED_FACTS,
    SLOT_CANCER_TREATMENT_ENDED,
    SLOT_DATES_UNKNOWN,
    SLOT_ISOTRETINOIN_LAST_DOSE,
    SLOT_PROCEDURE_DATE,
    UTTER_DATE_NOT_UNDERSTOOD,
    UTTER_FACT_UPDATED,
    UTTER_INVALID_ANSWER,
    UTTER_WHICH_ONES,
    UTTER_WHICH_RED_FLAG,
)
from needlecheck.nlu.answers import (
    LIST_FACTS,
    Said,
    merge_course,
    merge_list,
    said_by_fact,
    undated_procedures,
)
from needlecheck.nlu.extractor import Lexicon, contains_phrase
from needlecheck.screening import FactError, Facts, validate_fact
from needlecheck.screening.dates import add_months

logger = logging.getLogger(__name__)

SlotValues = dict[str, Any]
NOT_ANSWERS = {"ask_why", "out_of_scope"}
COURSE_FACTS = {"isotretinoin": "last_dose", "cancer_treatment": "ended"}
FOLLOW_UP_FOR = {
    SLOT_ISOTRETINOIN_LAST_DOSE: "isotretinoin",
    SLOT_CANCER_TREATMENT_ENDED: "cancer_treatment",
}


@cache
def lexicon() -> Lexicon:
    # Read on first use, not at import: rasa-sdk imports every module of actions/.
    return Lexicon.load()


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
        answered_before = tracker.get_slot(SLOT_ANSWERED_FACTS)
        unspecific = _unspecific_yes(tracker)
        if unspecific:
            # "Yes" to "do you have any of these?" does not say which: ask, and keep the
            # question open (a red flag is never assumed away).
            dispatcher.utter_message(
                response=UTTER_WHICH_RED_FLAG if unspecific == "red_flags" else UTTER_WHICH_ONES
            )
            return [
                SlotSet(unspecific, tracker.get_slot(unspecific)),
                SlotSet(REQUESTED_SLOT, unspecific),
            ]
        events = await super().run(dispatcher, tracker, domain)
        # rasa-sdk returns only the questions' slots; the bookkeeping slot goes back too.
        answered = tracker.get_slot(SLOT_ANSWERED_FACTS)
        if answered != answered_before and not any(
            e.get("name") == SLOT_ANSWERED_FACTS for e in events
        ):
            events.insert(0, SlotSet(SLOT_ANSWERED_FACTS, answered))
        return events

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().get_extraction_events(dispatcher, tracker, domain)
        before = slots_before_latest_message(tracker)
        updates = fold_message(tracker, before)
        asked = tracker.get_slot(REQUESTED_SLOT)
        if any(
            before.get(fact) is not None
            and fact != asked
            and updates.get(fact, tracker.get_slot(fact)) != before[fact]
            for fact in FACT_SLOTS
        ):
            dispatcher.utter_message(response=UTTER_FACT_UPDATED)
        return events + [SlotSet(name, value) for name, value in updates.items()]

    def validate_red_flags(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("red_flags", value, dispatcher)

    def validate_age(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("age", _as_age(value), dispatcher)

    def validate_treatment_area(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("treatment_area", value, dispatcher)

    def validate_skin_concerns(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("skin_concerns", value, dispatcher)

    def validate_topical_products(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("topical_products", value, dispatcher)

    def validate_isotretinoin(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("isotretinoin", _as_course(value), dispatcher)

    def validate_isotretinoin_last_dose(
        self, value: Any, dispatcher, tracker, domain
    ) -> SlotValues:
        return _follow_up_date(SLOT_ISOTRETINOIN_LAST_DOSE, tracker, dispatcher)

    def validate_pregnant_or_breastfeeding(
        self, value: Any, dispatcher, tracker, domain
    ) -> SlotValues:
        return _checked("pregnant_or_breastfeeding", _single(value), dispatcher)

    def validate_active_skin_issues(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("active_skin_issues", value, dispatcher)

    def validate_conditions(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("conditions", value, dispatcher)

    def validate_medications(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("medications", value, dispatcher)

    def validate_cancer_treatment(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("cancer_treatment", _as_course(value), dispatcher)

    def validate_cancer_treatment_ended(
        self, value: Any, dispatcher, tracker, domain
    ) -> SlotValues:
        return _follow_up_date(SLOT_CANCER_TREATMENT_ENDED, tracker, dispatcher)

    def validate_allergies(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("allergies", value, dispatcher)

    def validate_recent_procedures(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("recent_procedures", value, dispatcher)

    def validate_recent_procedures_date(
        self, value: Any, dispatcher, tracker, domain
    ) -> SlotValues:
        pending = undated_procedures(tracker.get_slot("recent_procedures"), _unknown(tracker))
        if not pending:
            return {SLOT_PROCEDURE_DATE: None}
        procedure_type = pending[0]
        answer = _date_answer(tracker)
        if answer == "unknown":
            return {
                SLOT_DATES_UNKNOWN: [*_unknown(tracker), f"recent_procedures.{procedure_type}"],
                SLOT_PROCEDURE_DATE: None,
            }
        if answer is None or answer == "ongoing":
            dispatcher.utter_message(response=UTTER_DATE_NOT_UNDERSTOOD)
            return {SLOT_PROCEDURE_DATE: None}
        procedures = [
            {**p, "date": answer} if p.get("type") == procedure_type and not p.get("date") else p
            for p in tracker.get_slot("recent_procedures") or []
        ]
        return {**_checked("recent_procedures", procedures, dispatcher), SLOT_PROCEDURE_DATE: None}


def screening_questions(slots: dict[str, Any]) -> list[str]:
    """The form's questions in order, follow-ups only where needed; red flags end it."""
    if slots.get("red_flags"):
        return ["red_flags"]
    unknown = set(slots.get(SLOT_DATES_UNKNOWN) or [])
    questions: list[str] = []
    for fact in FACT_SLOTS:
        questions.append(fact)
        if fact in COURSE_FACTS:
            course = slots.get(fact) or {}
            field = COURSE_FACTS[fact]
            if (
                isinstance(course, dict)
                and course.get("status") == "past"
                and not course.get(field)
                and f"{fact}.{field}" not in unknown
            ):
                questions.append(
                    SLOT_ISOTRETINOIN_LAST_DOSE
                    if fact == "isotretinoin"
                    else SLOT_CANCER_TREATMENT_ENDED
                )
    if undated_procedures(slots.get("recent_procedures"), unknown):
        questions.append(SLOT_PROCEDURE_DATE)
    return questions


def is_open(question: str, slots: dict[str, Any], answered: set[str]) -> bool:
    """Still to be asked: unknown, or a list fact only partly told before its question."""
    value = slots.get(question)
    if value is None:
        return True
    return question in LIST_FACTS and question != "red_flags" and question not in answered


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


def fold_message(tracker: Tracker, before: dict[str, Any]) -> dict[str, Any]:
    """Slot updates for everything the latest message said about the facts."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    if intent in NOT_ANSWERS or (intent or "").startswith(FAQ_INTENT_PREFIX):
        # "Can I use retinol afterwards?" asks about retinol; it does not say they use it.
        return {}
    asked = tracker.get_slot(REQUESTED_SLOT)
    said = said_by_fact(_flattened(message.get("entities") or []), FACT_SLOTS)
    updates: dict[str, Any] = {}
    answered = list(tracker.get_slot(SLOT_ANSWERED_FACTS) or [])
    for fact in LIST_FACTS:
        told = said.get(fact, Said())
        is_asked = fact == asked
        plain_no = is_asked and (intent == INTENT_DENY or tracker.get_slot(fact) == [])
        if not (told.affirmed or told.denied or plain_no):
            continue
        merged = merge_list(fact, before.get(fact), told, asked=is_asked)
        if plain_no and merged is None:
            merged = []
        if merged is not None and merged != tracker.get_slot(fact):
            updates[fact] = merged
        if is_asked and fact not in answered:
            answered.append(fact)
    for fact in COURSE_FACTS:
        value = tracker.get_slot(fact)
        if value is not None and value != before.get(fact):
            course = _as_course(value)
            if isinstance(course, dict):
                merged_course = merge_course(before.get(fact), course)
                if merged_course != value:
                    updates[fact] = merged_course
    if answered != list(tracker.get_slot(SLOT_ANSWERED_FACTS) or []):
        updates[SLOT_ANSWERED_FACTS] = answered
    return updates


def _unspecific_yes(tracker: Tracker) -> str | None:
    """The list question answered with a bare "yes", if that is what the message was."""
    message = tracker.latest_message or {}
    asked = tracker.get_slot(REQUESTED_SLOT)
    if (message.get("intent") or {}).get("name") != INTENT_AFFIRM or asked not in LIST_FACTS:
        return None
    if any(e.get("entity") == asked for e in message.get("entities") or []):
        return None
    return asked


def _flattened(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A button payload gives a whole list as one entity's value.
    flat = []
    for entity in entities:
        value = entity.get("value")
        if isinstance(value, list):
            flat.extend({**entity, "value": item} for item in value)
        else:
            flat.append(entity)
    return flat


def _checked(slot: str, value: Any, dispatcher: CollectingDispatcher) -> SlotValues:
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
    return [
        {"type": item} if isinstance(item, str) and _is_procedure(item) else item for item in flat
    ]


def _is_procedure(item: str) -> bool:
    return item in {"chemical_peel", "laser", "dermabrasion", "filler", "neurotoxin", "surgery"}


def _single(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _as_age(value: Any) -> Any:
    value = _single(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _as_course(value: Any) -> Any:
    value = _single(value)
    if isinstance(value, str):
        return {"status": value}
    return value


def _unknown(tracker: Tracker) -> list[str]:
    return list(tracker.get_slot(SLOT_DATES_UNKNOWN) or [])


def _date_answer(tracker: Tracker) -> str | None:
    """An ISO date, "ongoing", "unknown", or None when the message gave none of them."""
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    for entity in message.get("entities") or []:
        if entity.get("entity") != ENTITY_TIME or not isinstance(entity.get("value"), dict):
            continue
        value = entity["value"]
        if value.get("date"):
            return value["date"]
        age = tracker.get_slot("age")
        if value.get("at_age") is not None and isinstance(age, int) and age >= value["at_age"]:
            from needlecheck.runtime import services

            years = max(age - value["at_age"] - 1, 0)
            return add_months(services().settings.today(), -12 * years).isoformat()
    words = lexicon()
    if contains_phrase(text, words.date_unknown):
        return "unknown"
    if contains_phrase(text, words.still_going):
        return "ongoing"
    return None


def _follow_up_date(slot: str, tracker: Tracker, dispatcher: CollectingDispatcher) -> SlotValues:
    fact = FOLLOW_UP_FOR[slot]
    field = COURSE_FACTS[fact]
    course = dict(_as_course(tracker.get_slot(fact)) or {"status": "past"})
    answer = _date_answer(tracker)
    if answer == "unknown":
        return {SLOT_DATES_UNKNOWN: [*_unknown(tracker), f"{fact}.{field}"], slot: None}
    if answer == "ongoing":
        return {**_checked(fact, {"status": "current"}, dispatcher), slot: None}
    if answer is None:
        dispatcher.utter_message(response=UTTER_DATE_NOT_UNDERSTOOD)
        return {slot: None}
    course[field] = answer
    return {**_checked(fact, course, dispatcher), slot: None}
