"""How messages add up to facts: volunteered items, denials and a plain "no"."""

from __future__ import annotations

from needlecheck.nlu.answers import Said, merge_course, merge_list, said_by_fact, undated_procedures


def test_items_add_up_and_denials_remove() -> None:
    assert merge_list(
        "topical_products", ["vitamin_c"], Said(affirmed=("retinoid",)), asked=False
    ) == [
        "vitamin_c",
        "retinoid",
    ]
    assert merge_list(
        "topical_products", ["vitamin_c", "retinoid"], Said(denied=("retinoid",)), asked=False
    ) == ["vitamin_c"]


def test_a_denial_outside_its_question_answers_nothing() -> None:
    assert (
        merge_list("active_skin_issues", None, Said(denied=("inflammatory_acne",)), asked=False)
        is None
    )
    assert (
        merge_list("active_skin_issues", None, Said(denied=("inflammatory_acne",)), asked=True)
        == []
    )


def test_a_later_mention_adds_a_missing_procedure_date() -> None:
    merged = merge_list(
        "recent_procedures",
        [{"type": "laser"}],
        Said(affirmed=({"type": "laser", "date": "2026-10-01"},)),
        asked=False,
    )
    assert merged == [{"type": "laser", "date": "2026-10-01"}]
    assert merge_list("recent_procedures", merged, Said(denied=("laser",)), asked=False) == []


def test_a_course_keeps_its_date_when_repeated_without_one() -> None:
    dated = {"status": "past", "last_dose": "2026-01-01"}
    assert merge_course(dated, {"status": "past"}) == dated
    assert merge_course(dated, {"status": "current"}) == {"status": "current"}


def test_entities_are_grouped_by_fact_and_role() -> None:
    said = said_by_fact(
        [
            {"entity": "topical_products", "value": "retinoid"},
            {"entity": "active_skin_issues", "value": "cold_sore", "role": "denied"},
            {"entity": "time", "value": {"date": "2026-01-01"}},
        ],
        ["topical_products", "active_skin_issues"],
    )
    assert said == {
        "topical_products": Said(affirmed=("retinoid",)),
        "active_skin_issues": Said(denied=("cold_sore",)),
    }


def test_undated_procedures_skip_those_the_person_cannot_date() -> None:
    procedures = [{"type": "laser"}, {"type": "filler", "date": "2026-11-01"}, {"type": "surgery"}]
    assert undated_procedures(procedures, []) == ["laser", "surgery"]
    assert undated_procedures(procedures, ["recent_procedures.laser"]) == ["surgery"]
