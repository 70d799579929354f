"""The front desk: the clinic staff's triage queue, served on localhost:8000.

Pages are rendered on the server with Jinja2; the JSON endpoints are described by
FastAPI's OpenAPI document (/openapi.json). Every page and endpoint but /login, /healthz
and /openapi.json needs a signed-in staff member; clinician-only ones answer 403 to the
front desk. Every view and change of a person's record is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from needlecheck.config import Settings
from needlecheck.frontdesk.caller import add_caller_routes
from needlecheck.frontdesk.events import ConsumerState
from needlecheck.frontdesk.fhir import questionnaire_response
from needlecheck.frontdesk.hosts import HostCheck, frontdesk_hosts
from needlecheck.frontdesk.tokens import same_token
from needlecheck.frontdesk.widget import add_widget_routes
from needlecheck.screening.engine import OUTCOMES
from needlecheck.security.asgi import RequestLimits
from needlecheck.store import activity as activity_store
from needlecheck.store import audit as audit_log
from needlecheck.store import queue as queue_store
from needlecheck.store import staff as staff_store
from needlecheck.store.models import utcnow
from needlecheck.store.repository import InvalidRecord

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "needlecheck_session"
LOGIN_CSRF_COOKIE = "needlecheck_login_csrf"
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


WIDGET_PATHS = ("/widget.js",)


# Record numbers as the database holds them: anything else is a 422, not a failed query.
RECORD_ID_MAX = 2**31 - 1
RecordId = Annotated[int, FastAPIPath(ge=1, le=RECORD_ID_MAX)]
RecordQuery = Annotated[int | None, Query(ge=1, le=RECORD_ID_MAX)]


class NotSignedIn(Exception):
    pass


def create_app(sessions: sessionmaker, settings: Settings | None = None) -> FastAPI:
    """The app over an open session factory; nothing is created at import."""
    settings = settings or Settings.from_environment()
    app = FastAPI(
        title="needlecheck front desk",
        version="1",
        docs_url=None,  # The interactive docs load scripts from a CDN; the JSON is enough.
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    # The event-stream consumer's state; `needlecheck.frontdesk.server` runs the consumer.
    app.state.events = ConsumerState()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # Inside the security headers (a refusal gets them too), before any route: a refused
    # request costs no session lookup or database work.
    app.add_middleware(RequestLimits)
    # Outside the limits, inside the security headers: a forged Host is refused before
    # anything builds a URL from it (the trailing-slash redirect, the demo page).
    app.add_middleware(HostCheck, allowed_hosts=frontdesk_hosts())

    @contextmanager
    def transaction() -> Iterator[Session]:
        try:
            with sessions.begin() as session:
                yield session
        except SQLAlchemyError as error:
            logger.error("database error: %s", error.__class__.__name__)
            raise HTTPException(503, "the database is not reachable; try again shortly") from None

    def queue_version(session: Session) -> str:
        # The queue's records, and the conversations in progress beside them.
        return queue_store.newest_change(session) + "|" + activity_store.newest(session)

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def current(request: Request) -> staff_store.SignedIn:
        with transaction() as session:
            who = staff_store.signed_in(session, request.cookies.get(SESSION_COOKIE))
        if who is None:
            raise NotSignedIn()
        return who

    def clinician(who: staff_store.SignedIn = Depends(current)) -> staff_store.SignedIn:
        if who.role != "clinician":
            raise HTTPException(403, "clinicians only")
        return who

    def check_csrf(who: staff_store.SignedIn, token: str) -> None:
        if not same_token(who.csrf_token, token):
            raise HTTPException(403, "the form expired or did not come from this site; reload")

    def audited(session: Session, who: Any, action: str, **fields: Any) -> None:
        audit_log.audit(
            session, staff_id=who.staff_id, staff_username=who.username, action=action, **fields
        )

    def record_audit(who: staff_store.SignedIn, action: str, **fields: Any) -> None:
        with transaction() as session:
            audited(session, who, action, **fields)

    @contextmanager
    def change() -> Iterator[Session]:
        """A transaction for a change: an unknown record is 404, a refused value 422."""
        try:
            with transaction() as session:
                yield session
        except LookupError as error:
            raise HTTPException(404, str(error)) from None
        except InvalidRecord as error:
            raise HTTPException(422, str(error)) from None

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"outcomes": OUTCOMES, **context}, status_code=status
        )

    def login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
        token = secrets.token_urlsafe(32)
        response = page(request, "login.html", status, csrf_token=token, error=error, who=None)
        _cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return login_page(request, 401)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        return page(request, "error.html", error.status_code, message=error.detail, who=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        path = request.url.path
        # The widget's own routes are loaded into clinics' pages; nothing else may be
        # framed anywhere.
        widget = path in WIDGET_PATHS or path.startswith(("/widget/", "/static/widget/"))
        # A page may widen it (the widget demo talks to the chat server).
        if "content-security-policy" not in response.headers:
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
                + ("" if widget else "; frame-ancestors 'none'")
            )
        if not widget:
            response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.scheme == "https":
            # Behind TLS (directly, or a proxy on this host that says so): browsers keep
            # to HTTPS for a year.
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if not path.startswith("/static/"):
            # Pages hold health data: no copies in browser or proxy caches.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "events": app.state.events.as_json()}

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not same_token(expected, csrf_token):
            return login_page(request, 403, "The sign-in form expired. Please try again.")
        client = client_of(request)
        # One form of the name for the throttle and the check alike: " carol" must not be
        # a fresh name to the throttle and still carol to the password check.
        username = staff_store.normalise_username(username)
        with transaction() as session:
            if staff_store.is_throttled(session, username, client):
                return login_page(
                    request, 429, "Too many failed sign-ins. Wait 15 minutes and try again."
                )
            member = staff_store.authenticate(session, username, password, client)
            if member is None:
                failed = True
            else:
                failed = False
                token = staff_store.open_session(session, member)
                audit_log.audit(
                    session, staff_id=member.id, staff_username=member.username, action="sign_in"
                )
        if failed:
            return login_page(request, 401, "Wrong user name or password.")
        response = RedirectResponse("/", status_code=303)
        _cookie(response, request, SESSION_COOKIE, token, max_age=12 * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(
        request: Request, csrf_token: str = Form(""), who: staff_store.SignedIn = Depends(current)
    ) -> Response:
        check_csrf(who, csrf_token)
        with transaction() as session:
            staff_store.close_session(session, request.cookies.get(SESSION_COOKIE))
            audited(session, who, "sign_out")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def filtered_queue(
        status: str, outcome: str | None, since: date | None, until: date | None, q: str | None
    ) -> list[queue_store.QueueItem]:
        try:
            with transaction() as session:
                return queue_store.queue(
                    session,
                    status=status,
                    outcome=outcome or None,
                    since=since,
                    until=until,
                    search=q or None,
                )
        except InvalidRecord as error:
            raise HTTPException(422, str(error)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def queue_page(
        request: Request,
        status: str = "open",
        outcome: str | None = None,
        since: date | None = None,
        until: date | None = None,
        q: str | None = None,
        who: staff_store.SignedIn = Depends(current),
    ) -> Response:
        items = filtered_queue(status, outcome, since, until, q)
        record_audit(who, "view_queue", detail=f"{len(items)} rows")
        with transaction() as session:
            version = queue_version(session)
            conversations = activity_store.in_progress(session, utcnow())
        return page(
            request,
            "queue.html",
            who=who,
            items=items,
            version=version,
            conversations=conversations,
            events=app.state.events.as_json(),
            statuses=queue_store.STATUS_FILTERS,
            filters={
                "status": status,
                "outcome": outcome or "",
                "since": since.isoformat() if since else "",
                "until": until.isoformat() if until else "",
                "q": q or "",
            },
        )

    @app.get("/queue/rows", response_class=HTMLResponse, include_in_schema=False)
    def queue_rows(
        request: Request,
        status: str = "open",
        outcome: str | None = None,
        since: date | None = None,
        until: date | None = None,
        q: str | None = None,
        who: staff_store.SignedIn = Depends(current),
    ) -> Response:
        items = filtered_queue(status, outcome, since, until, q)
        return page(request, "_rows.html", who=who, items=items)

    @app.get("/queue/activity", response_class=HTMLResponse, include_in_schema=False)
    def queue_activity(request: Request, who: staff_store.SignedIn = Depends(current)) -> Response:
        with transaction() as session:
            conversations = activity_store.in_progress(session, utcnow())
        return page(
            request,
            "_activity.html",
            who=who,
            conversations=conversations,
            events=app.state.events.as_json(),
        )

    @app.get("/api/queue", summary="The queue, highest priority first")
    def api_queue(
        status: str = Query("open", enum=list(queue_store.STATUS_FILTERS)),
        outcome: str | None = Query(None, enum=list(OUTCOMES)),
        since: date | None = None,
        until: date | None = None,
        q: str | None = Query(None, description="a name or part of a phone number"),
        who: staff_store.SignedIn = Depends(current),
    ) -> list[dict[str, Any]]:
        items = filtered_queue(status, outcome, since, until, q)
        record_audit(who, "view_queue", detail=f"{len(items)} rows (api)")
        return [item.as_json() for item in items]

    @app.get("/api/queue/version", summary="Changes whenever a record is added or updated")
    def api_queue_version(who: staff_store.SignedIn = Depends(current)) -> dict[str, str]:
        with transaction() as session:
            return {
                "version": queue_store.newest_change(session) + "|" + activity_store.newest(session)
            }

    @app.get("/screenings/{screening_id}", response_class=HTMLResponse, include_in_schema=False)
    def screening_page(
        request: Request, screening_id: RecordId, who: staff_store.SignedIn = Depends(current)
    ) -> Response:
        with change() as session:
            screening = queue_store.screening_detail(session, screening_id)
            context = {
                "screening": screening,
                "findings": list(screening.findings),
                "overrides": list(screening.overrides),
                "related": queue_store.related(session, screening.conversation),
                "follow_ups": queue_store.follow_ups(session, "screening", screening_id),
            }
            audited(
                session,
                who,
                "view",
                record_type="screening",
                record_id=screening_id,
            )
        return page(request, "screening.html", who=who, **context)

    def record_page(request: Request, kind: str, record_id: int, who: Any) -> Response:
        with change() as session:
            found = queue_store.record(session, kind, record_id)
            context = {
                "kind": kind,
                "item": found,
                "related": queue_store.related(session, found.conversation),
                "follow_ups": queue_store.follow_ups(session, kind, record_id),
            }
            audited(
                session,
                who,
                "view",
                record_type=kind,
                record_id=record_id,
            )
        return page(request, "record.html", who=who, **context)

    @app.get("/contacts/{record_id}", response_class=HTMLResponse, include_in_schema=False)
    def contact_page(
        request: Request, record_id: RecordId, who: staff_store.SignedIn = Depends(current)
    ) -> Response:
        return record_page(request, "contact", record_id, who)

    @app.get("/handoffs/{record_id}", response_class=HTMLResponse, include_in_schema=False)
    def handoff_page(
        request: Request, record_id: RecordId, who: staff_store.SignedIn = Depends(current)
    ) -> Response:
        return record_page(request, "handoff", record_id, who)

    @app.post("/records/{kind}/{record_id}/follow-up", include_in_schema=False)
    def follow_up(
        kind: str,
        record_id: RecordId,
        status: str = Form(...),
        note: str = Form(""),
        csrf_token: str = Form(""),
        who: staff_store.SignedIn = Depends(current),
    ) -> Response:
        check_csrf(who, csrf_token)
        with change() as session:
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

    @app.post("/screenings/{screening_id}/override", include_in_schema=False)
    def override(
        screening_id: RecordId,
        outcome: str = Form(...),
        reason: str = Form(""),
        csrf_token: str = Form(""),
        who: staff_store.SignedIn = Depends(clinician),
    ) -> Response:
        check_csrf(who, csrf_token)
        with change() as session:
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

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request,
        record_type: str | None = None,
        record_id: RecordQuery = None,
        who: staff_store.SignedIn = Depends(clinician),
    ) -> Response:
        with transaction() as session:
            rows = audit_log.entries(session, record_type=record_type, record_id=record_id)
            audited(session, who, "view_audit")
        return page(request, "audit.html", who=who, rows=rows)

    @app.get("/api/audit", summary="The audit log, newest first (clinicians only)")
    def api_audit(
        record_type: str | None = None,
        record_id: RecordQuery = None,
        limit: int = Query(200, ge=1, le=1000),
        who: staff_store.SignedIn = Depends(clinician),
    ) -> list[dict[str, Any]]:
        with transaction() as session:
            rows = audit_log.entries(
                session, record_type=record_type, record_id=record_id, limit=limit
            )
            audited(session, who, "view_audit")
            return [
                {
                    "at": row.at.isoformat(),
                    "staff": row.staff_username,
                    "action": row.action,
                    "record_type": row.record_type,
                    "record_id": row.record_id,
                    "detail": row.detail,
                }
                for row in rows
            ]

    @app.get("/export/queue.csv", summary="The queue as CSV, with the page's filters")
    def export_csv(
        status: str = Query("open", enum=list(queue_store.STATUS_FILTERS)),
        outcome: str | None = Query(None, enum=list(OUTCOMES)),
        since: date | None = None,
        until: date | None = None,
        q: str | None = None,
        who: staff_store.SignedIn = Depends(current),
    ) -> Response:
        items = filtered_queue(status, outcome, since, until, q)
        record_audit(who, "export_csv", detail=f"{len(items)} rows")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for item in items:
            row = item.as_json()
            writer.writerow({key: _csv_cell(row.get(key)) for key in CSV_COLUMNS})
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="needlecheck-queue.csv"'},
        )

    @app.get(
        "/api/screenings/{screening_id}/fhir",
        summary="One screening as a FHIR R4 QuestionnaireResponse",
    )
    def export_fhir(
        screening_id: RecordId, who: staff_store.SignedIn = Depends(current)
    ) -> JSONResponse:
        with change() as session:
            screening = queue_store.screening_detail(session, screening_id)
            resource = questionnaire_response(screening)
            audited(
                session,
                who,
                "export_fhir",
                record_type="screening",
                record_id=screening_id,
            )
        return JSONResponse(resource, media_type="application/fhir+json")

    add_widget_routes(app, sessions, settings, templates)
    add_caller_routes(app, settings, current, check_csrf, page, record_audit)
    return app


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        # Behind TLS (directly or through a proxy that says so) the cookie never leaves it.
        secure=request.url.scheme == "https",
    )


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
