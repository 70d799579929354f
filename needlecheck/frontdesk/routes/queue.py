"""The queue: its page, the rows and the panel the page refreshes, and its JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from needlecheck.frontdesk.deps import (
    DatabaseDep,
    EventsDep,
    QueueFilter,
    QueueFilterDep,
    Staff,
    render,
)
from needlecheck.frontdesk.schemas import QueuePageModel, QueueVersion, problems
from needlecheck.store import activity as activity_store
from needlecheck.store import queue as queue_store
from needlecheck.store.models import utcnow

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def queue_page(
    request: Request, filters: QueueFilterDep, db: DatabaseDep, events: EventsDep, who: Staff
) -> Response:
    page = filters.page(db)
    db.audit(who, "view_queue", detail=f"{len(page.items)} of {page.total} rows")
    with db.transaction() as session:
        version = db.queue_version(session)
        conversations = activity_store.in_progress(session, utcnow())
    return render(
        request,
        "queue.html",
        who=who,
        items=page.items,
        page=page,
        pager=pager(filters, page),
        version=version,
        conversations=conversations,
        events=events.as_json(),
        statuses=queue_store.STATUS_FILTERS,
        filters=filters.as_form(),
    )


@router.get("/queue/rows", response_class=HTMLResponse, include_in_schema=False)
def queue_rows(request: Request, filters: QueueFilterDep, db: DatabaseDep, who: Staff) -> Response:
    return render(request, "_rows.html", who=who, items=filters.page(db).items)


@router.get("/queue/pager", response_class=HTMLResponse, include_in_schema=False)
def queue_pager(request: Request, filters: QueueFilterDep, db: DatabaseDep, who: Staff) -> Response:
    """The count and the page links, refreshed with the rows."""
    page = filters.page(db)
    return render(request, "_pager.html", who=who, page=page, pager=pager(filters, page))


def pager(filters: QueueFilter, page: queue_store.QueuePage) -> dict[str, str | None]:
    """The links to the next and previous page, keeping the filter."""
    return {
        "next": "/?" + filters.query(page.page + 1) if page.has_next else None,
        # From past the last page, back to the last one.
        "previous": "/?" + filters.query(min(page.page - 1, page.pages))
        if page.has_previous
        else None,
        "export": "/export/queue.csv?" + filters.query(),
    }


@router.get("/queue/activity", response_class=HTMLResponse, include_in_schema=False)
def queue_activity(request: Request, db: DatabaseDep, events: EventsDep, who: Staff) -> Response:
    with db.transaction() as session:
        conversations = activity_store.in_progress(session, utcnow())
    return render(
        request, "_activity.html", who=who, conversations=conversations, events=events.as_json()
    )


@router.get(
    "/api/queue",
    summary="The queue, highest priority first, a page at a time",
    response_model=QueuePageModel,
    responses=problems(401, 422, 503),
)
def api_queue(filters: QueueFilterDep, db: DatabaseDep, who: Staff) -> dict[str, Any]:
    page = filters.page(db)
    db.audit(who, "view_queue", detail=f"{len(page.items)} of {page.total} rows (api)")
    return {
        "items": [item.as_json() for item in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "next": "/api/queue?" + filters.query(page.page + 1) if page.has_next else None,
        "previous": "/api/queue?" + filters.query(min(page.page - 1, page.pages))
        if page.has_previous
        else None,
    }


@router.get(
    "/api/queue/version",
    summary="Changes whenever a record is added or updated",
    response_model=QueueVersion,
    responses=problems(401, 503),
)
def api_queue_version(db: DatabaseDep, who: Staff) -> dict[str, str]:
    with db.transaction() as session:
        return {"version": db.queue_version(session)}
