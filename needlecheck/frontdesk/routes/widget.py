"""The website chat widget's public routes: /widget.js, its demo page, the "delete my
conversation" endpoint the widget calls from the clinic's site (no sign-in; CORS for the
sites in NEEDLECHECK_ALLOWED_ORIGINS), and the earliest-date calendar file a result links
to (/widget/ics, signed: needlecheck.booking).

/widget.js is socket.io-client's browser build and the widget's own code in one function
scope, built once per process: one request, no globals on the clinic's page, no CDN.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from needlecheck import booking
from needlecheck.channels.limits import CALLER_ID, WIDGET_SESSION_ID
from needlecheck.clinic import Clinic, ClinicFileError
from needlecheck.config import Settings, shared_secret
from needlecheck.frontdesk.deps import DatabaseDep, SettingsDep, TemplatesDep
from needlecheck.frontdesk.erasure import NotErased, erase_widget_conversation
from needlecheck.frontdesk.schemas import Erased, ErasureIncomplete, problem

STATIC = Path(__file__).parents[1] / "static"
NOT_THE_WIDGETS = "only a conversation started in this website's chat can be deleted here"
# Erasures waiting on a slow assistant hold at most this many worker threads, so that they
# never take all of the pool the staff's pages run in (`create_app` makes the limiter).
ERASURE_THREADS = 8
# Seconds a visitor's retry should wait after an incomplete erasure.
RETRY_AFTER = 60

router = APIRouter()


@functools.cache
def bundle() -> tuple[bytes, str]:
    """The widget script and its ETag."""
    vendor = (STATIC / "vendor" / "socket.io.min.js").read_text()
    own = (STATIC / "widget" / "widget.js").read_text()
    # A local `module` makes socket.io-client's UMD wrapper export `io` into this scope
    # instead of onto the page's window.
    text = (
        "/* needlecheck chat widget. Includes socket.io-client 4.8.1 (MIT License). */\n"
        "(function () {\nvar module = { exports: {} }; var exports = module.exports;\n"
        f"{vendor}\nvar io = module.exports;\n{own}\n}})();\n"
    )
    body = text.encode()
    return body, hashlib.sha256(body).hexdigest()[:16]


@router.get("/widget.js", include_in_schema=False)
def widget_script(request: Request) -> Response:
    body, etag = bundle()
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript", headers=headers)


@router.get("/demo", response_class=HTMLResponse, include_in_schema=False)
def demo(request: Request, settings: SettingsDep, templates: TemplatesDep) -> Response:
    server = settings.chat_server_url
    websocket = server.replace("http", "ws", 1)
    config = {
        "serverUrl": server,
        "clinicName": "Example Skin Clinic",
        "greeting": "Hello! Thinking about microneedling? I can help you get ready.",
        "language": "en",
        "colors": {"primary": "#0b5d57"},
    }
    response = templates.TemplateResponse(
        request,
        "demo.html",
        {"config": json.dumps(config, indent=2), "frontdesk": str(request.base_url)[:-1]},
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; connect-src 'self' {server} {websocket}; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def allowed(settings: Settings, origin: str | None) -> bool:
    return bool(origin) and origin.rstrip("/") in settings.widget_origins


def cors(request: Request, settings: Settings, response: Response) -> Response:
    origin = request.headers.get("origin")
    if allowed(settings, origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


@router.options("/widget/erase", include_in_schema=False)
def erase_preflight(request: Request, settings: SettingsDep) -> Response:
    response = Response(status_code=204)
    if allowed(settings, request.headers.get("origin")):
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return cors(request, settings, response)


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, RecursionError):
        # Not JSON, not UTF-8, or nested deeper than the parser recurses (50,000
        # brackets): a 422 like any other wrong body, never a 500.
        return None


@router.post(
    "/widget/erase",
    summary="Delete a website conversation (the widget's button)",
    response_model=Erased,
    responses={
        403: problem("a site that may not use the widget, or a conversation it did not start"),
        422: problem("no widget session ID in the body"),
        503: {"model": ErasureIncomplete, "description": "not erased (or not certainly)"},
    },
)
async def erase_conversation(request: Request, settings: SettingsDep, db: DatabaseDep) -> Response:
    origin = request.headers.get("origin")
    if origin and not allowed(settings, origin):
        return JSONResponse({"detail": "this site may not use the widget"}, status_code=403)
    body = await json_body(request)
    session_id = body.get("session_id") if isinstance(body, dict) else None
    if not isinstance(session_id, str) or not WIDGET_SESSION_ID.match(session_id):
        return cors(
            request,
            settings,
            JSONResponse({"detail": "session_id must be the widget's session ID"}, 422),
        )
    if CALLER_ID.match(session_id):
        # The shape of a caller screening's ID: never the widget's, whatever is stored.
        return cors(request, settings, JSONResponse({"detail": NOT_THE_WIDGETS}, 403))
    try:
        # The database and the assistant (up to 10 s each) in a worker thread: a slow
        # assistant must not hold up the event loop, and so every other request.
        erasure = await anyio.to_thread.run_sync(
            erase_widget_conversation,
            db.sessions,
            settings,
            session_id,
            limiter=request.app.state.erasure_threads,
        )
    except NotErased as incomplete:
        answer = {
            "deleted": False,
            "failed": incomplete.failed,
            "reason": incomplete.reason,
            "retry": True,
            "detail": incomplete.detail,
        }
        headers = {"Retry-After": str(RETRY_AFTER)}
        return cors(request, settings, JSONResponse(answer, 503, headers=headers))
    if erasure == "not the widget's":
        return cors(request, settings, JSONResponse({"detail": NOT_THE_WIDGETS}, 403))
    return cors(request, settings, JSONResponse({"deleted": True}))


@router.get("/widget/ics", include_in_schema=False)
def earliest_date_calendar(
    settings: SettingsDep,
    day: str = Query("", alias="date", max_length=10),
    sig: str = Query("", max_length=64),
) -> Response:
    """The calendar file (RFC 5545) of a deferred person's earliest date, as the result
    offered it: signed with the front desk's secret, so no other date can be fetched."""
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise HTTPException(422, "date must be a date of the form YYYY-MM-DD") from None
    if not booking.signed(wanted, sig, shared_secret(settings.var_dir)):
        raise HTTPException(403, "this calendar link is not one the assistant gave")
    try:
        name = Clinic.load().details.get("name")
    except ClinicFileError:
        name = None
    return Response(
        booking.ics_text(wanted, name),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="earliest-consultation-date.ics"'},
    )
