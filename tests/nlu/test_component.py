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
        (e["entity"], e["value"], e.get("role"), e["extractor"]) for e in message.get("entities")
    ]
    assert entities == [
        ("active_skin_issues", "inflammatory_acne", "denied", "ScreeningFactExtractor"),
        ("topical_products", "retinoid", None, "ScreeningFactExtractor"),
        # The whole message read as a statement about a course ("it"): used only at the
        # isotretinoin and cancer treatment questions.
        ("course", {"status": "current"}, None, "ScreeningFactExtractor"),
    ]
    assert message.get("intent")["name"] == "inform"


def test_a_red_flag_overrides_the_intent(component) -> None:
    message = parse(component, "my throat is swelling", intent="faq_pain", confidence=0.9)
    assert message.get("intent") == {"name": "report_red_flag", "confidence": 1.0}
    assert message.get("intent_ranking")[1]["name"] == "faq_pain"


def test_a_denied_red_flag_does_not(component) -> None:
    message = parse(component, "no fever, no swelling of the lips", intent="deny")
    assert message.get("intent")["name"] == "deny"


def test_button_payloads_are_left_to_rasa(component) -> None:
    message = parse(component, '/inform{"red_flags": ["infection_signs"]}')
    assert message.get("entities") in (None, [])
