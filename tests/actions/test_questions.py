"""action_ask_<question>: the question, then other words, then its options with a person;
a front-desk record at the third unclear answer; checks of an answer with the person."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.names import QUESTIONS
from actions.questions import PERSON_BUTTON, AskQuestion
from needlecheck import runtime
from needlecheck.clinic import Clinic
from needlecheck.screening import assess
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import FunnelEvent, HandoffRequest
from needlecheck.store.repository import save_screening
from tests.actions.conftest import TODAY, make_tracker, received

ASK = {cls.question: cls for cls in AskQuestion.__subclasses__()}


def test_every_question_has_its_ask_action() -> None:
    assert set(ASK) == set(QUESTIONS)
    assert {ASK[q]().name() for q in QUESTIONS} == {f"action_ask_{q}" for q in QUESTIONS}


def ask(
    question: str, domain, state: dict | None = None, slots: dict | None = None, events=()
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the ask action once; returns what it said and the question state it left."""
    tracker = make_tracker({**(slots or {}), "question_state": state}, question)
    tracker.events = list(events)
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ASK[question]().run(dispatcher, tracker, domain))
    (event,) = result
    assert event["name"] == "question_state"
    return dispatcher.messages, event["value"]


def unclear_answer(state: dict) -> dict:
    """What the form's validation leaves after an unclear answer (actions/screening_form.py)."""
    return {**state, "unclear": state["unclear"] + 1, "last_unclear": True}


def interjection(state: dict) -> dict:
    """What it leaves when the message was for another purpose (an FAQ, "why?")."""
    return {**state, "last_unclear": False}


def responses(said: list[dict[str, Any]]) -> list[str | None]:
    return [m.get("response") for m in said]


def test_asked_again_in_a_row_the_question_changes_its_words(domain) -> None:
    said, state = ask("treatment_area", domain)
    assert responses(said) == ["utter_ask_treatment_area"]
    assert state == {"question": "treatment_area", "asked": 1, "unclear": 0, "variant": 0}

    said, state = ask("treatment_area", domain, unclear_answer(state))
    assert responses(said) == ["utter_rephrase_treatment_area"]
    # The rephrasing has no buttons of its own: the question's come with it, as payloads.
    (rephrased,) = said
    assert rephrased["buttons"][0] == {
        "title": "Face",
        "payload": '/inform{"treatment_area": ["face"]}',
    }

    said, state = ask("treatment_area", domain, unclear_answer(state))
    assert responses(said) == ["utter_options"]
    buttons = said[0]["buttons"]
    areas = ["Face", "Neck", "Chest", "Hands", "Body", "Scalp"]
    assert [b["title"] for b in buttons] == [*areas, "Talk to a person"]
    assert buttons[-1] == PERSON_BUTTON
    assert PERSON_BUTTON == {"title": "Talk to a person", "payload": "/request_handoff"}

    # Back from an interjection (not a third unclear answer): the question itself, then, if
    # it comes back again, in other words; never "I still didn't get that".
    said, state = ask("treatment_area", domain, interjection(state))
    assert responses(said) == ["utter_ask_treatment_area"]
    assert state["asked"] == 4 and state["unclear"] == 2
    said, state = ask("treatment_area", domain, interjection(state))
    assert responses(said) == ["utter_rephrase_treatment_area"]


def test_a_new_question_starts_from_its_own_words(domain) -> None:
    old = {"question": "age", "asked": 2, "unclear": 2}
    said, state = ask("skin_concerns", domain, old)
    assert responses(said) == ["utter_ask_skin_concerns"]
    assert state == {"question": "skin_concerns", "asked": 1, "unclear": 0, "variant": 0}


def test_a_rephrasing_with_its_own_buttons_keeps_them(domain) -> None:
    said, _ = ask(
        "red_flags",
        domain,
        {"question": "red_flags", "asked": 1, "unclear": 1, "last_unclear": True},
    )
    assert responses(said) == ["utter_rephrase_red_flags"]
    # The domain's own buttons are sent with the response; none are added.
    assert said[0]["buttons"] == []


def test_a_typed_question_offers_what_to_type_and_its_short_answers(domain) -> None:
    said, _ = ask(
        "isotretinoin_last_dose",
        domain,
        {"question": "isotretinoin_last_dose", "asked": 2, "unclear": 2, "last_unclear": True},
        {"isotretinoin": {"status": "past"}},
    )
    assert responses(said) == ["utter_options_typed"]
    assert said[0]["what"] == 'a month and year, for example "March 2025"'
    assert [b["title"] for b in said[0]["buttons"]] == [
        "I don't know",
        "I still take it",
        "Talk to a person",
    ]
    said, _ = ask(
        "age", domain, {"question": "age", "asked": 2, "unclear": 2, "last_unclear": True}
    )
    assert said[0]["what"] == "your age as a number, for example 34"
    assert said[0]["buttons"] == [PERSON_BUTTON]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_question_has_all_three_wordings(question, domain) -> None:
    state = None
    slots = {"recent_procedures": [{"type": "laser", "date": None}]}
    for _ in range(3):
        said, state = ask(question, domain, state, slots)
        for response in responses(said):
            assert response in domain["responses"], response
        state = unclear_answer(state)


CONVERSATION = [
    {"event": "bot", "text": "How old are you?", "timestamp": 1764583200.0},
    {"event": "user", "text": "old enough lol", "timestamp": 1764583210.0},
    {"event": "bot", "text": "Sorry, I didn't catch your age.", "timestamp": 1764583211.0},
    {"event": "user", "text": "why", "timestamp": 1764583220.0},
]


def handoffs() -> list[HandoffRequest]:
    with runtime.services().sessions() as session:
        return session.execute(select(HandoffRequest)).scalars().all()


def test_the_third_unclear_answer_asks_the_front_desk_once(domain, fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    # A corrected answer after an earlier result: the record names that screening.
    with runtime.services().sessions.begin() as session:
        earlier = save_screening(
            session,
            conversation_id="test-conversation",
            channel="rest",
            assessment=assess({"age": 30}, TODAY),
            consent_text_version="sha256:test",
        ).id
    state = {"question": "age", "asked": 3, "unclear": 3}
    slots = {"screening_id": float(earlier)}
    said, state = ask("age", domain, state, slots, CONVERSATION)
    assert responses(said) == ["utter_offer_person", "utter_ask_age"]
    assert state["person"] is True
    (record,) = handoffs()
    assert record.conversation_id == "test-conversation"
    assert record.reason.startswith("needs a person: 3 answers to the age question")
    assert record.screening_id == earlier
    assert record.status == "open"
    # The conversation that led to it, for whoever takes over.
    assert [(line["speaker"], line["text"]) for line in record.transcript] == [
        ("assistant", "How old are you?"),
        ("person", "old enough lol"),
        ("assistant", "Sorry, I didn't catch your age."),
        ("person", "why"),
    ]
    assert record.transcript[1]["at"].startswith("2025-12-01T10:00:10")
    # A fourth unclear answer: asked another way, but no second record.
    said, state = ask("age", domain, unclear_answer(state), events=CONVERSATION)
    assert responses(said) == ["utter_rephrase_age"]
    assert len(handoffs()) == 1


def test_while_the_clinic_is_closed_the_offer_is_a_call_back(
    domain, fresh_services, monkeypatch, tmp_path, request
) -> None:
    """Nobody can talk now on a Sunday: the front desk still gets the record, and the
    person is offered a call back rather than "talk to a person now"."""
    path = tmp_path / "clinic.yml"
    path.write_text(
        "name: Riverside Skin Clinic\nopening_hours: Monday to Friday 9am to 6pm\n"
        "hours:\n  monday: {open: '09:00', close: '18:00'}\n"
    )
    monkeypatch.setenv("NEEDLECHECK_CLINIC", str(path))
    monkeypatch.setenv("NEEDLECHECK_TIMEZONE", "Europe/London")
    runtime.services.cache_clear()
    runtime.clinic.cache_clear()
    request.addfinalizer(runtime.clinic.cache_clear)
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(
        type(runtime.services().settings), "clinic_time", lambda self, now_=None: sunday
    )
    upgrade(runtime.services().settings.database_url)
    said, state = ask("age", domain, {"question": "age", "asked": 3, "unclear": 3})
    assert responses(said) == ["utter_offer_person_closed", "utter_ask_age"]
    assert state["person"] is True
    assert len(handoffs()) == 1
    (offer, _) = received(said, domain, clinic=Clinic.load(path))
    assert "The clinic is closed now. Our opening hours are Monday to Friday 9am to 6pm." in offer
    assert "talk to a person now" not in offer
    # The button asks for a call back: the handoff action makes it the contact form.
    (response,) = domain["responses"]["utter_offer_person_closed"]
    assert response["buttons"] == [{"title": "Ask for a call back", "payload": "/request_handoff"}]


def test_fewer_unclear_answers_ask_nobody(domain, fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    for unclear in range(3):
        state = {"question": "age", "asked": unclear + 1, "unclear": unclear}
        said, _ = ask("age", domain, state, events=CONVERSATION)
        assert "utter_offer_person" not in responses(said)
    assert handoffs() == []


def test_a_front_desk_out_of_reach_is_not_claimed(domain, fresh_services, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    runtime.services.cache_clear()
    said, state = ask("age", domain, {"question": "age", "asked": 3, "unclear": 3})
    assert responses(said) == ["utter_handoff_unavailable", "utter_ask_age"]
    # Not marked as done: the next unclear answer tries again.
    assert not state.get("person")


def render(domain, message: dict[str, Any]) -> str:
    text = domain["responses"][message["response"]][0]["text"]
    return text.format(**{k: v for k, v in message.items() if isinstance(v, str)})


def test_a_contradiction_is_checked_in_plain_words(domain) -> None:
    check = {"fact": "medications", "kind": "contradiction", "value": "anticoagulant"}
    said, _ = ask("medications", domain, None, {"pending_check": check})
    assert responses(said) == ["utter_check_contradiction"]
    assert render(domain, said[0]) == (
        "Earlier you said you take no blood thinners or medicines that lower the immune "
        "system, but you've just mentioned a blood thinner. Is that right?"
    )
    check = {"fact": "recent_procedures", "kind": "contradiction", "value": "neurotoxin"}
    said, _ = ask("recent_procedures", domain, None, {"pending_check": check})
    assert render(domain, said[0]) == (
        "Earlier you said you had no recent procedures, but you've just mentioned Botox (or "
        "similar) injection. Is that right?"
    )


def test_an_item_called_other_is_named_for_its_question(domain) -> None:
    # Found talking to the assistant: "Earlier you mentioned other, so I've kept that".
    check = {"fact": "topical_products", "kind": "volunteered", "value": "other"}
    said, _ = ask("topical_products", domain, None, {"pending_check": check})
    assert render(domain, said[0]) == (
        "Earlier you mentioned another skin product, so I've kept that in your answers. "
        "Is that right?"
    )
    check = {"fact": "skin_concerns", "kind": "contradiction", "value": "other"}
    said, _ = ask("skin_concerns", domain, None, {"pending_check": check})
    assert "you've just mentioned another change to your skin." in render(domain, said[0])


def test_an_unknown_medicine_is_asked_about_by_its_name(domain) -> None:
    check = {"fact": "medications", "kind": "medicine", "value": "zolmitriptan"}
    said, _ = ask("medications", domain, None, {"pending_check": check})
    assert responses(said) == ["utter_check_medicine"]
    assert render(domain, said[0]) == (
        'I don\'t know "zolmitriptan". Is it a blood thinner, or a medicine that lowers the '
        "immune system?"
    )


def test_a_check_of_another_question_does_not_replace_this_one(domain) -> None:
    check = {"fact": "medications", "kind": "medicine", "value": "zolmitriptan"}
    said, _ = ask("allergies", domain, None, {"pending_check": check})
    assert responses(said) == ["utter_ask_allergies"]


# --- asked as the person sees it: in parts, or in the words for a minor ------------------


def test_the_conditions_question_is_asked_in_two_parts_each_with_its_own_count(domain) -> None:
    said, state = ask("conditions", domain)
    assert responses(said) == ["utter_ask_conditions_skin"]
    said, state = ask("conditions", domain, unclear_answer(state))
    assert responses(said) == ["utter_rephrase_conditions_skin"]
    # The skin part answered: the health part starts afresh, as itself.
    said, state = ask("conditions", domain, state, {"answered_facts": ["conditions_skin"]})
    assert responses(said) == ["utter_ask_conditions_health"]
    assert state["question"] == "conditions_health"
    assert state["unclear"] == 0
    said, _ = ask(
        "conditions",
        domain,
        unclear_answer(unclear_answer(state)),
        {"answered_facts": ["conditions_skin"]},
    )
    titles = [b["title"] for b in said[0]["buttons"]]
    assert "Diabetes" in titles and "Cold sores" not in titles


def test_someone_under_the_adult_age_is_asked_for_consent_in_their_own_words(domain) -> None:
    said, state = ask("health_data_consent", domain, slots={"age": 16})
    assert responses(said) == ["utter_ask_health_data_consent_minor"]
    assert state["question"] == "health_data_consent_minor"
    said, _ = ask("health_data_consent", domain, slots={"age": 18})
    assert responses(said) == ["utter_ask_health_data_consent"]


def test_the_first_time_a_question_is_put_is_a_funnel_step(domain, fresh_services) -> None:
    """The overview's funnel (needlecheck.store.funnel): the consent question starts a
    screening, every other question is reached; put again, nothing new is stored, and
    only a keyed digest of the conversation is kept."""
    upgrade(runtime.services().settings.database_url)
    ask("health_data_consent", domain)
    state = {"question": "health_data_consent", "asked": 1, "unclear": 1}
    ask("health_data_consent", domain, state)
    ask("age", domain)
    ask("age", domain)
    with runtime.services().sessions.begin() as session:
        rows = session.execute(select(FunnelEvent)).scalars().all()
        assert sorted(row.stage for row in rows) == ["question:age", "started"]
        assert all(row.conversation_digest.startswith("hmac:") for row in rows)


def test_handed_back_by_staff_the_open_question_is_asked_as_itself(domain) -> None:
    """Asked once, then a takeover: the person talked with staff, and was not
    misunderstood, so the question comes back in its own words, not "Sorry, I didn't
    catch..."; asked again after that, the usual rephrasing resumes."""
    said, state = ask("age", domain)
    assert responses(said) == ["utter_ask_age"]
    takeover = [
        {"event": "bot", "text": "How old are you?"},
        {"event": "pause"},
        {"event": "user", "text": "can someone call me about the price"},
        {"event": "bot", "text": "Hi, I'm Sam from the front desk.", "metadata": {}},
        {"event": "resume"},
        {"event": "user", "text": None, "parse_data": {"intent": {"name": "start_screening"}}},
        {"event": "action", "name": "screening_form"},
    ]
    said, state = ask("age", domain, state, events=takeover)
    assert responses(said) == ["utter_ask_age"]
    asked_again = [*takeover, {"event": "bot", "text": "How old are you?"}]
    said, state = ask("age", domain, state, events=asked_again)
    assert responses(said) == ["utter_rephrase_age"]
