"""The front desk's routes, one APIRouter per concern (docs/frontdesk-code.md)."""

from __future__ import annotations

from needlecheck.frontdesk.routes import (
    alerts,
    audit,
    caller,
    exports,
    health,
    overview,
    queue,
    records,
    staff,
    takeover,
    widget,
)

# In the order `create_app` includes them.
ROUTERS = (
    health.router,
    staff.router,
    queue.router,
    alerts.router,
    records.router,
    audit.router,
    overview.router,
    exports.router,
    widget.router,
    caller.router,
    takeover.router,
)
