"""Staff alerts for the open front desk: what static/alerts.js sounds, notifies and counts
in the tab's title (docs/operating.md, "Staff alerts")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from needlecheck.frontdesk.deps import DatabaseDep, Staff
from needlecheck.frontdesk.schemas import StaffAlerts, problems
from needlecheck.store import alerts as alert_store

router = APIRouter()


@router.get(
    "/api/alerts",
    summary="Alerts about records nobody has followed up yet",
    response_model=StaffAlerts,
    responses=problems(401, 503),
)
def api_alerts(db: DatabaseDep, who: Staff) -> dict[str, Any]:
    # Polled every few seconds by every signed-in page (static/alerts.js); it names
    # records by number only (no person, no answer), like /api/queue/version, so it
    # writes no audit entry.
    with db.transaction() as session:
        count, latest, pending = alert_store.pending_for_staff(session)
    return {"count": count, "latest": latest, "alerts": [a.as_json() for a in pending]}
