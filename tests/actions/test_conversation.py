"""Consent, why-questions, answers about microneedling, start over, contact details."""

from __future__ import annotations

import asyncio
import copy

from rasa_sdk.executor import CollectingDispatcher

from actions.contact import ValidateContactForm, split_contact
from actions.conversation import (
    ActionAnswerFaq,
    ActionAskProcedureDate,
    ActionExplainQuestion,
    ActionRecordConsent,
    ActionStartOver,
    consent_version,
)
from tests.actions.conftest import make_tracker


def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return events, dispatcher.messages


def with_intent(tracker, intent):
    tracker.latest_message = {**tracker.latest_message, "intent": {"name": intent}}
    return tracker


def test_consent_records_the_answer_and_the_version_of_its_text(domain) -> None:
    events, _ = run(
        ActionRecordConsent(), with_intent(make_tracker({}, active=False), "affirm"), domain
    )
    slots = {e["name"]: e["value"] for e in events}
    assert slots["health_data_consent"] == "given"
    assert slots["consent_version"] == consent_version(domain)
    events, _ = run(
        ActionRecordConsent(), with_intent(make_tracker({}, active=False), "deny"), domain
    )
    assert {e["name"]: e["value"] for e in events}["health_data_consent"] == "declined"


def test_any_edit_of_the_consent_text_is_a_new_version(domain) -> None:
    edited = copy.deepcopy(domain)
    edited["responses"]["utter_ask_consent"][0]["text"] += " Edited."
    assert consent_version(edited) != consent_version(domain)
    assert consent_version(domain).startswith("sha256:")


def test_why_names_the_reason_for_the_question_asked(domain) -> None:
    _, said = run(ActionExplainQuestion(), make_tracker({}, "isotretinoin_last_dose"), domain)
    assert [m["response"] for m in said] == ["utter_why_isotretinoin_last_dose"]
    _, said = run(ActionExplainQuestion(), make_tracker({}, None, active=False), domain)
    assert [m["response"] for m in said] == ["utter_why_general"]


def test_each_question_about_microneedling_gets_its_answer(domain) -> None:
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "faq_downtime"), domain)
    assert [m["response"] for m in said] == ["utter_faq_downtime"]
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "faq_unknown_topic"), domain)
    assert [m["response"] for m in said] == ["utter_default"]


def test_start_over_forgets_the_answers_but_not_the_consent(domain) -> None:
    tracker = make_tracker(
        {"age": 40, "health_data_consent": "given", "screening_outcome": "eligible"}
    )
    events, _ = run(ActionStartOver(), tracker, domain)
    cleared = {e["name"] for e in events if e.get("event") == "slot" and e["value"] is None}
    assert {"age", "red_flags", "answered_facts", "screening_outcome", "requested_slot"} <= cleared
    assert "health_data_consent" not in cleared
    assert {"event": "active_loop", "name": None} in [
        {"event": e["event"], "name": e.get("name")} for e in events if e["event"] == "active_loop"
    ]


def test_the_procedure_date_question_names_the_procedure(domain) -> None:
    tracker = make_tracker(
        {"recent_procedures": [{"type": "filler", "date": "2026-11-01"}, {"type": "laser"}]}
    )
    _, said = run(ActionAskProcedureDate(), tracker, domain)
    assert said[0]["response"] == "utter_ask_recent_procedures_date"
    assert said[0]["procedure"] == "laser treatment"


def test_contact_details_are_found_in_free_text() -> None:
    assert split_contact("call me on +44 20 7946 0958 or ana@example.com") == (
        "+44 20 7946 0958",
        "ana@example.com",
    )
    assert split_contact("no idea") == (None, None)


def test_unusable_contact_details_are_asked_again(domain) -> None:
    form = ValidateContactForm()
    dispatcher = CollectingDispatcher()
    assert form.validate_contact_details("12", dispatcher, make_tracker({}), domain) == {
        "contact_details": None
    }
    assert dispatcher.messages[0]["response"] == "utter_contact_invalid"
    assert form.validate_contact_details(
        "ana@example.com", dispatcher, make_tracker({}), domain
    ) == {"contact_details": "ana@example.com"}
