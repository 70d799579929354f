"""The audit log: who viewed or changed a person's record, and when.

Entries name the staff member, the action and the record (type and number); they never
hold a name, phone number, email address or health answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from needlecheck.store.models import AuditEntry

ACTIONS = (
    "sign_in",
    "sign_out",
    "view_queue",
    "view",
    "follow_up",
    "override",
    "export_csv",
    "export_fhir",
    "view_audit",
    "erase",
    "purge",
    "caller_screening",
    "takeover",
    "takeover_message",
    "hand_back",
)


def counted(deleted: Mapping[str, int]) -> str:
    """What a deletion removed, for an audit row's detail: "1 contact, 2 screening"."""
    return ", ".join(f"{n} {kind}" for kind, n in sorted(deleted.items()) if n) or "nothing"


def audit(
    session: Session,
    *,
    staff_id: int | None,
    staff_username: str,
    action: str,
    record_type: str | None = None,
    record_id: int | None = None,
    detail: str | None = None,
) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        staff_id=staff_id,
        staff_username=staff_username,
        action=action,
        record_type=record_type,
        record_id=record_id,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session,
    *,
    record_type: str | None = None,
    record_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[AuditEntry]:
    statement = select(AuditEntry)
    if record_type is not None:
        statement = statement.where(AuditEntry.record_type == record_type)
    if record_id is not None:
        statement = statement.where(AuditEntry.record_id == record_id)
    statement = statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return list(session.execute(statement.limit(limit).offset(offset)).scalars())
