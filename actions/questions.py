"""action_ask_<question>: how each screening question is put to the person.

The first time, the question itself. Asked again in a row (an unclear answer, or back
after an interjection), it is put another way: in other words with an example, then as
its options with a person, then as itself again, so the same sentence never comes three
times in a row. On the third unclear answer the person is offered a person and the front
desk gets a "needs a person" record with the conversation. An answer being checked
("Earlier you said no blood thinners...") or an unknown medicine asks its own question.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.consent import consent_question
from actions.funnel import reached
from actions.names import (
    ACTION_ASK_PREFIX,
    QUESTIONS,
    SLOT_ANSWERED_FACTS,
    SLOT_CONSENT,
    SLOT_DATES_UNKNOWN,
    SLOT_PENDING_CHECK,
    SLOT_QUESTION_STATE,
    SLOT_SCREENING_ID,
    UTTER_ASK_PREFIX,
    UTTER_CHECK_CONTRADICTION,
    UTTER_CHECK_MEDICINE,
    UTTER_CHECK_VOLUNTEERED,
    UTTER_HANDOFF_UNAVAILABLE,
    UTTER_OFFER_PERSON,
    UTTER_OFFER_PERSON_CLOSED,
    UTTER_OPTIONS,
    UTTER_OPTIONS_TYPED,
    UTTER_REPHRASE_PREFIX,
)
from needlecheck.nlu.answers import undated_procedures
from needlecheck.nlu.parts import asked_as
from needlecheck.screening.facts import PROCEDURE_FACT
from needlecheck.store.funnel import STARTED, question_stage

logger = logging.getLogger(__name__)

# Unclear answers to one question before the front desk is asked to step in.
UNCLEAR_BEFORE_PERSON = 3
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_handoff"}
# Questions answered by typing, with what to type when options are offered.
TYPED = {
    "age": "your age as a number, for example 34",
    "isotretinoin_last_dose": 'a month and year, for example "March 2025"',
    "cancer_treatment_ended": 'a month and year, for example "May 2025"',
    "recent_procedures_date": 'a month and year, for example "October 2026"',
}
TYPED_BUTTONS = {
    "isotretinoin_last_dose": ["I don't know", "I still take it"],
    "cancer_treatment_ended": ["I don't know", "It's still going on"],
    "recent_procedures_date": ["I don't know"],
}
PROCEDURE_NAMES = {
    "chemical_peel": "chemical peel",
    "laser": "laser treatment",
    "dermabrasion": "dermabrasion",
    "filler": "filler injection",
    "neurotoxin": "Botox (or similar) injection",
    "surgery": "surgery",
}
# "Earlier you said ..." for a list answered "none", and how each item reads.
EARLIER = {
    "red_flags": "you had none of the warning signs",
    "topical_products": "you use none of the listed skin products",
    "active_skin_issues": "your skin had none of the listed problems right now",
    "conditions": "you have none of the listed conditions",
    "medications": "you take no blood thinners or medicines that lower the immune system",
    "allergies": "you have no allergy to numbing creams or metals",
    "recent_procedures": "you had no recent procedures",
}
ITEMS = {
    "anticoagulant": "a blood thinner",
    "immunosuppressant": "a medicine that lowers the immune system",
    "retinoid": "a retinoid",
    "exfoliating_acid": "an exfoliating acid",
    "benzoyl_peroxide": "benzoyl peroxide",
    "vitamin_c": "vitamin C",
    "keloid_history": "keloid scars",
    "bleeding_disorder": "a bleeding problem",
    "skin_cancer_in_area": "skin cancer",
    "collagen_vascular_disease": "lupus or a similar condition",
    "cold_sore_history": "cold sores",
    "immunosuppression": "a weakened immune system",
    "autoimmune_disease": "an autoimmune disease",
    "diabetes": "diabetes",
    "chronic_skin_condition": "a long-term skin condition",
    "cardiac_condition": "a heart condition",
    "pigmentation_history": "dark marks after injuries",
    "topical_anesthetic": "an allergy to numbing cream",
    "metal": "a metal allergy",
    **PROCEDURE_NAMES,
}
# "other" is a value of more than one fact: its words depend on the question.
OTHER_ITEMS = {
    "topical_products": "another skin product",
    "skin_concerns": "another change to your skin",
}


def item_words(fact: str, value: str) -> str:
    """A fact's value as a person reads it, in "you've just mentioned ..."."""
    if value == "other":
        return OTHER_ITEMS.get(fact, "something else")
    return ITEMS.get(value, value.replace("_", " "))


class AskQuestion(Action):
    """Asks one screening question; subclassed once per question below."""

    question = ""

    def name(self) -> str:
        return ACTION_ASK_PREFIX + self.question

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # Asked as the person sees it: its own responses, its own count of unclear answers.
        question = shown_as(self.question, tracker.slots)
        state = dict(tracker.get_slot(SLOT_QUESTION_STATE) or {})
        if state.get("question") != question:
            state = {"question": question, "asked": 0, "unclear": 0}
        times = int(state.get("asked") or 0)
        values = _values(question, tracker)
        check = tracker.get_slot(SLOT_PENDING_CHECK)
        events: list[EventType] = []
        if isinstance(check, dict) and check.get("fact") == self.question:
            _ask_check(check, dispatcher)
        else:
            unclear = int(state.get("unclear") or 0)
            if unclear >= UNCLEAR_BEFORE_PERSON and not state.get("person"):
                state["person"] = await _ask_for_a_person(tracker, question)
                dispatcher.utter_message(response=_offer(state["person"]))
            # After an unclear answer: in other words, then the options, then as itself
            # (with the person, the third time). Back after an interjection: as itself, or
            # in other words if that was what it said last. Never the same sentence three
            # times in a row. Handed back by staff after a takeover: as itself, since the
            # person spoke with a member of staff in between and was not misunderstood.
            if _handed_back_since_asked(tracker.events):
                step = 0
            elif state.get("last_unclear") and unclear:
                step = unclear % 3
            else:
                step = 1 if state.get("variant") == 0 and times else 0
            state["variant"] = step
            if step == 0:
                dispatcher.utter_message(response=UTTER_ASK_PREFIX + question, **values)
            elif step == 1:
                dispatcher.utter_message(
                    response=UTTER_REPHRASE_PREFIX + question,
                    buttons=_question_buttons(question, domain, UTTER_REPHRASE_PREFIX),
                    **values,
                )
            else:
                _ask_with_options(question, domain, dispatcher)
        if not times:
            # The overview's funnel: the consent question starts a screening.
            await reached(
                tracker.sender_id,
                STARTED if self.question == SLOT_CONSENT else question_stage(self.question),
            )
        state["asked"] = times + 1
        events.append(SlotSet(SLOT_QUESTION_STATE, state))
        return events


def shown_as(question: str, slots: Mapping[str, Any]) -> str:
    """The question as put to the person, named as its responses are: a question asked in
    parts (needlecheck/nlu/parts.py) as its open part, and consent in the words for
    someone under the clinic's adult age when they are."""
    if question == SLOT_CONSENT:
        return consent_question(slots)
    return asked_as(question, slots.get(SLOT_ANSWERED_FACTS))


def _values(question: str, tracker: Tracker) -> dict[str, Any]:
    if question != f"{PROCEDURE_FACT}_date":
        return {}
    pending = undated_procedures(
        tracker.get_slot(PROCEDURE_FACT), tracker.get_slot(SLOT_DATES_UNKNOWN) or []
    )
    name = PROCEDURE_NAMES.get(pending[0], pending[0]) if pending else "procedure"
    return {"procedure": name}


def _ask_check(check: dict[str, Any], dispatcher: CollectingDispatcher) -> None:
    if check.get("kind") == "medicine":
        dispatcher.utter_message(response=UTTER_CHECK_MEDICINE, medicine=str(check.get("value")))
        return
    value = str(check.get("value"))
    if check.get("kind") == "volunteered":
        dispatcher.utter_message(
            response=UTTER_CHECK_VOLUNTEERED, item=item_words(str(check.get("fact")), value)
        )
        return
    dispatcher.utter_message(
        response=UTTER_CHECK_CONTRADICTION,
        earlier=EARLIER.get(str(check.get("fact")), "something different"),
        item=item_words(str(check.get("fact")), value),
    )


def _question_buttons(question: str, domain: DomainDict, unless: str | None = None) -> list[Any]:
    """The question's buttons, as payloads to send (none if response `unless` has its own)."""
    responses = domain.get("responses") or {}
    if unless and any(v.get("buttons") for v in responses.get(unless + question) or []):
        return []
    variants = responses.get(UTTER_ASK_PREFIX + question) or [{}]
    # Button payloads in the domain double their braces for Rasa's templating.
    return [
        {**b, "payload": str(b["payload"]).replace("{{", "{").replace("}}", "}")}
        for b in variants[0].get("buttons") or []
    ]


def _ask_with_options(question: str, domain: DomainDict, dispatcher: CollectingDispatcher) -> None:
    buttons = _question_buttons(question, domain)
    if question in TYPED or not buttons:
        typed = [{"title": t, "payload": t} for t in TYPED_BUTTONS.get(question, [])]
        dispatcher.utter_message(
            response=UTTER_OPTIONS_TYPED,
            what=TYPED.get(question, "your answer in a few words"),
            buttons=[*typed, PERSON_BUTTON],
        )
        return
    dispatcher.utter_message(response=UTTER_OPTIONS, buttons=[*buttons, PERSON_BUTTON])


def _handed_back_since_asked(events: list[dict[str, Any]]) -> bool:
    """Whether staff handed the conversation back (Rasa's `resume` event) since the
    assistant last said anything (the staff's own words, during the takeover, come
    before it)."""
    for event in reversed(events):
        if event.get("event") == "resume":
            return True
        if event.get("event") == "bot":
            return False
    return False


def _offer(asked: bool) -> str:
    """The offer says the front desk was asked only when it was, and offers to talk now
    only while the clinic is open (clinic.yml `hours`)."""
    from needlecheck.runtime import clinic_open_now

    if not asked:
        return UTTER_HANDOFF_UNAVAILABLE
    if clinic_open_now():
        return UTTER_OFFER_PERSON
    return UTTER_OFFER_PERSON_CLOSED


async def _ask_for_a_person(tracker: Tracker, question: str) -> bool:
    """A handoff request marked "needs a person", with the conversation so far."""
    from needlecheck.runtime import services
    from needlecheck.store.repository import add_handoff_request
    from needlecheck.transcript import transcript

    screening = tracker.get_slot(SLOT_SCREENING_ID)

    def store() -> None:
        with services().sessions.begin() as session:
            add_handoff_request(
                session,
                conversation_id=tracker.sender_id,
                reason=(
                    f"needs a person: {UNCLEAR_BEFORE_PERSON} answers to the "
                    f"{question.replace('_', ' ')} question were unclear to the assistant"
                ),
                screening_id=int(screening) if isinstance(screening, (int, float)) else None,
                transcript=transcript(tracker.events),
            )

    try:
        await asyncio.to_thread(store)
    except SQLAlchemyError as error:
        logger.error("could not store a needs-a-person request: %s", error.__class__.__name__)
        return False
    return True


# One action per question, named action_ask_<question> as Rasa's forms look them up.
for _question in QUESTIONS:
    globals()[f"Ask_{_question}"] = type(
        f"Ask_{_question}", (AskQuestion,), {"question": _question, "__module__": __name__}
    )
