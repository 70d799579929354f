"""The audit log, for clinicians: its page and its JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from needlecheck.frontdesk import clock
from needlecheck.frontdesk.deps import Clinician, DatabaseDep, RecordQuery, audited, render
from needlecheck.frontdesk.schemas import AuditRow, problems
from needlecheck.store import audit as audit_log

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    db: DatabaseDep,
    who: Clinician,
    record_type: str | None = None,
    record_id: RecordQuery = None,
) -> Response:
    with db.transaction() as session:
        rows = audit_log.entries(session, record_type=record_type, record_id=record_id)
        audited(session, who, "view_audit")
    return render(request, "audit.html", who=who, rows=rows)


@router.get(
    "/api/audit",
    summary="The audit log, newest first (clinicians only)",
    response_model=list[AuditRow],
    responses=problems(401, 403, 422, 503),
)
def api_audit(
    db: DatabaseDep,
    who: Clinician,
    record_type: str | None = None,
    record_id: RecordQuery = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = audit_log.entries(session, record_type=record_type, record_id=record_id, limit=limit)
        audited(session, who, "view_audit")
        return [
            {
                "at": clock.iso(row.at),
                "staff": row.staff_username,
                "action": row.action,
                "record_type": row.record_type,
                "record_id": row.record_id,
                "detail": row.detail,
            }
            for row in rows
        ]
