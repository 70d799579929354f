"""Exports: the queue as CSV (with the page's filters), one screening as FHIR R4."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from needlecheck.frontdesk import clock
from needlecheck.frontdesk.deps import DatabaseDep, QueueFilterDep, RecordId, Staff, audited
from needlecheck.frontdesk.fhir import questionnaire_response
from needlecheck.frontdesk.schemas import FhirQuestionnaireResponse, problems
from needlecheck.store import queue as queue_store

CSV_COLUMNS = (
    "priority",
    "kind",
    "id",
    "status",
    "outcome",
    "override",
    "earliest_date",
    "created_at",
    "conversation_id",
    "name",
    "phone",
    "email",
    "summary",
)

router = APIRouter()


class CsvResponse(Response):
    media_type = "text/csv"


class FhirResponse(JSONResponse):
    media_type = "application/fhir+json"


@router.get(
    "/export/queue.csv",
    summary="The queue as CSV, with the page's filters",
    response_class=CsvResponse,
    responses=problems(401, 422, 503),
)
def export_csv(filters: QueueFilterDep, db: DatabaseDep, who: Staff) -> Response:
    items = filters.items(db)
    db.audit(who, "export_csv", detail=f"{len(items)} rows")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        row = item.as_json()
        # The clinic's wall-clock time, with its offset: a spreadsheet shows what the page
        # showed, and the offset says which zone (and which side of a clock change).
        row["created_at"] = clock.iso(item.created_at, filters.zone)
        writer.writerow({key: _csv_cell(row.get(key)) for key in CSV_COLUMNS})
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="needlecheck-queue.csv"'},
    )


@router.get(
    "/api/screenings/{screening_id}/fhir",
    summary="One screening as a FHIR R4 QuestionnaireResponse",
    response_model=FhirQuestionnaireResponse,
    response_class=FhirResponse,
    responses=problems(401, 404, 422, 503),
)
def export_fhir(screening_id: RecordId, db: DatabaseDep, who: Staff) -> Response:
    with db.change() as session:
        screening = queue_store.screening_detail(session, screening_id)
        resource = questionnaire_response(screening)
        audited(session, who, "export_fhir", record_type="screening", record_id=screening_id)
    # As fhir.py built and validated it (FHIR's own rules), not re-serialised by the model.
    return FhirResponse(resource)


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
