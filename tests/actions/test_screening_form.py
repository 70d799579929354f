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
    # The domain lists every question, follow-ups included, in the form's order.
    listed = domain["forms"]["screening_form"]["required_slots"]
    assert [q for q in listed if q in FACT_SLOTS] == list(FACT_SLOTS)


def test_a_red_flag_ends_the_questions(domain) -> None:
    import asyncio

    assert asyncio.run(_required({"red_flags": ["allergic_reaction"]}, domain)) == ["red_flags"]


# Whole turns: the form folds each message into the answers so far.
import asyncio  # noqa: E402

from rasa_sdk import Tracker  # noqa: E402

from actions.screening_form import screening_questions  # noqa: E402


def turn(domain, before, *, asked, text="…", intent="inform", entities=(), rasa_set=None):
    """Run the form's validation for one message; returns (slot changes, responses)."""
    rasa_set = rasa_set or {}
    events = [{"event": "slot", "name": k, "value": v} for k, v in before.items()]
    events.append({"event": "user", "text": text})
    events += [{"event": "slot", "name": k, "value": v} for k, v in rasa_set.items()]
    tracker = Tracker(
        sender_id="c",
        slots={**before, **rasa_set, "requested_slot": asked},
        latest_message={"intent": {"name": intent}, "entities": list(entities), "text": text},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "screening_form"},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    result = asyncio.run(FORM.run(dispatcher, tracker, domain))
    return {e["name"]: e["value"] for e in result}, [m.get("response") for m in dispatcher.messages]


ANSWERED_UP_TO_PRODUCTS = {
    "red_flags": [],
    "age": 34,
    "treatment_area": ["face"],
    "skin_concerns": ["acne_scars"],
    "answered_facts": ["red_flags", "treatment_area", "skin_concerns"],
}


def entity(fact, value, role=None):
    return {"entity": fact, "value": value, **({"role": role} if role else {})}


def test_a_volunteered_item_does_not_answer_its_question(domain) -> None:
    before = {**ANSWERED_UP_TO_PRODUCTS, "topical_products": ["retinoid"]}
    changes, _ = turn(
        domain,
        {k: v for k, v in before.items()},
        asked="skin_concerns",
        entities=[entity("skin_concerns", "acne_scars")],
        rasa_set={"skin_concerns": ["acne_scars"]},
    )
    assert changes["requested_slot"] == "topical_products"


def test_a_plain_no_keeps_what_was_volunteered_and_moves_on(domain) -> None:
    before = {**ANSWERED_UP_TO_PRODUCTS, "topical_products": ["retinoid"]}
    changes, _ = turn(
        domain,
        before,
        asked="topical_products",
        intent="deny",
        text="no",
        rasa_set={"topical_products": []},
    )
    assert changes["topical_products"] == ["retinoid"]
    assert "topical_products" in changes["answered_facts"]
    assert changes["requested_slot"] == "isotretinoin"


def test_a_correction_updates_an_earlier_answer_and_says_so(domain) -> None:
    before = {
        **ANSWERED_UP_TO_PRODUCTS,
        "topical_products": ["vitamin_c"],
        "isotretinoin": {"status": "never"},
        "answered_facts": [*ANSWERED_UP_TO_PRODUCTS["answered_facts"], "topical_products"],
    }
    changes, said = turn(
        domain,
        before,
        asked="pregnant_or_breastfeeding",
        intent="correct",
        text="actually I do use retinol",
        entities=[entity("topical_products", "retinoid")],
        rasa_set={"topical_products": ["retinoid"]},
    )
    assert changes["topical_products"] == ["vitamin_c", "retinoid"]
    assert said == ["utter_fact_updated"]
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"
    changes, _ = turn(
        domain,
        {**before, "topical_products": ["vitamin_c", "retinoid"]},
        asked="pregnant_or_breastfeeding",
        intent="correct",
        text="I don't use vitamin c",
        entities=[entity("topical_products", "vitamin_c", "denied")],
    )
    assert changes["topical_products"] == ["retinoid"]


def test_denials_answer_the_question_asked(domain) -> None:
    before = {
        **ANSWERED_UP_TO_PRODUCTS,
        "topical_products": [],
        "isotretinoin": {"status": "never"},
        "pregnant_or_breastfeeding": False,
        "answered_facts": [*ANSWERED_UP_TO_PRODUCTS["answered_facts"], "topical_products"],
    }
    changes, _ = turn(
        domain,
        before,
        asked="active_skin_issues",
        text="no acne, no cold sores",
        entities=[
            entity("active_skin_issues", "inflammatory_acne", "denied"),
            entity("conditions", "cold_sore_history", "denied"),
        ],
    )
    assert changes["active_skin_issues"] == []
    # Cold sores were denied in passing: the conditions question is still asked.
    assert "conditions" not in changes
    assert changes["requested_slot"] == "conditions"


def test_a_question_about_microneedling_sets_no_fact(domain) -> None:
    changes, _ = turn(
        domain,
        ANSWERED_UP_TO_PRODUCTS,
        asked="topical_products",
        intent="faq_products_after",
        text="can I use retinol after?",
        entities=[entity("topical_products", "retinoid")],
    )
    assert "topical_products" not in changes


PAST_DOSE = {
    **ANSWERED_UP_TO_PRODUCTS,
    "topical_products": [],
    "answered_facts": [*ANSWERED_UP_TO_PRODUCTS["answered_facts"], "topical_products"],
    "isotretinoin": {"status": "past"},
}


def test_a_past_dose_without_a_date_is_followed_up(domain) -> None:
    assert "isotretinoin_last_dose" in screening_questions(PAST_DOSE)
    assert "isotretinoin_last_dose" not in screening_questions(
        {**PAST_DOSE, "isotretinoin": {"status": "never"}}
    )


def test_the_follow_up_takes_a_date(domain) -> None:
    changes, _ = turn(
        domain,
        PAST_DOSE,
        asked="isotretinoin_last_dose",
        text="two months ago",
        entities=[entity("time", {"date": "2026-09-27"})],
        rasa_set={"isotretinoin_last_dose": "two months ago"},
    )
    assert changes["isotretinoin"] == {"status": "past", "last_dose": "2026-09-27"}
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"


def test_the_follow_up_takes_i_dont_know_and_still_taking_it(domain) -> None:
    changes, _ = turn(
        domain,
        PAST_DOSE,
        asked="isotretinoin_last_dose",
        text="I can't remember",
        rasa_set={"isotretinoin_last_dose": "I can't remember"},
    )
    assert changes["dates_unknown"] == ["isotretinoin.last_dose"]
    assert changes["requested_slot"] == "pregnant_or_breastfeeding"
    changes, _ = turn(
        domain,
        PAST_DOSE,
        asked="isotretinoin_last_dose",
        text="I still take it",
        rasa_set={"isotretinoin_last_dose": "I still take it"},
    )
    assert changes["isotretinoin"] == {"status": "current"}


def test_an_unreadable_date_is_asked_again(domain) -> None:
    changes, said = turn(
        domain,
        PAST_DOSE,
        asked="isotretinoin_last_dose",
        text="blue",
        rasa_set={"isotretinoin_last_dose": "blue"},
    )
    assert said == ["utter_date_not_understood"]
    assert changes["requested_slot"] == "isotretinoin_last_dose"


def test_each_undated_procedure_is_dated_in_turn(domain) -> None:
    slots = {
        "red_flags": [],
        "recent_procedures": [{"type": "laser", "date": None}, {"type": "filler", "date": None}],
    }
    questions = screening_questions(slots)
    assert questions[-1] == "recent_procedures_date"
    result = FORM.validate_recent_procedures_date(
        "last week",
        CollectingDispatcher(),
        Tracker(
            "c",
            {**slots},
            {"text": "last week", "entities": [entity("time", {"date": "2026-11-20"})]},
            [],
            False,
            None,
            {},
            "action_listen",
        ),
        domain,
    )
    assert result["recent_procedures"] == [
        {"type": "laser", "date": "2026-11-20"},
        {"type": "filler", "date": None},
    ]


def test_a_bare_yes_to_a_list_question_asks_which(domain) -> None:
    changes, said = turn(
        domain, {"red_flags": [], "age": 30}, asked="treatment_area", intent="affirm", text="yes"
    )
    assert said == ["utter_which_ones"]
    assert changes == {"treatment_area": None, "requested_slot": "treatment_area"}
    changes, said = turn(domain, {}, asked="red_flags", intent="affirm", text="yes")
    assert said == ["utter_which_red_flag"]
    assert changes == {"red_flags": None, "requested_slot": "red_flags"}


def test_a_correction_rasa_already_applied_is_still_acknowledged(domain) -> None:
    before = {**ANSWERED_UP_TO_PRODUCTS, "medications": []}
    _, said = turn(
        domain,
        before,
        asked="cancer_treatment",
        intent="correct",
        text="actually I'm on warfarin",
        entities=[entity("medications", "anticoagulant")],
        rasa_set={"medications": ["anticoagulant"]},
    )
    assert said == ["utter_fact_updated"]
