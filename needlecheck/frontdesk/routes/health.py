"""/healthz: polled by probes and `needlecheck status`; no sign-in, no database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from needlecheck.frontdesk.deps import EventsDep
from needlecheck.frontdesk.schemas import Health

router = APIRouter(include_in_schema=False)


# Unset fields stay out: the event stream's counters are there only while it is on.
@router.get("/healthz", response_model=Health, response_model_exclude_unset=True)
def healthz(events: EventsDep) -> dict[str, Any]:
    return {"status": "ok", "events": events.as_json()}
