"""What the front desk's routes share, taken from `request.app.state` (set by `create_app`).

Routes get them as parameters: `db: DatabaseDep`, `settings: SettingsDep`, `who: Staff` or
`who: Clinician` (a signed-in member; anyone else gets the sign-in page or a 401), and
`filters: QueueFilterDep` (the queue's filters, from the query string).

The form token is checked by `check_csrf(who, token)` in the route's body, not by a
dependency: FastAPI runs dependencies before it validates a route's own inputs, so a
dependency would answer 403 where the front desk has always answered 422 first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from needlecheck.config import Settings
from needlecheck.frontdesk import clock
from needlecheck.frontdesk.events import ConsumerState
from needlecheck.screening.engine import OUTCOMES
from needlecheck.security.tokens import same_token
from needlecheck.store import activity as activity_store
from needlecheck.store import audit as audit_log
from needlecheck.store import queue as queue_store
from needlecheck.store import staff as staff_store
from needlecheck.store.repository import InvalidRecord

logger = logging.getLogger(__name__)

SESSION_COOKIE = "needlecheck_session"

# Record numbers as the database holds them: anything else is a 422, not a failed query.
RECORD_ID_MAX = 2**31 - 1
RecordId = Annotated[int, FastAPIPath(ge=1, le=RECORD_ID_MAX)]
RecordQuery = Annotated[int | None, Query(ge=1, le=RECORD_ID_MAX)]


class NotSignedIn(Exception):
    """No valid session cookie: `create_app`'s handler answers with the sign-in page or 401."""


class Database:
    """The session factory, with the front desk's rules for its transactions."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction; a database that fails is a 503, never a 500."""
        try:
            with self.sessions.begin() as session:
                yield session
        except SQLAlchemyError as error:
            logger.error("database error: %s", error.__class__.__name__)
            raise HTTPException(503, "the database is not reachable; try again shortly") from None

    @contextmanager
    def change(self) -> Iterator[Session]:
        """A transaction for a change: an unknown record is 404, a refused value 422."""
        try:
            with self.transaction() as session:
                yield session
        except LookupError as error:
            raise HTTPException(404, str(error)) from None
        except InvalidRecord as error:
            raise HTTPException(422, str(error)) from None

    def audit(self, who: staff_store.SignedIn, action: str, **fields: Any) -> None:
        """One audit entry, in a transaction of its own."""
        with self.transaction() as session:
            audited(session, who, action, **fields)

    def queue_version(self, session: Session) -> str:
        """Changes with the queue's records and with the conversations in progress."""
        return queue_store.newest_change(session) + "|" + activity_store.newest(session)


def audited(session: Session, who: staff_store.SignedIn, action: str, **fields: Any) -> None:
    audit_log.audit(
        session, staff_id=who.staff_id, staff_username=who.username, action=action, **fields
    )


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def get_events(request: Request) -> ConsumerState:
    """The event-stream consumer's state (`needlecheck.frontdesk.server` runs it)."""
    return request.app.state.events


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
EventsDep = Annotated[ConsumerState, Depends(get_events)]


def current(request: Request, db: DatabaseDep) -> staff_store.SignedIn:
    """The signed-in staff member behind the session cookie."""
    with db.transaction() as session:
        who = staff_store.signed_in(session, request.cookies.get(SESSION_COOKIE))
    if who is None:
        raise NotSignedIn()
    return who


Staff = Annotated[staff_store.SignedIn, Depends(current)]


def clinician(who: Staff) -> staff_store.SignedIn:
    if who.role != "clinician":
        raise HTTPException(403, "clinicians only")
    return who


Clinician = Annotated[staff_store.SignedIn, Depends(clinician)]


def check_csrf(who: staff_store.SignedIn, token: str) -> None:
    """The form's (or the X-CSRF-Token header's) token must be the member's session's."""
    if not same_token(who.csrf_token, token):
        raise HTTPException(403, "the form expired or did not come from this site; reload")


class QueueFilter:
    """The queue's filters, as the queue page, its rows, the API and the CSV export take
    them from the query string, and the page of the filtered queue (`page`, `per_page`).
    `since` and `until` are the clinic's calendar days (NEEDLECHECK_TIMEZONE)."""

    def __init__(
        self,
        request: Request,
        status: str = Query("open", enum=list(queue_store.STATUS_FILTERS)),
        outcome: str | None = Query(None, enum=list(OUTCOMES)),
        since: date | None = None,
        until: date | None = None,
        q: str | None = Query(None, description="a name or part of a phone number"),
        page: int = Query(1, ge=1, le=RECORD_ID_MAX, description="the page, from 1"),
        per_page: int = Query(
            queue_store.PAGE_SIZE, ge=1, le=queue_store.PAGE_SIZE_MAX, description="rows a page"
        ),
    ) -> None:
        self.status, self.outcome, self.since, self.until, self.q = status, outcome, since, until, q
        self.page_number, self.per_page = page, per_page
        self.zone = clock.clinic_zone(get_settings(request))

    def items(self, db: Database) -> list[queue_store.QueueItem]:
        """The whole filtered queue (the CSV export takes every row, not a page)."""
        try:
            with db.transaction() as session:
                return queue_store.queue(session, **self._store_filters())
        except InvalidRecord as error:
            raise HTTPException(422, str(error)) from None

    def page(self, db: Database) -> queue_store.QueuePage:
        """The asked-for page of the filtered queue, and how many rows the filter matches."""
        try:
            with db.transaction() as session:
                return queue_store.queue_page(
                    session, page=self.page_number, per_page=self.per_page, **self._store_filters()
                )
        except InvalidRecord as error:
            raise HTTPException(422, str(error)) from None

    def _store_filters(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "outcome": self.outcome or None,
            "since": self.since,
            "until": self.until,
            "search": self.q or None,
            "zone": self.zone,
        }

    def as_form(self) -> dict[str, str]:
        """The values the queue page's filter form shows."""
        return {
            "status": self.status,
            "outcome": self.outcome or "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.q or "",
        }

    def query(self, page: int | None = None) -> str:
        """The query string of these filters (and of `page`, when given): the links to the
        next and previous page and the CSV export keep the filter."""
        values = {key: value for key, value in self.as_form().items() if value}
        if page is not None:
            values["page"] = str(page)
            if self.per_page != queue_store.PAGE_SIZE:
                values["per_page"] = str(self.per_page)
        return urlencode(values)


QueueFilterDep = Annotated[QueueFilter, Depends()]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from the templates; every page may name the outcomes."""
    return get_templates(request).TemplateResponse(
        request, name, {"outcomes": OUTCOMES, **context}, status_code=status
    )


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
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
