"""The front desk: the clinic staff's triage queue, served on localhost:8000.

Pages are rendered on the server with Jinja2; the JSON endpoints are described by
FastAPI's OpenAPI document (/openapi.json). Every page and endpoint but /login, /healthz,
/openapi.json and the widget's needs a signed-in staff member; clinician-only ones answer
403 to the front desk. Every view and change of a person's record is written to the audit
log.

The routes are in needlecheck.frontdesk.routes, one APIRouter per concern; what they
share (settings, the database, the signed-in member, pages) is in
needlecheck.frontdesk.deps, read from `app.state`, which `create_app` fills.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from needlecheck.config import Settings
from needlecheck.frontdesk import clock
from needlecheck.frontdesk.deps import Database, NotSignedIn, render
from needlecheck.frontdesk.events import ConsumerState
from needlecheck.frontdesk.hosts import HostCheck, frontdesk_hosts
from needlecheck.frontdesk.redirects import requested
from needlecheck.frontdesk.routes import ROUTERS
from needlecheck.frontdesk.routes.staff import login_page
from needlecheck.frontdesk.routes.widget import ERASURE_THREADS
from needlecheck.security.asgi import RequestLimits

HERE = Path(__file__).parent
WIDGET_PATHS = ("/widget.js",)


def create_app(sessions: sessionmaker, settings: Settings | None = None) -> FastAPI:
    """The app over an open session factory; nothing is created at import."""
    app = FastAPI(
        title="needlecheck front desk",
        version="1",
        docs_url=None,  # The interactive docs load scripts from a CDN; the JSON is enough.
        redoc_url=None,
    )
    app.state.settings = settings or Settings.from_environment()
    app.state.database = Database(sessions)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    # Times on pages in the clinic's zone (NEEDLECHECK_TIMEZONE), never the server's UTC.
    clock.install(app.state.templates.env, app.state.settings)
    # The event-stream consumer's state; `needlecheck.frontdesk.server` runs the consumer.
    app.state.events = ConsumerState()
    app.state.erasure_threads = anyio.CapacityLimiter(ERASURE_THREADS)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # Inside the security headers (a refusal gets them too), before any route: a refused
    # request costs no session lookup or database work.
    app.add_middleware(RequestLimits)
    # Outside the limits, inside the security headers: a forged Host is refused before
    # anything builds a URL from it (the trailing-slash redirect, the demo page).
    app.add_middleware(HostCheck, allowed_hosts=frontdesk_hosts())
    app.middleware("http")(security_headers)
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
    if request.url.path.startswith("/api/") or request.method != "GET":
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    # After signing in, the page that was asked for (a local path only: redirects.py).
    return login_page(request, 401, next_page=requested(request.url.path, request.url.query))


async def http_error(request: Request, error: StarletteHTTPException) -> Response:
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)
    return render(request, "error.html", error.status_code, message=error.detail, who=None)


async def security_headers(request: Request, call_next: Callable) -> Response:
    response = await call_next(request)
    path = request.url.path
    # The widget's own routes are loaded into clinics' pages; nothing else may be framed
    # anywhere.
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
        # Behind TLS (directly, or a proxy on this host that says so): browsers keep to
        # HTTPS for a year.
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if not path.startswith("/static/"):
        # Pages hold health data: no copies in browser or proxy caches.
        response.headers["Cache-Control"] = "no-store"
    return response
