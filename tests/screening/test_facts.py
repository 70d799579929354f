"""Fact validation: every bad value is an error naming its field, never an outcome."""

from __future__ import annotations

from datetime import date

import pytest

from needlecheck.screening import FactError, assess, validate_facts


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"height": 170}, "height", "unknown fact"),
        ({"age": "34"}, "age", "whole number"),
        ({"age": 34.5}, "age", "whole number"),
        ({"age": True}, "age", "whole number"),
        ({"age": -1}, "age", "outside"),
        ({"age": 200}, "age", "outside"),
        ({"age": None}, "age", "null"),
        ({"treatment_area": "face"}, "treatment_area", "list"),
        ({"treatment_area": []}, "treatment_area", "at least 1"),
        ({"treatment_area": ["face", "knees"]}, "treatment_area[1]", "'knees' is not one of"),
        ({"skin_concerns": [3]}, "skin_concerns[0]", "not one of"),
        ({"pregnant_or_breastfeeding": "no"}, "pregnant_or_breastfeeding", "true or false"),
        ({"pregnant_or_breastfeeding": 0}, "pregnant_or_breastfeeding", "true or false"),
        ({"isotretinoin": "past"}, "isotretinoin", "object"),
        ({"isotretinoin": {"status": "sometimes"}}, "isotretinoin.status", "not one of"),
        ({"isotretinoin": {}}, "isotretinoin.status", "not one of"),
        (
            {"isotretinoin": {"status": "past", "last_dose": "2026-13-01"}},
            "isotretinoin.last_dose",
            "valid calendar date",
        ),
        (
            {"isotretinoin": {"status": "past", "last_dose": "June 2026"}},
            "isotretinoin.last_dose",
            "YYYY-MM-DD",
        ),
        (
            {"isotretinoin": {"status": "past", "last_dose": 20260601}},
            "isotretinoin.last_dose",
            "YYYY-MM-DD",
        ),
        (
            {"isotretinoin": {"status": "never", "last_dose": "2026-01-01"}},
            "isotretinoin.last_dose",
            "no sense",
        ),
        (
            {"isotretinoin": {"status": "past", "dose": "10mg"}},
            "isotretinoin.dose",
            "unknown field",
        ),
        (
            {"cancer_treatment": {"status": "current", "ended": "2026-01-01"}},
            "cancer_treatment.ended",
            "no sense",
        ),
        ({"cancer_treatment": {"status": "yes"}}, "cancer_treatment.status", "not one of"),
        ({"recent_procedures": {"type": "laser"}}, "recent_procedures", "list"),
        ({"recent_procedures": ["laser"]}, "recent_procedures[0]", "object"),
        ({"recent_procedures": [{"type": "tattoo"}]}, "recent_procedures[0].type", "not one of"),
        (
            {"recent_procedures": [{"type": "laser", "date": "2026-02-30"}]},
            "recent_procedures[0].date",
            "valid calendar date",
        ),
        (
            {"recent_procedures": [{"type": "laser", "where": "face"}]},
            "recent_procedures[0].where",
            "unknown field",
        ),
        ({"red_flags": ["headache"]}, "red_flags[0]", "not one of"),
        ({"allergies": "none"}, "allergies", "list"),
    ],
)
def test_invalid_facts_name_the_field(raw, field, words) -> None:
    with pytest.raises(FactError) as caught:
        assess(raw, date(2026, 11, 24))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_facts_must_be_an_object() -> None:
    with pytest.raises(FactError, match="JSON object"):
        validate_facts([{"age": 30}])


def test_valid_facts_are_normalised() -> None:
    facts = validate_facts(
        {
            "treatment_area": ["face", "face", "neck"],
            "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
            "recent_procedures": [{"type": "laser", "date": "2026-11-03"}, {"type": "filler"}],
        }
    )
    assert facts.get("treatment_area") == ("face", "neck")
    assert facts.get("isotretinoin.last_dose") == date(2026, 6, 20)
    assert facts.to_json() == {
        "treatment_area": ["face", "neck"],
        "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
        "recent_procedures": [
            {"type": "laser", "date": "2026-11-03"},
            {"type": "filler", "date": None},
        ],
    }


def test_empty_lists_mean_none_where_the_table_allows_it() -> None:
    facts = validate_facts({"topical_products": [], "red_flags": [], "recent_procedures": []})
    assert facts.missing()[:2] == ["age", "treatment_area"]
    assert "topical_products" not in facts.missing()
