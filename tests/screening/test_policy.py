"""Clinic policy files: overrides applied, recorded, and checked completely at load."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from needlecheck.screening import PolicyError, assess, load_policy
from needlecheck.screening.policy import POLICY_ENV, policy_from_environment
from tests.screening.test_engine import CLEAR

TODAY = date(2026, 11, 24)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_severity_override_changes_the_outcome_and_names_the_policy(tmp_path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            'name: Riverside Skin Clinic\nversion: "2026-11"\nrules:\n  EX-KELOID: {severity: review}\n',
        )
    )
    result = assess({**CLEAR, "conditions": ["keloid_history"]}, TODAY, policy)
    assert result.outcome == "clinician_review"
    assert result.to_json()["policy"] == {"name": "Riverside Skin Clinic", "version": "2026-11"}
    # The default policy is untouched.
    assert assess({**CLEAR, "conditions": ["keloid_history"]}, TODAY).outcome == "not_suitable"


def test_parameter_override_moves_the_until_date_and_the_reason(tmp_path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            "name: Strict\nversion: 2\nrules:\n"
            "  DF-ISOTRETINOIN: {params: {months: 12}}\n"
            "  PR-RETINOID: {params: {stop_days_before: 7}}\n",
        )
    )
    facts = {
        **CLEAR,
        "isotretinoin": {"status": "past", "last_dose": "2026-06-20"},
        "topical_products": ["retinoid"],
    }
    result = assess(facts, TODAY, policy)
    assert result.findings[0].until == date(2027, 6, 20)
    assert "12 months" in result.findings[0].reason
    assert "7 days" in result.findings[1].reason
    assert result.policy == {"name": "Strict", "version": "2"}


def test_minimum_age_override(tmp_path) -> None:
    policy = load_policy(
        write(tmp_path, "name: x\nversion: 1\nrules:\n  DF-MINOR: {params: {min_age: 21}}\n")
    )
    assert assess({**CLEAR, "age": 20}, TODAY, policy).outcome == "defer"
    assert assess({**CLEAR, "age": 21}, TODAY, policy).rules == ["NT-AGE-UNDER-22"]


def test_reason_override(tmp_path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            "name: x\nversion: 1\nrules:\n  DF-PEEL-LASER: {reason: 'Wait {days} days.'}\n",
        )
    )
    facts = {**CLEAR, "recent_procedures": [{"type": "laser", "date": "2026-11-20"}]}
    assert assess(facts, TODAY, policy).findings[0].reason == "Wait 30 days."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nversion: 1\nrules:\n  EX-NOPE: {severity: review}\n",
            "unknown rule ID 'EX-NOPE'",
        ),
        ("name: x\nversion: 1\nrules:\n  EX-KELOID: {severity: maybe}\n", "severity 'maybe'"),
        (
            "name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {weeks: 2}}\n",
            "unknown parameter 'weeks'",
        ),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {months: -1}}\n", "whole number"),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {months: '6'}}\n", "whole number"),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {months: 2.5}}\n", "whole number"),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: {params: {months: true}}\n", "whole number"),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: {enabled: false}\n", "cannot change enabled"),
        ("name: x\nversion: 1\nrules:\n  DF-SURGERY: review\n", "expected a mapping"),
        (
            "name: x\nversion: 1\nrules:\n  DF-SURGERY: {reason: 'Wait {weeks}.'}\n",
            "unknown parameter",
        ),
        ("version: 1\nrules: {}\n", "'name'"),
        ("name: x\nrules: {}\n", "'version'"),
        ("name: x\nversion: 1\nrule: {}\n", "unknown key(s) rule"),
        ("- just a list\n", "expected a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_policy_file_is_refused_with_a_clear_message(tmp_path, text, message) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_policy_file_is_refused(tmp_path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yml")


def test_the_environment_variable_selects_the_policy(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(POLICY_ENV, str(write(tmp_path, "name: Env clinic\nversion: 3\n")))
    assert policy_from_environment().name == "Env clinic"
    monkeypatch.delenv(POLICY_ENV)
    assert policy_from_environment().name == "needlecheck default policy"


def test_the_example_policy_in_the_repository_loads() -> None:
    policy = load_policy(Path(__file__).parents[2] / "examples" / "clinic-policy.yml")
    assert policy.rule("EX-KELOID").severity == "review"
