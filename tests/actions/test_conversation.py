"""Consent, why-questions, answers about microneedling, start over, contact details."""

from __future__ import annotations

import asyncio
import copy

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.consent import HEALTH_SLOTS, consent_events, consent_version
from actions.contact import ValidateContactForm
from actions.conversation import (
    ActionAnswerFaq,
    ActionExplainQuestion,
    ActionHandleUnclear,
    ActionStartOver,
    ActionTakeOffer,
)
from actions.questions import AskQuestion
from needlecheck import runtime
from needlecheck.clinic import Clinic
from tests.actions.conftest import make_tracker, parse


def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return events, dispatcher.messages


def with_intent(tracker, intent):
    tracker.latest_message = {**tracker.latest_message, "intent": {"name": intent}}
    return tracker


def test_consent_records_the_answer_and_the_version_of_its_text(domain) -> None:
    slots = {e["name"]: e["value"] for e in consent_events("given", domain)}
    assert slots["health_data_consent"] == "given"
    assert slots["consent_version"] == consent_version(domain)
    assert slots["consent_at"]
    slots = {e["name"]: e["value"] for e in consent_events("declined", domain)}
    assert slots["health_data_consent"] == "declined"


def test_any_edit_of_the_consent_text_is_a_new_version(domain) -> None:
    edited = copy.deepcopy(domain)
    edited["responses"]["utter_ask_health_data_consent"][0]["text"] += " Edited."
    assert consent_version(edited) != consent_version(domain)
    assert consent_version(domain).startswith("sha256:")


def test_why_names_the_reason_for_the_question_asked(domain) -> None:
    _, said = run(ActionExplainQuestion(), make_tracker({}, "isotretinoin_last_dose"), domain)
    assert [m["response"] for m in said] == ["utter_why_isotretinoin_last_dose"]
    _, said = run(ActionExplainQuestion(), make_tracker({}, None, active=False), domain)
    assert [m["response"] for m in said] == ["utter_why_general"]


def test_each_question_about_microneedling_gets_its_answer(domain) -> None:
    # During the questions: the answer only, and the form asks its question again.
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "faq_downtime"), domain)
    assert [m["response"] for m in said] == ["utter_faq_downtime"]
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "faq_unknown_topic"), domain)
    assert [m["response"] for m in said] == ["utter_default"]


def test_outside_the_questions_an_answer_offers_the_next_step_that_fits(domain) -> None:
    def offer(slots):
        tracker = with_intent(make_tracker(slots, active=False), "faq_pain")
        _, said = run(ActionAnswerFaq(), tracker, domain)
        assert said[0]["response"] == "utter_faq_pain"
        return [m["response"] for m in said[1:]]

    assert offer({}) == ["utter_offer_screening"]
    assert offer({"health_data_consent": "given"}) == ["utter_offer_screening"]
    # Once there is a result, or the questions were declined: a contact request.
    assert offer({"screening_outcome": "eligible"}) == ["utter_offer_contact"]
    assert offer({"health_data_consent": "declined"}) == ["utter_offer_contact"]


def test_a_question_that_says_something_about_the_person_starts_the_questions(
    domain, fresh_services
) -> None:
    def answer(intent, text, slots):
        tracker = make_tracker(slots, active=False)
        tracker.latest_message = parse(text, intent)
        events, said = run(ActionAnswerFaq(), tracker, domain)
        followups = [e["name"] for e in events if e["event"] == "followup"]
        return [m.get("response") or m.get("text") for m in said], followups

    text = "I use tretinoin every night, can I still have it done?"
    # Answered, then the questions, consent first (no offer: they are what comes next).
    said, followups = answer("faq_products_after", text, {})
    assert said == ["utter_faq_products_after"]
    assert followups == ["screening_form"]
    said, followups = answer("faq_products_after", text, {"health_data_consent": "given"})
    assert followups == ["screening_form"]
    # Questions declined: the answer and the offer of a contact request only.
    said, followups = answer("faq_products_after", text, {"health_data_consent": "declined"})
    assert (said, followups) == (["utter_faq_products_after", "utter_offer_contact"], [])
    # A question about the clinic is followed by the offer, whatever else it says.
    said, followups = answer("clinic_price", "I have acne scars, how much is it?", {})
    assert said[-1] == "utter_offer_screening"
    assert followups == []


def test_why_outside_the_questions_about_the_person_starts_them(domain, fresh_services) -> None:
    tracker = make_tracker({"requested_slot": "age"}, active=False)
    tracker.latest_message = parse("I have diabetes, why would that matter?", "ask_why")
    events, said = run(ActionExplainQuestion(), tracker, domain)
    # No question is open: the general reason, not the last question's.
    assert [m["response"] for m in said] == ["utter_why_general"]
    assert [e["name"] for e in events if e["event"] == "followup"] == ["screening_form"]


@pytest.fixture
def clinic_file(tmp_path, monkeypatch):
    """The clinic's details from a file of the test's own (NEEDLECHECK_CLINIC)."""

    def use(text: str) -> None:
        path = tmp_path / "clinic.yml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("NEEDLECHECK_CLINIC", str(path))
        runtime.clinic.cache_clear()

    yield use
    runtime.clinic.cache_clear()


def test_a_clinic_question_is_answered_from_the_clinic_file(domain, clinic_file) -> None:
    clinic_file(
        "phone: 020 7946 0000\n"
        "answers:\n"
        "  clinic_booking:\n"
        "    text: 'Call us on {phone} to book.'\n"
        "    default: The clinic books consultations itself.\n"
        "  clinic_hours:\n"
        "    text: 'We are open {opening_hours}.'\n"
        "    default: The clinic will tell you its opening hours.\n"
    )
    tracker = with_intent(make_tracker({}, active=False), "clinic_booking")
    _, said = run(ActionAnswerFaq(), tracker, domain)
    assert said[0]["text"] == "Call us on 020 7946 0000 to book."
    assert said[1]["response"] == "utter_offer_screening"
    # No opening hours in the file: the default, which promises nothing.
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "clinic_hours"), domain)
    assert [m["text"] for m in said] == ["The clinic will tell you its opening hours."]
    # A topic the file does not answer: what the assistant can do.
    _, said = run(ActionAnswerFaq(), with_intent(make_tracker({}), "clinic_vouchers"), domain)
    assert [m["response"] for m in said] == ["utter_default"]


def test_the_shipped_clinic_file_answers_every_clinic_intent(domain) -> None:
    clinic = Clinic.load()
    for intent in (i for i in domain["intents"] if i.startswith("clinic_")):
        assert clinic.answer(intent), intent


def test_yes_to_the_offer_starts_what_was_offered(domain) -> None:
    def followup(slots):
        events, said = run(ActionTakeOffer(), make_tracker(slots, active=False), domain)
        assert said == []
        return [e["name"] for e in events if e["event"] == "followup"]

    assert followup({}) == ["screening_form"]
    assert followup({"health_data_consent": "given"}) == ["screening_form"]
    assert followup({"screening_outcome": "defer"}) == ["contact_form"]
    assert followup({"health_data_consent": "declined"}) == ["contact_form"]


def unclear(text: str, slots: dict):
    tracker = make_tracker(slots, active=False)
    tracker.latest_message = parse(text, "nlu_fallback", 0.3)
    return tracker


def test_an_unplaced_message_about_the_person_starts_the_questions(domain, fresh_services) -> None:
    events, said = run(ActionHandleUnclear(), unclear("got keloids and acne scars", {}), domain)
    assert said == []
    assert [e["name"] for e in events if e["event"] == "followup"] == ["screening_form"]
    given = unclear("got keloids and acne scars", {"health_data_consent": "given"})
    events, _ = run(ActionHandleUnclear(), given, domain)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["screening_form"]


def test_an_unplaced_message_otherwise_gets_what_the_assistant_can_do(
    domain, fresh_services
) -> None:
    events, said = run(ActionHandleUnclear(), unclear("purple monkey dishwasher", {}), domain)
    assert events == []
    assert [m["response"] for m in said] == ["utter_default"]
    # Questions declined: nothing about their health is taken up.
    declined = unclear("got keloids and acne scars", {"health_data_consent": "declined"})
    events, said = run(ActionHandleUnclear(), declined, domain)
    assert events == []
    assert [m["response"] for m in said] == ["utter_default"]


def test_declining_consent_forgets_what_was_said_about_health(domain) -> None:
    cleared = {e["name"] for e in consent_events("declined", domain) if e["value"] is None}
    assert set(HEALTH_SLOTS) <= cleared
    assert {"medications", "fact_notes", "pending_check", "question_state"} <= cleared
    assert not {e["name"] for e in consent_events("given", domain)} & set(HEALTH_SLOTS)


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
    action = next(
        cls() for cls in AskQuestion.__subclasses__() if cls.question == "recent_procedures_date"
    )
    assert action.name() == "action_ask_recent_procedures_date"
    _, said = run(action, tracker, domain)
    assert said[0]["response"] == "utter_ask_recent_procedures_date"
    assert said[0]["procedure"] == "laser treatment"


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


def after_the_offer(text: str, intent: str, slots: dict | None = None):
    tracker = make_tracker(slots or {}, active=False)
    tracker.latest_message = parse(text, intent, 0.9 if intent != "nlu_fallback" else 0.3)
    tracker.events = [
        {
            "event": "bot",
            "text": "Would you like me to check...?",
            "metadata": {"utter_action": "utter_offer_screening"},
        },
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": tracker.latest_message},
    ]
    return tracker


def test_a_yes_to_the_offer_the_classifier_missed_starts_the_questions(
    domain, fresh_services
) -> None:
    events, said = run(
        ActionHandleUnclear(), after_the_offer("ya go for it then", "nlu_fallback"), domain
    )
    assert said == []
    assert [e["name"] for e in events if e["event"] == "followup"] == ["screening_form"]
    events, said = run(
        ActionHandleUnclear(), after_the_offer("nah, another time", "nlu_fallback"), domain
    )
    assert [m["response"] for m in said] == ["utter_anything_else"]
    assert events == []


def test_a_yes_with_a_question_gets_the_answer_then_what_was_offered(
    domain, fresh_services
) -> None:
    tracker = after_the_offer("yep ok, and where are you based?", "clinic_location")
    events, said = run(ActionAnswerFaq(), tracker, domain)
    assert len(said) == 1  # the clinic's location, no second offer
    assert [e["name"] for e in events if e["event"] == "followup"] == ["screening_form"]
    # Without the offer just before, the same words are a question only.
    tracker.events = tracker.events[2:]
    events, said = run(ActionAnswerFaq(), tracker, domain)
    assert [e for e in events if e["event"] == "followup"] == []
