"""One screening as an HL7 FHIR R4 QuestionnaireResponse (JSON).

Validated with fhir.resources' R4B models, whose QuestionnaireResponse has the same
shape as R4's (its default models are R5, where `questionnaire` became required).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from needlecheck.store.models import Screening

QUESTIONNAIRE = "urn:needlecheck:questionnaire:microneedling-screening"
OUTCOME_SYSTEM = "urn:needlecheck:screening-outcome"
RULE_SYSTEM = "urn:needlecheck:screening-rule"


def questionnaire_response(screening: Screening) -> dict[str, Any]:
    """The resource as a JSON-ready dict; raises if it would not validate."""
    items: list[dict[str, Any]] = [
        {"linkId": fact, "text": fact.replace("_", " "), "answer": _answers(value)}
        for fact, value in sorted((screening.facts or {}).items())
        if _answers(value)
    ]
    if screening.outcome:
        items.append(
            {
                "linkId": "outcome",
                "text": "screening outcome (the engine's; not a diagnosis)",
                "answer": [{"valueCoding": {"system": OUTCOME_SYSTEM, "code": screening.outcome}}],
            }
        )
    for override in screening.overrides:
        items.append(
            {
                "linkId": f"override-{override.id}",
                "text": f"clinician's outcome: {override.reason}",
                "answer": [{"valueCoding": {"system": OUTCOME_SYSTEM, "code": override.outcome}}],
            }
        )
    for finding in screening.findings:
        answer: list[dict[str, Any]] = [
            {"valueCoding": {"system": RULE_SYSTEM, "code": finding.rule_id}},
            {"valueString": finding.reason},
        ]
        if finding.until:
            answer.append({"valueDate": finding.until.isoformat()})
        items.append(
            {
                "linkId": f"finding-{finding.position + 1}",
                "text": f"finding ({finding.severity}); source: {finding.source}",
                "answer": answer,
            }
        )
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": f"screening-{screening.id}",
        "identifier": {"system": "urn:needlecheck:screening", "value": str(screening.id)},
        "questionnaire": QUESTIONNAIRE,
        "status": "completed" if screening.outcome else "in-progress",
        "authored": _instant(screening.created_at),
        "item": items,
    }
    # Validation raises on any shape R4 does not allow.
    QuestionnaireResponse.parse_obj(resource)
    return resource


def _answers(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return [answer for item in value for answer in _answers(item)]
    if isinstance(value, bool):
        return [{"valueBoolean": value}]
    if isinstance(value, int):
        return [{"valueInteger": value}]
    if isinstance(value, float):
        return [{"valueDecimal": value}]
    if isinstance(value, date):
        return [{"valueDate": value.isoformat()}]
    if isinstance(value, dict):
        return [{"valueString": json.dumps(value, sort_keys=True)}]
    text = str(value).strip()
    return [{"valueString": text}] if text else []


def _instant(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="seconds")
