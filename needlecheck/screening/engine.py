"""The screening engine: facts and a date in, an assessment out (docs/screening-policy.md).

Plain Python with no Rasa, spaCy or TensorFlow import, so the command line, the action
server and the front desk can all call it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from needlecheck.screening.facts import Facts, validate_facts
from needlecheck.screening.policy import Policy, default_policy
from needlecheck.screening.rules import OUTCOME_BY_SEVERITY, SEVERITIES

OUTCOMES: tuple[str, ...] = ("urgent_care", "not_suitable", "defer", "clinician_review", "eligible")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    until: date | None
    reason: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Assessment:
    outcome: str | None
    findings: tuple[Finding, ...]
    earliest_date: date | None
    missing: tuple[str, ...]
    policy: Mapping[str, str]
    today: date
    facts: Facts

    @property
    def rules(self) -> list[str]:
        return [finding.rule for finding in self.findings]

    def to_json(self) -> dict[str, Any]:
        """The fields of docs/screening-policy.md, "An assessment"."""
        return {
            "outcome": self.outcome,
            "findings": [finding.to_json() for finding in self.findings],
            "earliest_date": self.earliest_date.isoformat() if self.earliest_date else None,
            "missing": list(self.missing),
            "policy": dict(self.policy),
        }


def assess(
    facts: Mapping[str, Any] | Facts, today: date, policy: Policy | None = None
) -> Assessment:
    """Apply every rule of `policy` (the default one when None) to `facts` as of `today`.

    Raw facts are validated first; invalid facts raise FactError and never get an outcome.
    """
    policy = policy or default_policy()
    checked = facts if isinstance(facts, Facts) else validate_facts(facts)
    findings: list[Finding] = []
    for rule in policy.rules:
        match = rule.condition(checked, today)
        if match.triggered:
            findings.append(Finding(rule.id, rule.severity, match.until, rule.reason, rule.source))
    # Stable sort: by precedence, and in rules-file order within one severity.
    findings.sort(key=lambda finding: SEVERITIES.index(finding.severity))
    missing = tuple(checked.missing())
    outcome = _outcome(findings, missing)
    return Assessment(
        outcome=outcome,
        findings=tuple(findings),
        earliest_date=_earliest_date(findings) if outcome == "defer" else None,
        missing=missing,
        policy=policy.info(),
        today=today,
        facts=checked,
    )


def _outcome(findings: list[Finding], missing: tuple[str, ...]) -> str | None:
    for severity, outcome in OUTCOME_BY_SEVERITY.items():
        if any(finding.severity == severity for finding in findings):
            return outcome
    # Safety: an unanswered question (or an unknown date) never turns into "eligible".
    return None if missing else "eligible"


def _earliest_date(findings: list[Finding]) -> date | None:
    """The latest `until` among defer findings, or None when any of them has no date."""
    dates = [finding.until for finding in findings if finding.severity == "defer"]
    if not dates or any(until is None for until in dates):
        return None
    return max(d for d in dates if d is not None)


def outcome_rank(outcome: str | None) -> int:
    """Severity of an outcome for comparisons: `None` (nothing decided yet) ranks as eligible."""
    return len(OUTCOMES) - 1 - OUTCOMES.index(outcome or "eligible")
