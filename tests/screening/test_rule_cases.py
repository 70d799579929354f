"""Every rule's own test cases (sentences with the facts they express), from rules.yml.

Each rule must trigger on its `triggers` case and not on its `clear` case. A dated rule
stops triggering on its `boundary` date and triggers the day before with that `until`;
an undated rule gives the same finding whatever the date.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from needlecheck.screening import assess, default_policy
from needlecheck.screening.policy import rules_document

TODAY = date.fromisoformat(rules_document()["today_for_examples"])
RULES = default_policy().rules
RULE_IDS = [rule.id for rule in RULES]

# The clinic's rule table (docs/screening-policy.md, "Rules"): ID, severity and default
# parameters, to be implemented exactly. Held here by hand, not read from rules.yml (the
# page's table is generated from it), so that changing one takes a change here too.
SPEC = {
    "URG-INFECTION": ("urgent", {}),
    "URG-ALLERGY": ("urgent", {}),
    "EX-SKIN-CANCER": ("exclude", {}),
    "EX-BLEEDING": ("exclude", {}),
    "EX-COLLAGEN-VASCULAR": ("exclude", {}),
    "EX-KELOID": ("exclude", {}),
    "EX-CANCER-TREATMENT": ("exclude", {}),
    "DF-CANCER-TREATMENT": ("defer", {"months": 6}),
    "DF-ISOTRETINOIN": ("defer", {"months": 6}),
    "DF-PREGNANCY": ("defer", {}),
    "DF-MINOR": ("defer", {"min_age": 18}),
    "DF-ACTIVE-ACNE": ("defer", {}),
    "DF-ACTIVE-INFECTION": ("defer", {}),
    "DF-DERMATITIS-FLARE": ("defer", {}),
    "DF-SUNBURN": ("defer", {}),
    "DF-PEEL-LASER": ("defer", {"days": 30}),
    "DF-INJECTABLES": ("defer", {"days": 14}),
    "DF-SURGERY": ("defer", {"months": 6}),
    "RV-ANTICOAGULANT": ("review", {}),
    "RV-IMMUNE": ("review", {}),
    "RV-DIABETES": ("review", {}),
    "RV-COLD-SORES": ("review", {}),
    "RV-CHRONIC-SKIN": ("review", {}),
    "RV-ALLERGY": ("review", {}),
    "RV-CARDIAC": ("review", {}),
    "PR-RETINOID": ("prepare", {"stop_days_before": 5}),
    "PR-EXFOLIANT": ("prepare", {"stop_days_before": 3}),
    "NT-PIGMENTATION": ("note", {}),
    "NT-AGE-UNDER-22": ("note", {"from_age": 18, "to_age": 21}),
}


def _finding(rule_id: str, facts: dict, today: date):
    found = [f for f in assess(facts, today).findings if f.rule == rule_id]
    return found[0] if found else None


def test_the_rules_file_matches_the_specification() -> None:
    assert {r.id: (r.severity, dict(r.params)) for r in RULES} == SPEC


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_every_rule_has_a_source_reason_and_sentence_cases(rule) -> None:
    assert rule.source and rule.reason
    for case in ("triggers", "clear"):
        assert rule.examples[case]["text"].strip(), f"{rule.id} {case} needs a sentence"
        assert isinstance(rule.examples[case]["facts"], dict)


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_triggers_on_its_triggering_case(rule) -> None:
    finding = _finding(rule.id, rule.examples["triggers"]["facts"], TODAY)
    assert finding is not None, rule.examples["triggers"]["text"]
    assert finding.severity == rule.severity
    assert finding.reason == rule.reason


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_does_not_trigger_on_its_clear_case(rule) -> None:
    assert _finding(rule.id, rule.examples["clear"]["facts"], TODAY) is None, rule.examples[
        "clear"
    ]["text"]


DATED = [rule for rule in RULES if "boundary" in rule.examples]
UNDATED = [rule for rule in RULES if "boundary" not in rule.examples]


def test_every_rule_with_a_waiting_period_in_days_or_months_has_a_boundary_case() -> None:
    periodic = {r.id for r in RULES if {"days", "months"} & set(r.params)}
    assert periodic == {r.id for r in DATED}


@pytest.mark.parametrize("rule", DATED, ids=[r.id for r in DATED])
def test_dated_rule_stops_on_its_boundary_date(rule) -> None:
    case = rule.examples["boundary"]
    boundary = date.fromisoformat(case["until"])
    before = _finding(rule.id, case["facts"], boundary - timedelta(days=1))
    assert before is not None and before.until == boundary
    assert _finding(rule.id, case["facts"], boundary) is None
    assert _finding(rule.id, case["facts"], boundary + timedelta(days=1)) is None


@pytest.mark.parametrize("rule", UNDATED, ids=[r.id for r in UNDATED])
def test_undated_rule_has_no_boundary_date(rule) -> None:
    facts = rule.examples["triggers"]["facts"]
    for today in (date(2000, 1, 1), TODAY, date(2100, 12, 31)):
        finding = _finding(rule.id, facts, today)
        assert finding is not None and finding.until is None
