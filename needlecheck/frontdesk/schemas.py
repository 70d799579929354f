"""What the front desk's JSON routes answer, as Pydantic (v1) models, each route's
`response_model` (and `responses` for its refusals): /openapi.json describes them.

A route that returns data has it validated against its model by FastAPI; the FHIR export
and the widget's erasure build their own Response (a media type, CORS headers), which
the tests check against the description instead (tests/frontdesk/test_openapi_models.py,
and the schema check of tests/frontdesk/test_openapi_fuzz.py). Every model forbids fields
it does not name, so an answer that gains a field fails until its model names it too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Extra, Field

from needlecheck.screening.engine import OUTCOMES
from needlecheck.store.models import (
    ALERT_KINDS,
    CONTACT_STATUSES,
    HANDOFF_STATUSES,
    RECORD_TYPES,
    SCREENING_STATUSES,
)
from needlecheck.store.queue import RANK_LABELS

# The values the database's check constraints allow.
Outcome = Literal[OUTCOMES]
RecordStatus = Literal[
    tuple(dict.fromkeys(SCREENING_STATUSES + CONTACT_STATUSES + HANDOFF_STATUSES))
]
Kind = Literal[RECORD_TYPES]
Priority = Literal[tuple(RANK_LABELS.values())]
STORED_TIME = "ISO 8601 date and time in UTC, with its offset"


class Model(BaseModel):
    class Config:
        extra = Extra.forbid

        @staticmethod
        def schema_extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
            # Pydantic 1 describes an optional field by its type alone; the answer has null
            # there, which OpenAPI 3.1 (JSON Schema) allows only when the schema says so.
            properties = schema.get("properties", {})
            for field in model.__fields__.values():
                if field.allow_none and field.alias in properties:
                    described = properties[field.alias]
                    kept = {k: described.pop(k) for k in ("title", "description") if k in described}
                    properties[field.alias] = {**kept, "anyOf": [described, {"type": "null"}]}


class Problem(Model):
    """Why a request was refused."""

    detail: str | list[dict[str, Any]] = Field(
        ..., description="a sentence, or FastAPI's list of invalid inputs"
    )


PROBLEMS = {
    401: "not signed in",
    403: "not allowed (a clinician-only route, or a missing or wrong CSRF token)",
    404: "no such record",
    409: "someone else holds the conversation, or it is not taken over",
    422: "an input that is not valid",
    502: "the assistant refused",
    503: "the database or the assistant is not reachable; try again shortly",
}


def problem(description: str) -> dict[str, Any]:
    """A `responses` entry for an error status: a Problem in JSON, whatever the route's own
    media type (CSV, FHIR)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": Problem.schema()}},
    }


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route that can answer these error statuses."""
    return {code: problem(PROBLEMS[code]) for code in codes}


class QueueRow(Model):
    kind: Kind
    id: int
    priority: Priority
    rank: int = Field(..., ge=0, le=max(RANK_LABELS), description="0 is called first")
    conversation_id: str
    status: RecordStatus
    created_at: str = Field(..., format="date-time", description=STORED_TIME)
    outcome: Outcome | None = Field(None, description="the engine's outcome (screenings)")
    override: Outcome | None = Field(None, description="a clinician's outcome, if any")
    earliest_date: str | None = Field(None, format="date")
    name: str | None
    phone: str | None
    email: str | None
    summary: str


class QueuePageModel(Model):
    """A page of the filtered queue; `total` counts every row the filter matches."""

    items: list[QueueRow]
    total: int = Field(..., ge=0, description="rows matching the filter, on every page")
    page: int = Field(..., ge=1)
    per_page: int = Field(..., ge=1)
    pages: int = Field(..., ge=1)
    next: str | None = Field(None, description="the next page, with the same filter")
    previous: str | None = Field(None, description="the previous page, with the same filter")


class QueueVersion(Model):
    version: str = Field(..., description="changes whenever a record is added or updated")


class AuditRow(Model):
    at: str = Field(..., format="date-time", description=STORED_TIME)
    staff: str = Field(..., description="a user name, 'visitor', 'system' or 'command line'")
    action: str
    record_type: Kind | None
    record_id: int | None
    detail: str | None


class FhirCoding(Model):
    system: str
    code: str


class FhirAnswer(Model):
    # One of these, as FHIR R4's QuestionnaireResponse.item.answer.value[x].
    valueBoolean: bool | None
    valueInteger: int | None
    valueDecimal: float | None
    valueDate: str | None = Field(None, format="date")
    valueString: str | None
    valueCoding: FhirCoding | None


class FhirItem(Model):
    linkId: str
    text: str
    answer: list[FhirAnswer]


class FhirIdentifier(Model):
    system: str
    value: str


class FhirQuestionnaireResponse(Model):
    """An HL7 FHIR R4 QuestionnaireResponse (https://hl7.org/fhir/R4/questionnaireresponse.html)."""

    resourceType: Literal["QuestionnaireResponse"]
    id: str
    identifier: FhirIdentifier
    questionnaire: str
    status: Literal["completed", "in-progress"]
    authored: str = Field(..., format="date-time")
    item: list[FhirItem]


class EventStream(Model):
    state: Literal["off", "connected", "reconnecting"]
    received: int | None
    rejected: int | None
    reconnects: int | None
    last_error: str | None


class Health(Model):
    status: Literal["ok"]
    events: EventStream


class CallerButton(Model):
    title: str
    payload: str


class CallerReply(Model):
    text: str
    buttons: list[CallerButton]
    card: dict[str, Any] | None = Field(
        None, description="a screening result, as the widget shows it"
    )


class Erased(Model):
    deleted: Literal[True]


class ErasureIncomplete(Model):
    """The conversation is not erased, or not for certain: nothing is reported as erased
    that may not be. The erasure is all or nothing, so the clinic's records are kept
    whenever a part fails, and trying again can finish it."""

    deleted: Literal[False]
    failed: Literal["assistant", "records"] = Field(
        ...,
        description="the part that could not be erased: the assistant's copy of the "
        "conversation (Rasa's tracker store) or the clinic's records (its database)",
    )
    reason: Literal["timeout", "refused", "failed", "unsupported", "unavailable", "unreadable"] = (
        Field(
            ...,
            description="timeout: the assistant did not answer in time, so its copy may or may "
            "not be deleted; refused: it answered with an error; failed, unsupported: its "
            "tracker store failed, or is of a kind needlecheck cannot erase; unavailable, "
            "unreadable: the database is not reachable, or holds what its keys cannot read",
        )
    )
    retry: Literal[True]
    detail: str = Field(..., description="what happened and what to do, in a sentence")


class TakeoverLine(Model):
    """One message of a conversation taken over."""

    index: int = Field(..., description="its place among the conversation's events")
    speaker: Literal["person", "assistant", "staff"]
    staff: str | None = Field(None, description="the member of staff who wrote it")
    text: str
    at: float = Field(..., description="Unix time")


class TakeoverFinding(Model):
    rule: str
    severity: str
    reason: str


class TakeoverState(Model):
    """A conversation as the takeover page shows it, polled every two seconds."""

    conversation: str
    holder: str | None = Field(None, description="who has taken it over; null: nobody")
    paused: bool = Field(..., description="the assistant is paused for it")
    channel: str | None
    messages: list[TakeoverLine]
    outcome: Outcome | None = Field(None, description="from the answers given so far")
    findings: list[TakeoverFinding]
    answered: int = Field(..., description="how many screening questions are answered")


class TakeoverSent(Model):
    """A staff message sent to the person."""

    delivered: int = Field(..., description="messages the channel accepted")
    channel: str | None


class PendingAlert(Model):
    """An alert about a record nobody has followed up yet. It names the record by type and
    number only, as every alert does (docs/operating.md, "Staff alerts")."""

    id: int = Field(..., ge=1)
    kind: Literal[ALERT_KINDS] = Field(
        ...,
        description="urgent: an urgent screening; handoff: a person asked for a person; "
        "waiting: that person is still waiting after the clinic's waiting time",
    )
    record_type: Kind
    record_id: int = Field(..., ge=1)
    path: str = Field(..., description="the record's page in the front desk")
    created_at: str = Field(..., description="ISO 8601 date and time in UTC, with its offset")


class StaffAlerts(Model):
    """What the open queue page alerts staff about (a sound, a notification, the count in
    the tab's title)."""

    count: int = Field(..., ge=0, description="records with an alert nobody has followed up")
    latest: int = Field(
        ...,
        ge=0,
        description="the newest alert's ID, followed up or not (0: none yet): a page "
        "notifies only of alerts newer than the newest it has seen",
    )
    alerts: list[PendingAlert] = Field(..., description="newest first, at most 50")
