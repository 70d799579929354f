"""Signing in and out. The sign-in form carries a token of its own (in a cookie), since
no session exists yet to hold one; failed sign-ins are throttled per name and address."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from needlecheck.frontdesk.deps import (
    SESSION_COOKIE,
    DatabaseDep,
    Staff,
    audited,
    check_csrf,
    render,
    set_cookie,
)
from needlecheck.frontdesk.redirects import HOME, safe_next
from needlecheck.security.tokens import same_token
from needlecheck.store import audit as audit_log
from needlecheck.store import staff as staff_store

LOGIN_CSRF_COOKIE = "needlecheck_login_csrf"

router = APIRouter(include_in_schema=False)


def login_page(
    request: Request, status: int = 200, error: str | None = None, next_page: str | None = None
) -> Response:
    """The sign-in form, with a fresh form token in its cookie; after signing in, the
    member goes to `next_page` (only a local path: anything else is the queue)."""
    token = secrets.token_urlsafe(32)
    target = safe_next(next_page)
    response = render(
        request,
        "login.html",
        status,
        csrf_token=token,
        error=error,
        who=None,
        next_page=target if target != HOME else None,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return login_page(request, next_page=next)


@router.post("/login")
def login(
    request: Request,
    db: DatabaseDep,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not same_token(expected, csrf_token):
        return login_page(request, 403, "The sign-in form expired. Please try again.", next)
    client = client_of(request)
    # One form of the name for the throttle and the check alike: " carol" must not be
    # a fresh name to the throttle and still carol to the password check.
    username = staff_store.normalise_username(username)
    with db.transaction() as session:
        if staff_store.is_throttled(session, username, client):
            return login_page(
                request, 429, "Too many failed sign-ins. Wait 15 minutes and try again.", next
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
        return login_page(request, 401, "Wrong user name or password.", next)
    # The page they asked for before signing in, if it is one of this front desk's.
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token, max_age=12 * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, db: DatabaseDep, who: Staff, csrf_token: str = Form("")) -> Response:
    check_csrf(who, csrf_token)
    with db.transaction() as session:
        staff_store.close_session(session, request.cookies.get(SESSION_COOKIE))
        audited(session, who, "sign_out")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
