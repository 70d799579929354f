"""ScreeningFactExtractor inside Rasa: entities, roles and the red-flag intent."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from needlecheck.nlu.component import ScreeningFactExtractor


@pytest.fixture(scope="module")
def component() -> ScreeningFactExtractor:
    return ScreeningFactExtractor({**ScreeningFactExtractor.get_default_config()})


def parse(component, text: str, intent: str = "inform", confidence: float = 0.6) -> Message:
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": confidence}})
    message.set("intent_ranking", [{"name": intent, "confidence": confidence}])
    (processed,) = component.process([message])
    return processed


def test_facts_become_entities_named_after_them(component) -> None:
    message = parse(component, "no acne, and I use Differin")
    entities = [
        (e["entity"], e["value"], e.get("role"), e["extractor"])
        for e in message.get("entities")
        if e["entity"] != "course"
    ]
    assert entities == [
        ("active_skin_issues", "inflammatory_acne", "denied", "ScreeningFactExtractor"),
        ("topical_products", "retinoid", None, "ScreeningFactExtractor"),
    ]
    assert message.get("intent")["name"] == "inform"


def test_the_whole_message_is_also_read_as_about_a_course(component) -> None:
    # Used only at the isotretinoin and cancer treatment questions ("it").
    message = parse(component, "I'm still taking it")
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("course", {"status": "current"})
    ]


@pytest.mark.parametrize(
    ("text", "fact", "value", "role"),
    [
        # Past only: answers "not now" to its own question and adds nothing.
        ("I had a cold sore years ago", "active_skin_issues", "cold_sore", "past"),
        ("I used to take warfarin", "medications", "anticoagulant", "past"),
        # Without an allergy word: an allergy only in answer to the allergy question.
        (
            "they put numbing cream on my face last time and it was fine",
            "allergies",
            "topical_anesthetic",
            "possible",
        ),
    ],
)
def test_past_and_possible_mentions_carry_their_role(component, text, fact, value, role) -> None:
    message = parse(component, text)
    found = [(e["entity"], e["value"], e.get("role")) for e in message.get("entities")]
    assert (fact, value, role) in found
    assert (fact, value, None) not in found


def test_a_red_flag_overrides_the_intent(component) -> None:
    message = parse(component, "my throat is swelling", intent="faq_pain", confidence=0.9)
    assert message.get("intent") == {"name": "report_red_flag", "confidence": 1.0}
    assert message.get("intent_ranking")[1]["name"] == "faq_pain"


def test_a_denied_red_flag_does_not(component) -> None:
    message = parse(component, "no fever, no swelling of the lips", intent="deny")
    assert message.get("intent")["name"] == "deny"


def test_an_urgent_guess_without_a_red_flag_starts_the_screening(component) -> None:
    # The classifier's guess alone never sends anyone down the urgent path: the
    # screening's first question asks about the red flags instead.
    message = parse(component, "is it an emergency if my skin looks weird", "report_red_flag", 0.8)
    assert message.get("intent") == {"name": "start_screening", "confidence": 0.8}


def test_button_payloads_are_left_to_rasa(component) -> None:
    message = parse(component, '/inform{"red_flags": ["infection_signs"]}')
    assert message.get("entities") in (None, [])
