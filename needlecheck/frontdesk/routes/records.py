"""One record's page (a screening, a contact request, a handoff), its follow-up, a
clinician's override and a clinician's erasure of the record's conversation. Every view
and change is written to the audit log."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from needlecheck.frontdesk.deps import (
    Clinician,
    DatabaseDep,
    RecordId,
    SettingsDep,
    Staff,
    audited,
    check_csrf,
    render,
)
from needlecheck.frontdesk.erasure import NotErased, erase_record_conversation
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


# What a clinician types to confirm an erasure: a click alone cannot erase anything.
ERASE_WORD = "ERASE"


def erasure_context(db: DatabaseDep, kind: str, record_id: int) -> dict:
    """What the confirmation shows: the record, everything else of its conversation that
    goes with it, and the conversation itself."""
    with db.change() as session:
        found = queue_store.record(session, kind, record_id)
        related = queue_store.related(session, found.conversation)
        transcript = next(
            (
                s.transcript
                for s in reversed(related["screenings"] + related["handoffs"])
                if s.transcript
            ),
            [],
        )
        return {
            "kind": kind,
            "record_id": record_id,
            "conversation": found.conversation,
            "related": related,
            "transcript": transcript,
            "erase_word": ERASE_WORD,
        }


@router.get("/records/{kind}/{record_id}/erase", response_class=HTMLResponse)
def erase_confirmation(
    request: Request, kind: str, record_id: RecordId, db: DatabaseDep, who: Clinician
) -> Response:
    context = erasure_context(db, kind, record_id)
    db.audit(who, "view", record_type=kind, record_id=record_id, detail="erase confirmation")
    return render(request, "erase.html", who=who, **context)


@router.post("/records/{kind}/{record_id}/erase", response_class=HTMLResponse)
def erase(
    request: Request,
    kind: str,
    record_id: RecordId,
    db: DatabaseDep,
    settings: SettingsDep,
    who: Clinician,
    confirm: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Erase the record's conversation everywhere (as `needlecheck erase --conversation`),
    all or nothing. Runs in the thread pool: an in-memory tracker store is erased over
    HTTP, which can take up to tracker_events.RASA_TIMEOUT."""
    check_csrf(who, csrf_token)
    if confirm.strip().upper() != ERASE_WORD:
        context = erasure_context(db, kind, record_id)
        error = f"Type {ERASE_WORD} in the box to confirm. Nothing was erased."
        return render(request, "erase.html", 422, who=who, error=error, **context)
    try:
        deleted = erase_record_conversation(db.sessions, settings, kind, record_id, who)
    except LookupError as error:
        raise HTTPException(404, str(error)) from None
    except NotErased as incomplete:
        # When the database is what failed, the attempt cannot be logged; the page still
        # says that nothing was erased.
        with contextlib.suppress(HTTPException):
            db.audit(
                who,
                "erase",
                record_type=kind,
                record_id=record_id,
                detail=f"not done: {incomplete.failed} {incomplete.reason}; nothing erased",
            )
        context = erasure_context_or_none(db, kind, record_id)
        return render(
            request,
            "erase.html",
            503,
            who=who,
            failed=f"Nothing was erased. {incomplete.detail}",
            **context,
        )
    counts = {k: n for k, n in sorted(deleted.items()) if n and k != "conversation"}
    return render(request, "erased.html", who=who, kind=kind, record_id=record_id, counts=counts)


def erasure_context_or_none(db: DatabaseDep, kind: str, record_id: int) -> dict:
    """The confirmation's context again, or a bare one when the database is down."""
    try:
        return erasure_context(db, kind, record_id)
    except HTTPException:
        return {
            "kind": kind,
            "record_id": record_id,
            "conversation": None,
            "related": {"screenings": [], "contacts": [], "handoffs": []},
            "transcript": [],
            "erase_word": ERASE_WORD,
        }
