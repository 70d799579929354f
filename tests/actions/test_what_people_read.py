"""The words a person receives, rendered as the Rasa server renders them (issue: safety
wording): urgent advice with the clinic's emergency number, preparation only where it fits
the result, each deferral with its own date, disputed rules worded as precautions."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.assessment import ActionAssessScreening
from actions.questions import PROCEDURE_NAMES
from needlecheck import runtime
from needlecheck.clinic import Clinic
from needlecheck.screening.policy import default_policy
from needlecheck.store.migrate import upgrade
from tests.actions.conftest import make_tracker, received
from tests.screening.test_engine import CLEAR

CONSENT = {"health_data_consent": "given", "consent_version": "sha256:abc"}


def result(domain, slots, clinic: Clinic | None = None) -> str:
    """The whole result, as one text, for a screening with these facts."""
    upgrade(runtime.services().settings.database_url)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**CONSENT, **slots}, active=False)
    asyncio.run(ActionAssessScreening().run(dispatcher, tracker, domain))
    return "\n".join(received(dispatcher.messages, domain, clinic=clinic))


def clinic_with(tmp_path: Path, details: str) -> Clinic:
    path = tmp_path / "clinic.yml"
    path.write_text(details, encoding="utf-8")
    return Clinic.load(path)


def test_urgent_advice_names_the_clinics_emergency_number_and_nothing_dilutes_it(
    fresh_services, domain, tmp_path
) -> None:
    text = result(domain, {**CLEAR, "red_flags": ["allergic_reaction"]})
    assert "call 999 now" in text
    assert "does not clear you for treatment" not in text
    assert "Would you like the clinic to contact you" not in text
    # Another country's clinic: its own number, everywhere.
    text = result(
        domain,
        {**CLEAR, "red_flags": ["infection_signs"]},
        clinic_with(tmp_path, 'emergency_number: "112"\n'),
    )
    assert "call 112 now" in text
    assert "999" not in text


def test_every_text_that_sends_a_person_to_emergency_services_names_the_number(domain) -> None:
    clinic = Clinic.load()
    for name in domain["responses"]:
        for text in received([{"response": name}], domain, clinic=clinic):
            if "emergenc" in text.lower():
                assert "call 999" in text, name
    # The texts a person gets when something fails, or when the assistant cannot help.
    for name in (
        "utter_service_unavailable",
        "utter_action_unavailable",
        "utter_out_of_scope",
        "utter_handoff_unavailable",
        "utter_contact_unavailable",
        "utter_handoff_requested",
        "utter_screening_error",
        "utter_why_red_flags",
        "utter_which_red_flag",
        "utter_outcome_urgent_care",
    ):
        (text,) = received([{"response": name}], domain, clinic=clinic)
        assert "call 999" in text, name
        assert "{" not in text, name


def test_a_swollen_throat_is_told_to_call_now_not_to_see_a_doctor_today(domain) -> None:
    (why,) = received([{"response": "utter_why_red_flags"}], domain)
    swelling = why[why.index("Swelling") :]
    assert "call 999 now" in swelling
    assert "doctor today" not in swelling


def test_call_the_clinic_names_its_phone_and_hours_when_the_file_has_them(domain, tmp_path) -> None:
    clinic = clinic_with(
        tmp_path,
        'phone: "020 7946 0000"\nopening_hours: Monday to Friday 9am to 6pm\n'
        'emergency_number: "999"\n',
    )
    (text,) = received([{"response": "utter_handoff_unavailable"}], domain, clinic=clinic)
    assert "call the clinic on 020 7946 0000 (Monday to Friday 9am to 6pm) directly" in text
    # Without a phone in the file: no number is made up.
    (text,) = received([{"response": "utter_handoff_unavailable"}], domain, clinic=Clinic())
    assert "contact the clinic directly" in text
    assert "call your local emergency number" in text


def test_no_preparation_steps_under_a_no(fresh_services, domain) -> None:
    text = result(
        domain, {**CLEAR, "conditions": ["skin_cancer_in_area"], "topical_products": ["retinoid"]}
    )
    assert "not recommended" in text
    assert "Before your treatment" not in text
    assert "Stop retinoid" not in text


def test_preparation_is_plain_after_a_yes_and_conditional_before_one(
    fresh_services, domain
) -> None:
    text = result(domain, {**CLEAR, "topical_products": ["retinoid"]})
    assert "Before your treatment:\n• Stop retinoid products" in text
    for slots in (
        {"conditions": ["diabetes"]},
        {"active_skin_issues": ["sunburn"]},
    ):
        text = result(domain, {**CLEAR, "topical_products": ["exfoliating_acid"], **slots})
        assert "If the consultation goes ahead, then before your treatment:\n• Stop" in text


def test_a_prescribed_product_or_medicine_is_never_stopped_without_the_prescriber(
    fresh_services, domain
) -> None:
    text = result(domain, {**CLEAR, "topical_products": ["retinoid", "exfoliating_acid"]})
    assert text.count("If a doctor prescribed one, ask them first.") == 2
    text = result(domain, {**CLEAR, "medications": ["immunosuppressant"]})
    assert "Never stop a prescribed medicine (such as prednisone" in text


def test_each_deferral_keeps_its_own_date_or_condition(fresh_services, domain) -> None:
    # Isotretinoin stopped on 20 June 2026 (until 20 December) and sunburn now (no date).
    text = result(
        domain,
        {
            **CLEAR,
            "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
            "active_skin_issues": ["sunburn"],
        },
    )
    assert "each point below says until when" in text
    assert "For this, the earliest date is 20 December 2026." in text
    assert "Sunburnt skin has to heal completely" in text


def test_the_widget_card_says_the_same(fresh_services, domain) -> None:
    upgrade(runtime.services().settings.database_url)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {
            **CONSENT,
            **CLEAR,
            "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
            "active_skin_issues": ["sunburn"],
            "topical_products": ["retinoid"],
        },
        active=False,
    )
    tracker.events = [{"event": "user", "text": "…", "input_channel": "socketio"}]
    asyncio.run(ActionAssessScreening().run(dispatcher, tracker, domain))
    card = dispatcher.messages[0]["custom"]
    assert any("20 December 2026" in reason for reason in card["reasons"])
    assert card["next_steps_title"] == "If the consultation goes ahead, then before your treatment:"
    urgent = CollectingDispatcher()
    tracker = make_tracker({**CONSENT, **CLEAR, "red_flags": ["allergic_reaction"]}, active=False)
    tracker.events = [{"event": "user", "text": "…", "input_channel": "socketio"}]
    asyncio.run(ActionAssessScreening().run(urgent, tracker, domain))
    card = urgent.messages[0]["custom"]
    assert "call 999 now" in card["summary"]
    assert card["disclaimer"] == ""


def test_disputed_rules_are_worded_as_a_precaution() -> None:
    disputed = [
        rule
        for rule in default_policy().rules
        if re.search(r"disputed|no authoritative source", rule.source)
    ]
    assert {rule.id for rule in disputed} >= {"DF-ISOTRETINOIN", "EX-KELOID", "DF-INJECTABLES"}
    for rule in disputed:
        assert "as a precaution this clinic" in rule.reason, rule.id


def test_the_red_flag_question_counts_each_sign_on_its_own(domain) -> None:
    (question,) = received([{"response": "utter_ask_red_flags"}], domain)
    assert "any one of these" in question
    for sign in (
        "A fever.",
        "spreading.",
        "Pus.",
        "Severe pain in the skin.",
        "Trouble breathing.",
    ):
        assert sign in question
    assert "Fever with" not in question


def test_the_cancer_question_and_its_reason_speak_of_the_same_thing(domain) -> None:
    (question,) = received([{"response": "utter_ask_conditions_skin"}], domain)
    assert "Skin cancer in the area that is there now or not yet treated" in question
    reason = default_policy().rule("EX-SKIN-CANCER").reason
    assert "has not been treated yet" in reason


def test_results_promise_nothing(domain) -> None:
    (eligible,) = received([{"response": "utter_outcome_eligible"}], domain)
    assert "decide with you in person" in eligible
    assert "confirm in person" not in eligible
    (what,) = received([{"response": "utter_faq_what_is"}], domain)
    assert "can make it firmer and smoother" in what


@pytest.mark.parametrize(
    "button",
    [
        b
        for b in __import__("yaml").safe_load(
            (Path(__file__).parents[2] / "domain.yml").read_text("utf-8")
        )["responses"]["utter_ask_recent_procedures"][0]["buttons"]
        if b["payload"] != "/deny"
    ],
    ids=lambda b: b["title"],
)
def test_the_date_question_names_the_procedure_the_button_named(button) -> None:
    (kind,) = re.findall(r'\["(\w+)"\]', button["payload"])
    asked = PROCEDURE_NAMES[kind].lower()
    assert button["title"].lower().rstrip("s") in asked


def test_dark_marks_after_injuries_are_told_to_the_person_not_only_to_staff(
    fresh_services, domain
) -> None:
    text = result(domain, {**CLEAR, "conditions": ["pigmentation_history"]})
    assert "You mentioned dark marks after injuries" in text
    assert "Staff:" not in text
    # A note with no words for the person stays with the staff.
    text = result(domain, {**CLEAR, "age": 19})
    assert "FDA" not in text and "Staff:" not in text


def test_new_answers_about_aftercare_name_the_warning_signs_and_agree(domain) -> None:
    (aftercare,) = received([{"response": "utter_faq_aftercare"}], domain)
    (warnings,) = received([{"response": "utter_faq_warning_signs"}], domain)
    (downtime,) = received([{"response": "utter_faq_downtime"}], domain)
    (sun,) = received([{"response": "utter_faq_sun_protection"}], domain)
    for text in (aftercare, warnings):
        assert "pus" in text and "fever" in text and "call 999 now" in text
    # Back to everyday life the next day, but no exercise for a day or two, in both.
    assert "heavy exercise" in downtime and "heavy exercise" in aftercare
    assert "normal activities the next day" not in downtime
    # Sunscreen from the day after treatment, in both.
    assert "from the day after treatment" in aftercare
    assert "From the day after treatment" in sun


def test_the_consent_question_says_what_is_kept_for_how_long_and_how_to_delete(domain) -> None:
    (consent,) = received([{"response": "utter_ask_health_data_consent"}], domain)
    assert "The whole conversation is kept, not only your answers, for 365 days" in consent
    assert "delete button" in consent and "send DELETE" in consent
    (declined,) = received([{"response": "utter_consent_declined"}], domain)
    # A decline keeps nothing about health in the clinic's records; the chat itself is
    # kept like any other, and the text says so instead of "I won't keep any".
    assert "won't ask health questions or keep any" not in declined
    assert "kept for 365 days unless you delete it" in declined
    (privacy,) = received([{"response": "utter_faq_privacy"}], domain)
    assert "that service also carries your messages" in privacy


def test_the_consent_version_follows_the_retention_it_promises(domain) -> None:
    from actions.consent import consent_version

    year = consent_version(domain, values={"retention_days": "365"})
    assert consent_version(domain, values={"retention_days": "90"}) != year
