"""ValidateScreeningForm: answers become engine facts, or are asked again."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.names import FACT_SLOTS, UTTER_INVALID_ANSWER
from actions.screening_form import ValidateScreeningForm
from tests.actions.conftest import make_tracker

FORM = ValidateScreeningForm()


def validate(slot: str, value, domain):
    dispatcher = CollectingDispatcher()
    method = getattr(FORM, f"validate_{slot}")
    result = method(value, dispatcher, make_tracker({}, slot), domain)
    return result, [m.get("response") for m in dispatcher.messages]


@pytest.mark.parametrize(
    ("slot", "raw", "fact"),
    [
        ("red_flags", [[]], []),
        ("red_flags", ["infection_signs", "infection_signs"], ["infection_signs"]),
        ("age", "34", 34),
        ("age", ["29"], 29),
        ("age", 41.0, 41),
        ("treatment_area", "face", ["face"]),
        ("treatment_area", ["face", "neck"], ["face", "neck"]),
        ("topical_products", [[]], []),
        ("isotretinoin", "past", {"status": "past"}),
        ("isotretinoin", ["never"], {"status": "never"}),
        ("pregnant_or_breastfeeding", False, False),
        ("cancer_treatment", "none", {"status": "none"}),
        (
            "recent_procedures",
            ["laser", "filler"],
            [{"type": "laser", "date": None}, {"type": "filler", "date": None}],
        ),
        ("treatment_area", ["face", "neck", "face"], ["face", "neck"]),
        ("recent_procedures", [], []),
    ],
)
def test_answers_are_normalised_into_facts(slot, raw, fact, domain) -> None:
    result, said = validate(slot, raw, domain)
    assert result == {slot: fact}
    assert said == []


@pytest.mark.parametrize(
    ("slot", "raw"),
    [
        ("age", "three hundred"),
        ("age", "250"),
        ("treatment_area", ["knee"]),
        ("isotretinoin", "sometimes"),
        ("pregnant_or_breastfeeding", "maybe"),
        ("recent_procedures", ["tattoo"]),
        ("skin_concerns", []),
    ],
)
def test_an_unusable_answer_clears_the_slot_and_says_so(slot, raw, domain) -> None:
    result, said = validate(slot, raw, domain)
    assert result == {slot: None}
    assert said == [UTTER_INVALID_ANSWER]


def test_there_is_one_validate_method_per_fact() -> None:
    for slot in FACT_SLOTS:
        assert callable(getattr(FORM, f"validate_{slot}"))


async def _required(slots, domain):
    return await FORM.required_slots(
        list(FACT_SLOTS), CollectingDispatcher(), make_tracker(slots), domain
    )


def test_all_facts_are_required_in_order(domain) -> None:
    import asyncio

    assert asyncio.run(_required({"red_flags": []}, domain)) == list(FACT_SLOTS)


def test_a_red_flag_ends_the_questions(domain) -> None:
    import asyncio

    assert asyncio.run(_required({"red_flags": ["allergic_reaction"]}, domain)) == ["red_flags"]
