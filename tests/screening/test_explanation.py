"""What a person is told about an assessment: the one choice the replies and the card share."""

from __future__ import annotations

from datetime import date

import pytest

from needlecheck.screening import assess
from needlecheck.screening.explanation import MESSAGES, explain, human_date
from tests.screening.test_engine import CLEAR

TODAY = date(2026, 11, 24)


def told(**changes):
    return explain(assess({**CLEAR, **changes}, TODAY))


def test_a_clear_record_is_eligible_with_no_reasons_and_the_disclaimer() -> None:
    result = told()
    assert (result.outcome, result.headline) == ("eligible", "outcome_eligible")
    assert result.reasons == () and result.preparation is None and result.steps == ()
    assert result.values == {} and result.disclaimer is True


def test_an_unanswered_question_is_incomplete_never_eligible() -> None:
    result = explain(assess({"age": 30}, TODAY))
    assert (result.outcome, result.headline) == ("incomplete", "outcome_incomplete")
    assert result.disclaimer is True


def test_a_dated_deferral_names_its_day_in_the_headline_and_in_its_reason() -> None:
    # Sunburn is undated; a peel on 10 November waits until 10 December (30 days).
    result = told(recent_procedures=[{"type": "chemical_peel", "date": "2026-11-10"}])
    assert result.headline == "outcome_defer_dated"
    assert result.values == {"earliest_date": "10 December 2026"}
    assert result.reasons[0].endswith("For this, the earliest date is 10 December 2026.")


def test_an_undated_deferral_has_the_plain_headline_and_no_date() -> None:
    result = told(active_skin_issues=["sunburn"])
    assert (result.headline, result.earliest_date) == ("outcome_defer", None)
    assert "earliest date" not in result.reasons[0]


def test_steps_are_plain_after_a_yes_and_conditional_while_it_is_not_a_yes() -> None:
    plain = told(topical_products=["retinoid"])
    assert plain.preparation == "preparation"
    assert plain.steps[0].startswith("Stop retinoid products (retinol, tretinoin, adapalene) 5")
    conditional = told(topical_products=["retinoid"], medications=["anticoagulant"])
    assert conditional.headline == "outcome_clinician_review"
    assert conditional.preparation == "preparation_if_treated"


@pytest.mark.parametrize(
    "changes",
    [
        {"conditions": ["bleeding_disorder"]},
        {"red_flags": ["infection_signs"]},
    ],
)
def test_no_steps_under_a_no_or_urgent_advice(changes) -> None:
    result = told(topical_products=["retinoid"], **changes)
    assert result.preparation is None and result.steps == ()


def test_urgent_advice_has_no_notes_and_no_disclaimer_to_dilute_it() -> None:
    result = told(red_flags=["allergic_reaction"], conditions=["pigmentation_history"])
    assert (result.outcome, result.note_rules, result.disclaimer) == ("urgent_care", (), False)


def test_staff_notes_are_offered_by_rule_but_their_staff_words_never_reach_the_reasons() -> None:
    result = told(conditions=["pigmentation_history"], age=19)
    assert result.note_rules == ("NT-PIGMENTATION", "NT-AGE-UNDER-22")
    assert not any(line.startswith("Staff:") for line in result.reasons)


def test_every_message_name_is_listed_for_the_domain_check() -> None:
    seen = {
        told(**changes).headline
        for changes in (
            {},
            {"red_flags": ["allergic_reaction"]},
            {"conditions": ["bleeding_disorder"]},
            {"active_skin_issues": ["sunburn"]},
            {"pregnant_or_breastfeeding": True},
            {"medications": ["anticoagulant"]},
        )
    }
    seen.add(explain(assess({}, TODAY)).headline)
    assert seen <= set(MESSAGES)


def test_human_date() -> None:
    assert human_date(date(2026, 12, 3)) == "3 December 2026"
    assert human_date(date(2027, 1, 1)) == "1 January 2027"
