"""The rules file is checked when loaded: a typo fails at start-up, not at a patient."""

from __future__ import annotations

import pytest

from needlecheck.screening import RulesError
from needlecheck.screening.policy import parse_rules_document

BASE = {"id": "T-1", "severity": "review", "reason": "Because.", "source": "test"}


def document(*rules: dict) -> dict:
    return {"name": "t", "version": "1", "rules": list(rules)}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({**BASE, "when": {"has": {"fact": "hobbies", "any": ["golf"]}}}, "unknown fact 'hobbies'"),
        (
            {**BASE, "when": {"has": {"fact": "conditions", "any": ["flu"]}}},
            "'flu' is not a value of conditions",
        ),
        ({**BASE, "when": {"has": {"fact": "age", "any": ["x"]}}}, "'has' needs a list fact"),
        ({**BASE, "when": {"sometimes": "age"}}, "unknown condition operator 'sometimes'"),
        ({**BASE, "when": {"less_than": {"fact": "age", "value": "$limit"}}}, "parameter $limit"),
        (
            {**BASE, "when": {"within": {"date": "isotretinoin.last_dose", "weeks": 2}}},
            "days or months",
        ),
        (
            {**BASE, "when": {"is": {"fact": "cancer_treatment.status", "value": "maybe"}}},
            "not a value",
        ),
        (
            {**BASE, "when": {"is": {"fact": "pregnant_or_breastfeeding", "value": 1}}},
            "not a value",
        ),
        ({**BASE, "when": {"all": []}}, "needs a list of conditions"),
        ({**BASE, "when": {"has": "conditions"}}, "malformed 'has'"),
        ({**BASE, "severity": "mild", "when": {"not_empty": "allergies"}}, "severity 'mild'"),
        ({**BASE, "params": {"days": -3}, "when": {"not_empty": "allergies"}}, "whole number"),
        (
            {**BASE, "reason": "Wait {days}.", "when": {"not_empty": "allergies"}},
            "unknown parameter",
        ),
        ({**BASE, "extra": 1, "when": {"not_empty": "allergies"}}, "unknown key(s) extra"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule(rule, message) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules_document(document(rule))
    assert message in str(caught.value)
    assert "T-1" in str(caught.value)


def test_duplicate_rule_ids_are_refused() -> None:
    rule = {**BASE, "when": {"not_empty": "allergies"}}
    with pytest.raises(RulesError, match="defined twice"):
        parse_rules_document(document(rule, rule))
