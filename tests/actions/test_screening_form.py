"""The screening form over the fact reader: answers become engine facts, the next question
follows, and a message meant for something else is handed to that purpose's rule.

Each turn runs as Rasa runs it: action_read_facts (the fact slots' custom mapping) reads
the message first, then the form validates on Rasa's temporary tracker, which ends with
the form's own run and the slots to validate.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.names import FACT_SLOTS, QUESTIONS, UTTER_INVALID_ANSWER
from actions.reading import ActionReadFacts
from actions.screening_form import (
    ValidateScreeningForm,
    answers_latest_message,
    screening_questions,
)
from tests.actions.conftest import make_tracker, parse

FORM = ValidateScreeningForm()


def validate(slot: str, value: Any, domain) -> tuple[dict[str, Any], list[str]]:
    """The engine's check of one value the reader (or a button) put in a fact slot."""
    tracker = Tracker(
        "c",
        {"requested_slot": slot, slot: value},
        {"intent": {"name": "inform"}, "entities": [], "text": "…"},
        [{"event": "user", "text": "…"}, {"event": "slot", "name": slot, "value": value}],
        False,
        None,
        {"name": "screening_form"},
        "action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = asyncio.run(FORM.get_validation_events(dispatcher, tracker, domain))
    changes = {e["name"]: e["value"] for e in events if e["name"] != "requested_slot"}
    return changes, [m.get("response") for m in dispatcher.messages]


@pytest.mark.parametrize(
    ("slot", "raw", "fact"),
    [
        # Rasa wraps a mapping's `[]` into a list slot as `[[]]`.
        ("red_flags", [[]], []),
        ("red_flags", ["infection_signs", "infection_signs"], ["infection_signs"]),
        ("age", 34, 34),
        ("treatment_area", "face", ["face"]),
        ("treatment_area", ["face", "neck", "face"], ["face", "neck"]),
        ("topical_products", [], []),
        ("isotretinoin", {"status": "past"}, {"status": "past"}),
        (
            "isotretinoin",
            {"status": "past", "last_dose": "2026-09-27"},
            {"status": "past", "last_dose": "2026-09-27"},
        ),
        ("pregnant_or_breastfeeding", False, False),
        ("cancer_treatment", {"status": "none"}, {"status": "none"}),
        (
            "recent_procedures",
            [{"type": "laser"}, {"type": "filler", "date": "2026-11-01"}],
            [{"type": "laser", "date": None}, {"type": "filler", "date": "2026-11-01"}],
        ),
    ],
)
def test_facts_are_normalised_by_the_engine(slot, raw, fact, domain) -> None:
    changes, said = validate(slot, raw, domain)
    assert changes == {slot: fact}
    assert said == []


@pytest.mark.parametrize(
    ("slot", "raw"),
    [
        ("age", 250),
        ("age", "three hundred"),
        ("treatment_area", ["knee"]),
        ("isotretinoin", {"status": "sometimes"}),
        ("pregnant_or_breastfeeding", "maybe"),
        ("recent_procedures", [{"type": "tattoo"}]),
        ("skin_concerns", []),
    ],
)
def test_a_value_the_engine_rejects_clears_the_slot_and_says_so(slot, raw, domain) -> None:
    changes, said = validate(slot, raw, domain)
    assert changes == {slot: None}
    assert said == [UTTER_INVALID_ANSWER]


def test_every_question_is_asked_in_order_and_a_red_flag_ends_them() -> None:
    assert screening_questions({}) == ["health_data_consent", *FACT_SLOTS]
    assert screening_questions({"health_data_consent": "given"}) == list(FACT_SLOTS)
    # Urgent advice needs no consent; a "no" to consent ends the questions.
    assert screening_questions({"red_flags": ["allergic_reaction"]}) == ["red_flags"]
    assert screening_questions({"health_data_consent": "declined"}) == []


# --- whole turns ---------------------------------------------------------------------


def turn(
    domain,
    before: dict[str, Any],
    asked: str,
    text: str,
    intent: str = "inform",
    confidence: float = 0.9,
) -> tuple[dict[str, Any], list[str]]:
    """One message at question `asked`: the slots it changed (reader and form) and what
    the form said; `rejected` in the changes when the form stepped aside. Consent is given
    unless `before` says otherwise."""
    before = {"health_data_consent": "given", **before}
    message = parse(text, intent, confidence)
    # What Rasa's slot extraction does first: the fact reader on the latest message.
    reader_tracker = Tracker(
        "c",
        {**before, "requested_slot": asked},
        message,
        [],
        False,
        None,
        {"name": "screening_form"},
        "action_listen",
    )
    read = asyncio.run(ActionReadFacts().run(CollectingDispatcher(), reader_tracker, domain))
    read_values = {e["name"]: e["value"] for e in read}
    events = [{"event": "slot", "name": k, "value": v} for k, v in before.items()]
    events += [
        {"event": "slot", "name": "requested_slot", "value": asked},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": message},
        *read,
        # Rasa's temporary tracker for the validation: the form's run, then the candidates.
        {"event": "slot", "name": "requested_slot", "value": asked},
        {"event": "action", "name": "screening_form"},
        *[e for e in read if e["name"] in QUESTIONS],
    ]
    tracker = Tracker(
        "c",
        {**before, **read_values, "requested_slot": asked},
        message,
        events,
        False,
        None,
        {"name": "screening_form"},
        "action_listen",
    )
    dispatcher = CollectingDispatcher()
    result = asyncio.run(FORM.run(dispatcher, tracker, domain))
    changes = dict(read_values)
    for event in result:
        if event["event"] == "action_execution_rejected":
            changes["rejected"] = event["name"]
        else:
            changes[event["name"]] = event["value"]
    return changes, [m.get("response") for m in dispatcher.messages]


UP_TO_PRODUCTS = {
    "red_flags": [],
    "age": 34,
    "treatment_area": ["face"],
    "skin_concerns": ["acne_scars"],
    "answered_facts": ["red_flags", "treatment_area", "skin_concerns"],
}
UP_TO_ALLERGIES = {
    **UP_TO_PRODUCTS,
    "topical_products": [],
    "isotretinoin": {"status": "never"},
    "pregnant_or_breastfeeding": False,
    "active_skin_issues": [],
    "conditions": [],
    "medications": [],
    "cancer_treatment": {"status": "none"},
    "answered_facts": [
        *UP_TO_PRODUCTS["answered_facts"],
        "topical_products",
        "active_skin_issues",
        "conditions",
        "medications",
    ],
}


def test_an_answer_is_recorded_and_the_next_question_follows(domain, fresh_services) -> None:
    changes, said = turn(domain, {}, "red_flags", "none of those, thankfully", "deny")
    assert changes["red_flags"] == []
    assert changes["answered_facts"] == ["red_flags"]
    assert changes["requested_slot"] == "age"
    assert "rejected" not in changes
    assert said == []


def test_a_volunteered_item_is_kept_but_its_question_is_still_asked(domain, fresh_services) -> None:
    before = {k: v for k, v in UP_TO_PRODUCTS.items() if k != "skin_concerns"}
    before["answered_facts"] = ["red_flags", "treatment_area"]
    changes, _ = turn(domain, before, "skin_concerns", "acne scars mostly, I use retinol nightly")
    assert changes["skin_concerns"] == ["acne_scars"]
    assert changes["topical_products"] == ["retinoid"]
    assert "topical_products" not in changes["answered_facts"]
    assert changes["requested_slot"] == "topical_products"
    # A plain "no" then: what was volunteered stays, and is checked with the person.
    after = {**before, **{k: v for k, v in changes.items() if k != "requested_slot"}}
    changes, _ = turn(domain, after, "topical_products", "no", "deny")
    assert changes.get("topical_products", after["topical_products"]) == ["retinoid"]
    assert "topical_products" in changes["answered_facts"]
    assert changes["pending_check"] == {
        "fact": "topical_products",
        "kind": "volunteered",
        "value": "retinoid",
    }
    assert changes["requested_slot"] == "topical_products"
    after = {**after, **{k: v for k, v in changes.items() if k != "requested_slot"}}
    changes, _ = turn(domain, after, "topical_products", "yes, every night", "affirm")
    assert changes["pending_check"] is None
    assert changes.get("topical_products", after["topical_products"]) == ["retinoid"]
    assert changes["requested_slot"] == "isotretinoin"


def test_a_correction_of_an_earlier_answer_is_applied_and_acknowledged(
    domain, fresh_services
) -> None:
    before = {**UP_TO_PRODUCTS, "topical_products": ["vitamin_c"]}
    before["answered_facts"] = [*before["answered_facts"], "topical_products"]
    del before["age"]
    changes, said = turn(domain, before, "age", "sorry, I do use retinol too", "correct")
    assert changes["topical_products"] == ["vitamin_c", "retinoid"]
    assert said == ["utter_fact_updated"]
    # Said as a correction: nothing to check, and the open question stays open.
    assert changes.get("pending_check") is None
    assert changes["requested_slot"] == "age"


def test_an_item_added_to_an_earlier_no_is_kept_and_checked(domain, fresh_services) -> None:
    changes, said = turn(domain, UP_TO_ALLERGIES, "allergies", "I take warfarin every day")
    # Never lost: the gap cannot turn into "eligible".
    assert changes["medications"] == ["anticoagulant"]
    assert changes["pending_check"] == {
        "fact": "medications",
        "kind": "contradiction",
        "value": "anticoagulant",
    }
    assert "utter_fact_updated" in said
    # The check comes first: it is the medicines question, asked again.
    assert changes["requested_slot"] == "medications"
    after = {**UP_TO_ALLERGIES, **{k: v for k, v in changes.items() if k != "requested_slot"}}
    changes, _ = turn(domain, after, "medications", "yes that's right", "affirm")
    assert changes["pending_check"] is None
    assert changes.get("medications", after["medications"]) == ["anticoagulant"]
    assert changes["requested_slot"] == "allergies"


def test_a_bare_yes_to_a_list_question_asks_which(domain, fresh_services) -> None:
    changes, said = turn(domain, UP_TO_PRODUCTS, "topical_products", "yes", "affirm")
    assert said == ["utter_which_ones"]
    assert changes.get("topical_products") is None
    assert changes["requested_slot"] == "topical_products"
    changes, said = turn(domain, {}, "red_flags", "yes", "affirm")
    assert said == ["utter_which_red_flag"]
    assert changes.get("red_flags") is None
    assert changes["requested_slot"] == "red_flags"


def test_an_unclear_answer_keeps_the_question_and_counts(domain, fresh_services) -> None:
    state = {"question": "age", "asked": 1, "unclear": 0}
    changes, said = turn(domain, {"red_flags": [], "question_state": state}, "age", "hmm")
    assert said == []
    assert changes["question_state"] == {
        "question": "age",
        "asked": 1,
        "unclear": 1,
        "last_unclear": True,
    }
    assert changes["requested_slot"] == "age"
    assert "age" not in changes


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("why do you need to know that?", "ask_why"),
        ("how long does the redness last?", "faq_downtime"),
        ("how much does a session cost?", "clinic_price"),
        ("can I talk to a real person please", "request_handoff"),
    ],
)
def test_a_message_for_another_purpose_is_handed_to_its_rule(
    domain, fresh_services, text, intent
) -> None:
    changes, said = turn(domain, {"red_flags": []}, "age", text, intent)
    assert changes["rejected"] == "screening_form"
    assert said == []
    assert "age" not in changes


def test_an_answer_that_also_asks_something_is_recorded_and_handed_over(
    domain, fresh_services
) -> None:
    changes, _ = turn(domain, {"red_flags": []}, "age", "I'm 34, does it hurt much?", "faq_pain")
    assert changes["age"] == 34
    # The question gets its answer (the FAQ rule), then the form asks the next one.
    assert changes["rejected"] == "screening_form"


def test_a_strong_purpose_with_a_fact_in_it_still_wins(domain, fresh_services) -> None:
    before = {**UP_TO_ALLERGIES}
    changes, _ = turn(
        domain,
        before,
        "allergies",
        "I'm on warfarin, I'd rather talk to a person",
        "request_handoff",
    )
    assert changes["rejected"] == "screening_form"
    # Stated all the same: it is kept.
    assert changes["medications"] == ["anticoagulant"]


def test_back_from_an_interjection_the_form_only_asks_again(domain) -> None:
    tracker = Tracker(
        "c",
        {"health_data_consent": "given", "red_flags": [], "requested_slot": "age"},
        {"intent": {"name": "faq_pain"}, "entities": [], "text": "does it hurt?"},
        [
            {"event": "slot", "name": "red_flags", "value": []},
            {"event": "user", "text": "does it hurt?"},
            {"event": "action_execution_rejected", "name": "screening_form"},
            {"event": "action", "name": "action_answer_faq"},
            {"event": "bot", "text": "Most people find it quite tolerable."},
            {"event": "slot", "name": "requested_slot", "value": "age"},
            {"event": "action", "name": "screening_form"},
        ],
        False,
        None,
        {"name": "screening_form"},
        "action_answer_faq",
    )
    assert not answers_latest_message(tracker)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(FORM.run(dispatcher, tracker, domain))
    assert [(e["name"], e["value"]) for e in events] == [("requested_slot", "age")] * len(events)
    assert dispatcher.messages == []


def test_the_latest_message_is_found_behind_rasas_validation_events() -> None:
    base = [{"event": "action", "name": "action_listen"}, {"event": "user", "text": "34"}]
    validation = [
        {"event": "slot", "name": "requested_slot", "value": "age"},
        {"event": "action", "name": "screening_form"},
    ]
    for candidates in ([], [{"event": "slot", "name": "age", "value": 34}]):
        tracker = make_tracker({})
        tracker.events = [*base, {"event": "slot", "name": "age", "value": 34}]
        tracker.events += [*validation, *candidates]
        assert answers_latest_message(tracker)
    # At activation after consent, the message was the consent's, not an answer.
    tracker = make_tracker({})
    tracker.events = [*base, {"event": "action", "name": "utter_greet"}, *validation]
    assert not answers_latest_message(tracker)


PAST_DOSE = {
    **UP_TO_PRODUCTS,
    "topical_products": [],
    "answered_facts": [*UP_TO_PRODUCTS["answered_facts"], "topical_products"],
    "isotretinoin": {"status": "past"},
}


def test_a_past_course_without_a_date_is_followed_up(domain, fresh_services) -> None:
    assert "isotretinoin_last_dose" in screening_questions(PAST_DOSE)
    assert "isotretinoin_last_dose" not in screening_questions(
        {**PAST_DOSE, "isotretinoin": {"status": "never"}}
    )
    changes, _ = turn(domain, PAST_DOSE, "isotretinoin_last_dose", "two months ago")
    assert changes["isotretinoin"] == {"status": "past", "last_dose": "2026-09-27"}
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"


def test_the_follow_up_takes_cant_remember_and_still_taking_it(domain, fresh_services) -> None:
    changes, _ = turn(domain, PAST_DOSE, "isotretinoin_last_dose", "honestly can't remember")
    assert changes["dates_unknown"] == ["isotretinoin.last_dose"]
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"
    changes, _ = turn(domain, PAST_DOSE, "isotretinoin_last_dose", "I'm still taking it")
    assert changes["isotretinoin"] == {"status": "current"}
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"


def test_each_undated_procedure_is_dated_in_turn(domain, fresh_services) -> None:
    before = {
        **UP_TO_ALLERGIES,
        "allergies": [],
        "recent_procedures": [{"type": "laser", "date": None}, {"type": "filler", "date": None}],
        "answered_facts": [*UP_TO_ALLERGIES["answered_facts"], "allergies", "recent_procedures"],
    }
    assert screening_questions(before)[-1] == "recent_procedures_date"
    changes, _ = turn(domain, before, "recent_procedures_date", "10 days ago")
    assert changes["recent_procedures"] == [
        {"type": "laser", "date": "2026-11-17"},
        {"type": "filler", "date": None},
    ]
    # The filler's date is still to come.
    assert changes["requested_slot"] == "recent_procedures_date"


def test_a_red_flag_ends_the_questions(domain, fresh_services) -> None:
    changes, _ = turn(
        domain, {"red_flags": []}, "age", "my lips are swelling up", "report_red_flag", 1.0
    )
    assert changes["red_flags"] == ["allergic_reaction"]
    assert changes["requested_slot"] is None


# --- the consent question, the form's first ---------------------------------------------


def test_yes_to_consent_with_a_question_gives_consent_and_hands_the_question_over(
    domain, fresh_services
) -> None:
    changes, _ = turn(
        domain,
        {"health_data_consent": None},
        "health_data_consent",
        "yeah go on then. what do you charge for it?",
        "clinic_price",
    )
    assert changes["health_data_consent"] == "given"
    assert changes["consent_version"].startswith("sha256:")
    assert changes["rejected"] == "screening_form"


def test_a_yes_to_consent_is_the_funnels_consented_step_and_a_no_is_not(
    domain, fresh_services
) -> None:
    from sqlalchemy import select

    from needlecheck import runtime
    from needlecheck.store.migrate import upgrade
    from needlecheck.store.models import FunnelEvent

    upgrade(runtime.services().settings.database_url)

    def stages() -> list[str]:
        with runtime.services().sessions.begin() as session:
            return list(session.execute(select(FunnelEvent.stage)).scalars())

    turn(domain, {"health_data_consent": None}, "health_data_consent", "no thanks", "deny")
    assert stages() == []
    turn(domain, {"health_data_consent": None}, "health_data_consent", "yes that's fine", "affirm")
    assert stages() == ["consented"]


def test_no_to_consent_ends_the_questions_and_forgets_the_health_answers(
    domain, fresh_services
) -> None:
    before = {"health_data_consent": None, "medications": ["anticoagulant"]}
    changes, _ = turn(domain, before, "health_data_consent", "nah I'd rather not tbh", "deny")
    assert changes["health_data_consent"] == "declined"
    assert changes["medications"] is None
    assert changes["requested_slot"] is None
    assert "rejected" not in changes


def test_no_to_consent_with_a_request_for_a_person_is_both(domain, fresh_services) -> None:
    changes, _ = turn(
        domain,
        {"health_data_consent": None},
        "health_data_consent",
        "no. could a real person phone me instead?",
        "request_handoff",
    )
    assert changes["health_data_consent"] == "declined"
    assert changes["rejected"] == "screening_form"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I've got rosacea on my cheeks", "inform"),
        ("hmm, maybe later", "affirm"),
        ("no i havent used retinol", "deny"),
    ],
)
def test_a_fact_or_a_maybe_at_the_consent_question_answers_nothing(
    domain, fresh_services, text, intent
) -> None:
    changes, _ = turn(domain, {"health_data_consent": None}, "health_data_consent", text, intent)
    assert changes.get("health_data_consent") is None
    assert changes["requested_slot"] == "health_data_consent"
    assert changes["question_state"]["last_unclear"] is True


def test_started_again_after_a_no_consent_is_asked_again(domain, fresh_services) -> None:
    tracker = Tracker(
        "c",
        {"health_data_consent": "declined", "requested_slot": None},
        parse("ok then, ask me the questions", "start_screening"),
        [],
        False,
        None,
        {"name": "screening_form"},
        "action_listen",
    )
    result = asyncio.run(FORM.run(CollectingDispatcher(), tracker, domain))
    changes = {e["name"]: e["value"] for e in result if e["event"] == "slot"}
    assert changes["health_data_consent"] is None
    assert changes["requested_slot"] == "health_data_consent"


def test_the_same_other_purpose_twice_at_one_question_escalates(domain, fresh_services) -> None:
    # "how many sessions?" was answered once at this question; sent again, it is more
    # likely a misread answer: asked again in other words, never an endless loop.
    first, _ = turn(
        domain, {"red_flags": []}, "age", "how many sessions will I need?", "faq_sessions"
    )
    assert first["rejected"] == "screening_form"
    assert first["question_state"]["handed_over"] == ["faq_sessions"]
    again, _ = turn(
        domain,
        {"red_flags": [], "question_state": first["question_state"]},
        "age",
        "how many sessions will I need?",
        "faq_sessions",
    )
    assert "rejected" not in again
    assert again["question_state"]["last_unclear"] is True
    assert again["requested_slot"] == "age"
    # A person, though, is always put through.
    person, _ = turn(
        domain,
        {
            "red_flags": [],
            "question_state": {**first["question_state"], "handed_over": ["request_handoff"]},
        },
        "age",
        "can I talk to a real person please",
        "request_handoff",
    )
    assert person["rejected"] == "screening_form"


# --- the conditions question, in two parts ----------------------------------------------

UP_TO_CONDITIONS = {
    key: value
    for key, value in UP_TO_ALLERGIES.items()
    if key not in ("conditions", "medications", "cancer_treatment")
}
UP_TO_CONDITIONS["answered_facts"] = [
    *UP_TO_PRODUCTS["answered_facts"],
    "topical_products",
    "active_skin_issues",
]


def test_the_conditions_question_moves_on_only_after_both_parts(domain, fresh_services) -> None:
    first, _ = turn(domain, UP_TO_CONDITIONS, "conditions", "I get cold sores now and then")
    assert first["conditions"] == ["cold_sore_history"]
    assert first["requested_slot"] == "conditions"
    assert first["question_state"]["question"] == "conditions_skin"
    after = {**UP_TO_CONDITIONS, "conditions": first["conditions"]}
    after["answered_facts"] = first["answered_facts"]
    second, _ = turn(domain, after, "conditions", "nope, healthy otherwise", "deny")
    assert second.get("conditions", after["conditions"]) == ["cold_sore_history"]
    assert "conditions" in second["answered_facts"]
    assert second["requested_slot"] == "medications"
    assert second["question_state"]["question"] == "conditions_health"


# --- consent from someone under the clinic's adult age (clinic.yml: adult_age 18) ---------


def test_an_age_under_the_adult_age_asks_for_consent_again(domain, fresh_services) -> None:
    changes, _ = turn(domain, {"red_flags": []}, "age", "I'm 16")
    assert changes["age"] == 16
    assert changes["health_data_consent"] is None
    assert changes["requested_slot"] == "health_data_consent"


def test_an_adult_age_leaves_consent_as_it_was(domain, fresh_services) -> None:
    changes, _ = turn(domain, {"red_flags": []}, "age", "18 last week")
    assert "health_data_consent" not in changes
    assert changes["requested_slot"] == "treatment_area"


def test_a_minors_yes_is_recorded_with_the_text_they_saw(domain, fresh_services) -> None:
    from actions.consent import consent_version

    before = {"health_data_consent": None, "red_flags": [], "age": 16}
    changes, _ = turn(domain, before, "health_data_consent", "yes my mum's here, go ahead")
    assert changes["health_data_consent"] == "given"
    assert changes["consent_for_minor"] is True
    assert changes["consent_version"] == consent_version(
        domain, "utter_ask_health_data_consent_minor"
    )
    assert changes["consent_version"] != consent_version(domain)
    assert changes["requested_slot"] == "treatment_area"
    # Asked once: a later answer does not ask again.
    again, _ = turn(domain, {**before, **changes}, "treatment_area", "just my face")
    assert "health_data_consent" not in again


def test_a_minors_no_forgets_every_health_answer(domain, fresh_services) -> None:
    before = {"health_data_consent": None, "red_flags": [], "age": 15}
    changes, _ = turn(domain, before, "health_data_consent", "no thanks", "deny")
    assert changes["health_data_consent"] == "declined"
    assert changes["age"] is None
    assert changes["consent_for_minor"] is None
    assert changes["requested_slot"] is None
