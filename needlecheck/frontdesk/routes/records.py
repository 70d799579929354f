"""One record's page (a screening, a contact request, a handoff), its follow-up and a
clinician's override. Every view and change is written to the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from needlecheck.frontdesk.deps import (
    Clinician,
    DatabaseDep,
    RecordId,
    Staff,
    audited,
    check_csrf,
    render,
)
from needlecheck.store import queue as queue_store
from needlecheck.store import staff as staff_store

router = APIRouter(include_in_schema=False)


@router.get("/screenings/{screening_id}", response_class=HTMLResponse)
def screening_page(
    request: Request, screening_id: RecordId, db: DatabaseDep, who: Staff
) -> Response:
    with db.change() as session:
        screening = queue_store.screening_detail(session, screening_id)
        context = {
            "screening": screening,
            "findings": list(screening.findings),
            "overrides": list(screening.overrides),
            "related": queue_store.related(session, screening.conversation),
            "follow_ups": queue_store.follow_ups(session, "screening", screening_id),
        }
        audited(session, who, "view", record_type="screening", record_id=screening_id)
    return render(request, "screening.html", who=who, **context)


def record_page(
    request: Request, db: DatabaseDep, kind: str, record_id: int, who: staff_store.SignedIn
) -> Response:
    with db.change() as session:
        found = queue_store.record(session, kind, record_id)
        context = {
            "kind": kind,
            "item": found,
            "related": queue_store.related(session, found.conversation),
            "follow_ups": queue_store.follow_ups(session, kind, record_id),
        }
        audited(session, who, "view", record_type=kind, record_id=record_id)
    return render(request, "record.html", who=who, **context)


@router.get("/contacts/{record_id}", response_class=HTMLResponse)
def contact_page(request: Request, record_id: RecordId, db: DatabaseDep, who: Staff) -> Response:
    return record_page(request, db, "contact", record_id, who)


@router.get("/handoffs/{record_id}", response_class=HTMLResponse)
def handoff_page(request: Request, record_id: RecordId, db: DatabaseDep, who: Staff) -> Response:
    return record_page(request, db, "handoff", record_id, who)


@router.post("/records/{kind}/{record_id}/follow-up")
def follow_up(
    kind: str,
    record_id: RecordId,
    db: DatabaseDep,
    who: Staff,
    status: str = Form(...),
    note: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(who, csrf_token)
    with db.change() as session:
        queue_store.set_follow_up(
            session,
            kind,
            record_id,
            status=status,
            note=note,
            staff_id=who.staff_id,
            staff_username=who.username,
        )
        audited(
            session,
            who,
            "follow_up",
            record_type=kind,
            record_id=record_id,
            detail=f"status {status}",
        )
    return RedirectResponse(f"/{kind}s/{record_id}", status_code=303)


@router.post("/screenings/{screening_id}/override")
def override(
    screening_id: RecordId,
    db: DatabaseDep,
    who: Clinician,
    outcome: str = Form(...),
    reason: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(who, csrf_token)
    with db.change() as session:
        queue_store.add_override(
            session,
            screening_id,
            outcome=outcome,
            reason=reason,
            role=who.role,
            staff_id=who.staff_id,
            staff_username=who.username,
        )
        audited(
            session,
            who,
            "override",
            record_type="screening",
            record_id=screening_id,
            detail=f"outcome {outcome}",
        )
    return RedirectResponse(f"/screenings/{screening_id}", status_code=303)
