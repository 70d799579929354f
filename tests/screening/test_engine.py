"""The engine's behaviour as docs/screening-policy.md describes it: outcomes, dates,
missing facts."""

from __future__ import annotations

from datetime import date

import pytest

from needlecheck.screening import FACT_NAMES, assess
from needlecheck.screening.dates import add_months

TODAY = date(2026, 11, 24)

# A complete record with nothing to report: the base the tests change one fact of.
CLEAR: dict = {
    "red_flags": [],
    "age": 34,
    "treatment_area": ["face"],
    "skin_concerns": ["acne_scars"],
    "topical_products": [],
    "isotretinoin": {"status": "never"},
    "pregnant_or_breastfeeding": False,
    "active_skin_issues": [],
    "conditions": [],
    "medications": [],
    "cancer_treatment": {"status": "none"},
    "allergies": [],
    "recent_procedures": [],
}


def facts(**changes) -> dict:
    return {**CLEAR, **changes}


def test_complete_clear_record_is_eligible() -> None:
    result = assess(CLEAR, TODAY)
    assert result.outcome == "eligible"
    assert result.findings == () and result.missing == () and result.earliest_date is None


def test_the_example_from_the_issue_lists_every_other_fact_as_missing() -> None:
    result = assess({"age": 30}, TODAY)
    assert result.outcome is None
    assert list(result.missing) == [name for name in FACT_NAMES if name != "age"]


def test_no_facts_at_all_is_no_outcome() -> None:
    result = assess({}, TODAY)
    assert result.outcome is None and list(result.missing) == list(FACT_NAMES)


@pytest.mark.parametrize(
    ("given", "outcome"),
    [
        ({"red_flags": ["allergic_reaction"]}, "urgent_care"),
        ({"conditions": ["bleeding_disorder"]}, "not_suitable"),
        ({"pregnant_or_breastfeeding": True}, "defer"),
        ({"medications": ["anticoagulant"]}, "clinician_review"),
        ({"topical_products": ["retinoid"]}, None),
        ({"conditions": ["pigmentation_history"]}, None),
    ],
)
def test_a_decisive_rule_gives_its_outcome_even_with_facts_missing(given, outcome) -> None:
    result = assess(given, TODAY)
    assert result.outcome == outcome
    assert result.missing


def test_precedence_urgent_over_exclude_over_defer_over_review() -> None:
    everything = facts(
        red_flags=["infection_signs"],
        conditions=["keloid_history", "diabetes"],
        pregnant_or_breastfeeding=True,
    )
    assert assess(everything, TODAY).outcome == "urgent_care"
    everything["red_flags"] = []
    assert assess(everything, TODAY).outcome == "not_suitable"
    everything["conditions"] = ["diabetes"]
    assert assess(everything, TODAY).outcome == "defer"
    everything["pregnant_or_breastfeeding"] = False
    assert assess(everything, TODAY).outcome == "clinician_review"


def test_every_triggered_rule_is_reported_in_precedence_order() -> None:
    result = assess(
        facts(
            conditions=["diabetes", "keloid_history", "pigmentation_history"],
            topical_products=["retinoid"],
            age=19,
            pregnant_or_breastfeeding=True,
        ),
        TODAY,
    )
    assert result.rules == [
        "EX-KELOID",
        "DF-PREGNANCY",
        "RV-DIABETES",
        "PR-RETINOID",
        "NT-PIGMENTATION",
        "NT-AGE-UNDER-22",
    ]


def test_prepare_and_note_rules_never_change_the_outcome() -> None:
    result = assess(facts(topical_products=["retinoid", "exfoliating_acid"], age=20), TODAY)
    assert result.outcome == "eligible"
    assert {f.severity for f in result.findings} == {"prepare", "note"}


def test_earliest_date_is_the_latest_of_several_dated_defers() -> None:
    result = assess(
        facts(
            isotretinoin={"status": "past", "last_dose": "2026-08-01"},
            recent_procedures=[
                {"type": "laser", "date": "2026-11-20"},
                {"type": "filler", "date": "2026-11-20"},
            ],
        ),
        TODAY,
    )
    assert result.outcome == "defer"
    assert {f.rule: f.until for f in result.findings} == {
        "DF-ISOTRETINOIN": date(2027, 2, 1),
        "DF-PEEL-LASER": date(2026, 12, 20),
        "DF-INJECTABLES": date(2026, 12, 4),
    }
    assert result.earliest_date == date(2027, 2, 1)


def test_an_undated_defer_means_no_earliest_date() -> None:
    result = assess(
        facts(
            recent_procedures=[{"type": "laser", "date": "2026-11-20"}],
            active_skin_issues=["sunburn"],
        ),
        TODAY,
    )
    assert result.outcome == "defer" and result.earliest_date is None


def test_no_earliest_date_unless_the_outcome_is_defer() -> None:
    result = assess(
        facts(
            conditions=["bleeding_disorder"],
            recent_procedures=[{"type": "laser", "date": "2026-11-20"}],
        ),
        TODAY,
    )
    assert result.outcome == "not_suitable" and result.earliest_date is None


def test_several_procedures_of_one_rule_end_with_the_latest() -> None:
    result = assess(
        facts(
            recent_procedures=[
                {"type": "chemical_peel", "date": "2026-11-01"},
                {"type": "laser", "date": "2026-11-15"},
                {"type": "dermabrasion", "date": "2026-09-01"},
            ]
        ),
        TODAY,
    )
    assert result.findings[0].until == date(2026, 12, 15)


@pytest.mark.parametrize(
    ("given", "rule", "missing"),
    [
        ({"isotretinoin": {"status": "past"}}, "DF-ISOTRETINOIN", "isotretinoin.last_dose"),
        ({"cancer_treatment": {"status": "past"}}, "DF-CANCER-TREATMENT", "cancer_treatment.ended"),
        ({"recent_procedures": [{"type": "surgery"}]}, "DF-SURGERY", "recent_procedures.date"),
        (
            {"recent_procedures": [{"type": "neurotoxin"}]},
            "DF-INJECTABLES",
            "recent_procedures.date",
        ),
    ],
)
def test_an_unknown_date_counts_as_recent_and_is_listed_missing(given, rule, missing) -> None:
    result = assess(facts(**given), TODAY)
    assert result.outcome == "defer"
    (finding,) = result.findings
    assert finding.rule == rule and finding.until is None
    assert result.missing == (missing,)
    assert result.earliest_date is None


def test_a_current_isotretinoin_course_defers_without_a_date_and_needs_none() -> None:
    result = assess(facts(isotretinoin={"status": "current"}), TODAY)
    assert result.outcome == "defer" and result.findings[0].until is None
    assert result.missing == ()


def test_an_unknown_date_on_an_unrelated_procedure_does_not_trigger_other_rules() -> None:
    result = assess(facts(recent_procedures=[{"type": "filler"}]), TODAY)
    assert result.rules == ["DF-INJECTABLES"]


def test_a_missing_date_alone_never_yields_eligible_even_if_its_rule_is_silenced() -> None:
    from needlecheck.screening.policy import apply_overrides, default_policy

    quiet = apply_overrides(
        default_policy(),
        {"name": "t", "version": "1", "rules": {"DF-ISOTRETINOIN": {"severity": "note"}}},
    )
    result = assess(facts(isotretinoin={"status": "past"}), TODAY, quiet)
    assert result.outcome is None and result.missing == ("isotretinoin.last_dose",)


@pytest.mark.parametrize(
    ("age", "rules"),
    [
        (17, ["DF-MINOR"]),
        (18, ["NT-AGE-UNDER-22"]),
        (21, ["NT-AGE-UNDER-22"]),
        (22, []),
    ],
)
def test_age_boundaries(age, rules) -> None:
    assert assess(facts(age=age), TODAY).rules == rules


def test_a_minor_is_deferred_without_a_date_since_only_the_age_is_known() -> None:
    result = assess(facts(age=17), TODAY)
    assert result.outcome == "defer" and result.earliest_date is None


def test_cold_sore_history_matters_only_for_the_face() -> None:
    assert assess(facts(conditions=["cold_sore_history"]), TODAY).rules == ["RV-COLD-SORES"]
    neck = facts(conditions=["cold_sore_history"], treatment_area=["neck", "chest"])
    assert assess(neck, TODAY).outcome == "eligible"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 5, 31), 6, date(2026, 11, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
    ],
)
def test_months_clamp_to_the_end_of_a_shorter_month(start, months, expected) -> None:
    assert add_months(start, months) == expected


def test_the_specification_example_31_may_plus_6_months() -> None:
    given = facts(cancer_treatment={"status": "past", "ended": "2026-05-31"})
    assert assess(given, date(2026, 11, 29)).findings[0].until == date(2026, 11, 30)
    assert assess(given, date(2026, 11, 30)).outcome == "eligible"


def test_assessment_json_has_the_fields_the_policy_page_names() -> None:
    out = assess(facts(isotretinoin={"status": "past", "last_dose": "2026-06-20"}), TODAY).to_json()
    assert set(out) == {"outcome", "findings", "earliest_date", "missing", "policy"}
    assert out["earliest_date"] == "2026-12-20"
    assert out["findings"] == [
        {
            "rule": "DF-ISOTRETINOIN",
            "severity": "defer",
            "until": "2026-12-20",
            "reason": out["findings"][0]["reason"],
        }
    ]
    assert "6 months" in out["findings"][0]["reason"]
    assert out["policy"] == {"name": "needlecheck default policy", "version": "2026.11"}
