"""ActionAssessScreening: engine, storage and explanation, with a real database."""

from __future__ import annotations

import asyncio
from datetime import date

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from actions.assessment import ActionAssessScreening
from needlecheck import runtime
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import Screening
from tests.actions.conftest import ROOT, make_tracker
from tests.screening.test_engine import CLEAR

CONSENT = {
    "health_data_consent": "given",
    "consent_version": "sha256:abc",
    "consent_at": "2026-11-27T09:00:00+00:00",
}


def run_action(slots, consent=CONSENT):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**consent, **slots}, active=False)
    events = asyncio.run(ActionAssessScreening().run(dispatcher, tracker, {}))
    return events, dispatcher.messages


def stored_screenings():
    with runtime.services().sessions() as session:
        statement = select(Screening).options(selectinload(Screening.findings))
        return session.execute(statement).scalars().all()


def test_a_complete_screening_is_assessed_stored_and_explained(fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    slots = {**CLEAR, "conditions": ["diabetes"], "topical_products": ["retinoid"]}
    events, messages = run_action(slots)
    (screening,) = stored_screenings()
    assert {e["name"]: e["value"] for e in events} == {
        "screening_outcome": "clinician_review",
        "screening_rules": ["RV-DIABETES", "PR-RETINOID"],
        "screening_id": screening.id,
    }
    responses = [m["response"] for m in messages]
    assert responses == [
        "utter_outcome_clinician_review",
        "utter_reasons",
        "utter_preparation_if_treated",
        "utter_not_a_diagnosis",
        "utter_offer_next_step",
    ]
    assert "Diabetes" in messages[1]["reasons"]
    assert "5 days" in messages[2]["steps"]
    assert screening.conversation_id == "test-conversation"
    assert screening.outcome == "clinician_review"
    assert screening.consent_text_version == "sha256:abc"
    assert screening.consent_at.isoformat().startswith("2026-11-27T09:00:00")


def test_without_consent_the_result_is_given_but_nothing_is_stored(fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    events, messages = run_action({"red_flags": ["allergic_reaction"]}, consent={})
    assert stored_screenings() == []
    assert {e["name"]: e["value"] for e in events}["screening_outcome"] == "urgent_care"
    responses = [m["response"] for m in messages]
    # Urgent care: no offer to book and no disclaimer to dilute it, only the advice.
    assert responses == ["utter_outcome_urgent_care", "utter_reasons"]


def test_questions_ended_by_a_no_to_consent_give_information_not_a_result(
    fresh_services,
) -> None:
    upgrade(runtime.services().settings.database_url)
    events, messages = run_action({}, consent={"health_data_consent": "declined"})
    assert [m["response"] for m in messages] == ["utter_consent_declined"]
    assert events == []
    assert stored_screenings() == []
    # A red flag still gets the urgent advice, consent or not.
    events, _ = run_action(
        {"red_flags": ["allergic_reaction"]}, consent={"health_data_consent": "declined"}
    )
    assert {e["name"]: e["value"] for e in events}["screening_outcome"] == "urgent_care"
    assert stored_screenings() == []


def test_staff_notes_are_not_shown_to_the_person(fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    _, messages = run_action({**CLEAR, "age": 19, "conditions": ["pigmentation_history"]})
    assert [m["response"] for m in messages] == [
        "utter_outcome_eligible",
        "utter_not_a_diagnosis",
        "utter_offer_next_step",
    ]
    (screening,) = stored_screenings()
    assert [f.rule_id for f in screening.findings] == ["NT-PIGMENTATION", "NT-AGE-UNDER-22"]


def test_names_outside_the_lists_are_kept_with_the_screening_for_the_staff(
    fresh_services,
) -> None:
    upgrade(runtime.services().settings.database_url)
    notes = {"medications": ["the pill"], "allergies": ["hay fever"]}
    _, messages = run_action({**CLEAR, "fact_notes": notes})
    (screening,) = stored_screenings()
    assert screening.notes == notes
    assert screening.outcome == "eligible"
    # For the consultation, not part of the person's result.
    assert "the pill" not in repr(messages)
    run_action({**CLEAR})
    assert [s.notes for s in stored_screenings()] == [notes, None]


def test_a_dated_deferral_names_the_earliest_date(fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    # Today is 27 November 2026 (NEEDLECHECK_TODAY); the policy waits 6 months.
    assert runtime.services().settings.today() == date(2026, 11, 27)
    slots = {**CLEAR, "isotretinoin": {"status": "past", "last_dose": "2026-11-01"}}
    _, messages = run_action(slots)
    assert messages[0]["response"] == "utter_outcome_defer_dated"
    assert messages[0]["earliest_date"] == "1 May 2027"


def test_a_database_that_is_down_still_gives_the_result(fresh_services, monkeypatch) -> None:
    import actions.assessment as assessment

    monkeypatch.setattr(assessment, "STORE_RETRY_DELAYS", (0.01,))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    runtime.services.cache_clear()
    events, messages = run_action({**CLEAR})
    responses = [m["response"] for m in messages]
    assert responses[0] == "utter_storage_unavailable"
    assert "utter_outcome_eligible" in responses
    assert {e["name"]: e["value"] for e in events}["screening_outcome"] == "eligible"


def test_facts_that_fail_validation_give_no_outcome(fresh_services) -> None:
    events, messages = run_action({**CLEAR, "age": "old"})
    assert events == []
    assert [m["response"] for m in messages] == ["utter_screening_error"]


def test_unanswered_questions_are_never_eligible(fresh_services) -> None:
    upgrade(runtime.services().settings.database_url)
    events, messages = run_action({"red_flags": [], "age": 40})
    assert {e["name"]: e["value"] for e in events}["screening_outcome"] is None
    assert messages[0]["response"] == "utter_outcome_incomplete"


def test_the_clinic_policy_from_the_environment_applies_and_is_recorded(
    fresh_services, monkeypatch
) -> None:
    example = ROOT / "examples" / "clinic-policy.yml"
    monkeypatch.setenv("NEEDLECHECK_POLICY", str(example))
    runtime.services.cache_clear()
    upgrade(runtime.services().settings.database_url)
    events, _ = run_action({**CLEAR, "conditions": ["keloid_history"]})
    assert {e["name"]: e["value"] for e in events}["screening_outcome"] == "clinician_review"
    (screening,) = stored_screenings()
    assert (screening.policy_name, screening.policy_version) == ("Riverside Skin Clinic", "2026-11")


def channel_tracker(channel: str, slots: dict, metadata: dict | None = None):
    tracker = make_tracker({**CONSENT, **slots}, active=False)
    tracker.events = [{"event": "user", "text": "…", "input_channel": channel}]
    tracker.latest_message = {**tracker.latest_message, "metadata": metadata or {}}
    return tracker


def test_the_website_widget_gets_the_result_as_one_card(fresh_services, domain) -> None:
    upgrade(runtime.services().settings.database_url)
    slots = {**CLEAR, "conditions": ["diabetes"], "topical_products": ["retinoid"]}
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAssessScreening().run(dispatcher, channel_tracker("socketio", slots), domain))
    card = dispatcher.messages[0]["custom"]
    assert card["type"] == "recommendation"
    assert card["outcome"] == "clinician_review"
    assert card["title"] == "A medical professional should review your history"
    assert card["summary"].startswith("Based on your answers, please book a consultation")
    assert any("Diabetes" in reason for reason in card["reasons"])
    assert any("5 days" in step for step in card["next_steps"])
    assert "does not clear you for treatment" in card["disclaimer"]
    assert [m["response"] for m in dispatcher.messages[1:]] == ["utter_offer_next_step"]
    (screening,) = stored_screenings()
    assert (screening.channel, screening.taken_by) == ("web", None)


def test_a_dated_deferral_card_names_the_earliest_date(fresh_services, domain) -> None:
    upgrade(runtime.services().settings.database_url)
    slots = {**CLEAR, "isotretinoin": {"status": "past", "last_dose": "2026-09-27"}}
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAssessScreening().run(dispatcher, channel_tracker("socketio", slots), domain))
    card = dispatcher.messages[0]["custom"]
    earliest = "27 March 2027"  # six months after the last dose
    assert card["earliest_date"] == earliest
    assert earliest in card["summary"] and "{earliest_date}" not in card["summary"]


def test_a_caller_screening_records_the_staff_member_only_from_the_caller_channel(
    fresh_services, domain
) -> None:
    upgrade(runtime.services().settings.database_url)
    for channel in ("frontdesk", "socketio", "rest"):
        tracker = channel_tracker(channel, CLEAR, metadata={"staff": "rita"})
        tracker.sender_id = f"conversation-{channel}"
        asyncio.run(ActionAssessScreening().run(CollectingDispatcher(), tracker, domain))
    stored = {s.conversation_id: (s.channel, s.taken_by) for s in stored_screenings()}
    assert stored == {
        "conversation-frontdesk": ("frontdesk", "rita"),
        "conversation-socketio": ("web", None),
        "conversation-rest": ("rest", None),
    }


def events_tracker(events: list[dict]) -> Tracker:
    return Tracker("conv-key", {}, {}, events, False, None, {}, "action_listen")


def _event(kind: str, at: float, **fields: object) -> dict:
    return {"event": kind, "timestamp": at, **fields}


SESSION = [
    _event("action", 1.0, name="action_session_start"),
    _event("session_started", 1.1),
    _event("action", 1.2, name="action_listen"),
    _event("user", 2.0, text="hi"),
]


def test_a_screening_redone_after_a_failure_has_the_same_key() -> None:
    from actions.assessment import screening_key

    first = screening_key(events_tracker(SESSION))
    # The failed turn was undone (`rewind`) and sent again: same run, same count.
    redone = [
        *SESSION,
        _event("action", 2.1, name="screening_form"),
        _event("rewind", 2.2),
        _event("user", 3.0, text="no"),
    ]
    assert screening_key(events_tracker(redone)) == first == "conv-key@1.0#0"


def test_a_corrected_answer_or_a_new_session_gives_a_new_key() -> None:
    from actions.assessment import screening_key

    after_a_result = [*SESSION, _event("action", 2.5, name="action_assess_screening")]
    assert screening_key(events_tracker(after_a_result)) == "conv-key@1.0#1"
    restarted = [*after_a_result, _event("restart", 5.0), _event("user", 5.1, text="hi")]
    assert screening_key(events_tracker(restarted)) == "conv-key@5.1#0"
    assert screening_key(events_tracker([])) is None


def test_a_lost_database_connection_is_retried(fresh_services, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    import actions.assessment as assessment

    calls: list[int] = []
    real_store = assessment._store

    def flaky(*args: object) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_store(*args)

    upgrade(runtime.services().settings.database_url)
    monkeypatch.setattr(assessment, "_store", flaky)
    monkeypatch.setattr(assessment, "STORE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    events, _ = run_action({**CLEAR})
    assert len(calls) == 3
    assert {e["name"]: e["value"] for e in events}["screening_id"] is not None
    assert len(stored_screenings()) == 1
