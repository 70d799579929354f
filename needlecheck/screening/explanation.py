"""What a person is told about an assessment, as message names and values, with no wording.

The one place that decides which headline, which reasons, which steps and which notes a
person reads: the assistant's replies and the website widget's card both render this, in
the clinic's words (the domain's responses), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from needlecheck.screening.engine import OUTCOMES, Assessment

# Severities whose reasons explain the outcome to the person; `note` is for staff only.
EXPLAINED = ("urgent", "exclude", "defer", "review")
# Steps before treatment: plain after a yes, "if the consultation goes ahead" while the
# answer is not yet a yes, and never under a no or urgent advice, which they would contradict.
PREPARATION_BY_OUTCOME = {
    "eligible": "preparation",
    "clinician_review": "preparation_if_treated",
    "defer": "preparation_if_treated",
}

# Every message name an explanation can give; the clinic's responses must have each.
MESSAGES: tuple[str, ...] = (
    *(f"outcome_{outcome}" for outcome in OUTCOMES),
    "outcome_incomplete",
    "outcome_defer_dated",
    *sorted(set(PREPARATION_BY_OUTCOME.values())),
)


@dataclass(frozen=True)
class Explanation:
    """An assessment as the person reads it. Message names ("outcome_defer_dated") are the
    clinic's responses without their channel's prefix."""

    outcome: str
    headline: str
    earliest_date: str | None
    reasons: tuple[str, ...]
    preparation: str | None
    steps: tuple[str, ...]
    # Rules whose staff note the person hears too, where the clinic has words for it.
    note_rules: tuple[str, ...]
    # After urgent advice, "this does not clear you for treatment" would only dilute it.
    disclaimer: bool

    @property
    def values(self) -> dict[str, str]:
        """The values the headline's words take."""
        return {"earliest_date": self.earliest_date} if self.earliest_date else {}


def explain(assessment: Assessment) -> Explanation:
    outcome = assessment.outcome
    earliest = human_date(assessment.earliest_date) if assessment.earliest_date else None
    if outcome is None:
        headline = "outcome_incomplete"
    elif outcome == "defer" and earliest:
        headline = "outcome_defer_dated"
    else:
        headline = f"outcome_{outcome}"
    steps = tuple(f.reason for f in assessment.findings if f.severity == "prepare")
    preparation = PREPARATION_BY_OUTCOME.get(outcome or "") if steps else None
    return Explanation(
        outcome=outcome or "incomplete",
        headline=headline,
        earliest_date=earliest,
        reasons=tuple(_reason_lines(assessment)),
        preparation=preparation,
        steps=steps if preparation else (),
        note_rules=()
        if outcome == "urgent_care"
        else tuple(f.rule for f in assessment.findings if f.severity == "note"),
        disclaimer=outcome != "urgent_care",
    )


def _reason_lines(assessment: Assessment) -> list[str]:
    """Each deferral with its own date where it has one (an undated one says its own
    condition: "until the sunburn has healed")."""
    lines = []
    for finding in assessment.findings:
        if finding.severity not in EXPLAINED:
            continue
        if finding.severity == "defer" and finding.until:
            lines.append(
                f"{finding.reason} For this, the earliest date is {human_date(finding.until)}."
            )
        else:
            lines.append(finding.reason)
    return lines


def human_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"
