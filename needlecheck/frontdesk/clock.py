"""Times as the clinic reads them: in its time zone (NEEDLECHECK_TIMEZONE), not UTC.

The database keeps every time in UTC (SQLite gives it back without its offset, so a time
without one is UTC). Pages show the clinic's wall-clock time through the `clinic_time`
Jinja filter; CSV exports and the JSON API give ISO 8601 with the offset (`iso`), so that
nothing read from them depends on knowing the zone.
"""

from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

from needlecheck.config import Settings
from needlecheck.store import clinic_days
from needlecheck.store.models import as_utc

# Tables: the zone is named in the column's heading; elsewhere the abbreviation (EST, EDT,
# GMT, BST) says which side of a daylight-saving change a time falls.
TABLE = "%Y-%m-%d %H:%M"
FULL = "%Y-%m-%d %H:%M %Z"


def clinic_zone(settings: Settings) -> tzinfo:
    """The clinic's zone; the server's own zone when NEEDLECHECK_TIMEZONE is unset."""
    return clinic_days.clinic_zone(settings.timezone)


def zone_name(settings: Settings) -> str:
    """The zone's name for a heading: "America/New_York", "UTC" (for the system's own
    spellings of it, such as "Etc/UTC"), or the server's abbreviation."""
    zone = clinic_zone(settings)
    if isinstance(zone, ZoneInfo):
        return "UTC" if zone.key in UTC_NAMES else zone.key
    return datetime.now().astimezone().tzname() or "UTC"


UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"}


def parse(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return as_utc(value)


def local(value: datetime | str | None, zone: tzinfo) -> datetime | None:
    """The moment in the clinic's zone (None for no or an unreadable time)."""
    moment = parse(value)
    return moment.astimezone(zone) if moment is not None else None


def clinic_time(value: datetime | str | None, zone: tzinfo, fmt: str = TABLE) -> str:
    """For a page: the time in the clinic's zone, formatted; "" for no time."""
    moment = local(value, zone)
    if moment is None:
        return "" if value in (None, "") else str(value)
    return moment.strftime(fmt)


def iso(value: datetime | None, zone: tzinfo | None = None) -> str | None:
    """ISO 8601 with its offset: in `zone` when given (CSV exports), else UTC (JSON)."""
    if value is None:
        return None
    moment = as_utc(value)
    return moment.astimezone(zone or timezone.utc).isoformat()


def clinic_date(value: datetime, zone: tzinfo) -> date:
    """The clinic's calendar day of a stored time (the queue's date filters)."""
    return as_utc(value).astimezone(zone).date()


def install(templates_env, settings: Settings) -> None:
    """The `clinic_time` filter (`{{ t | clinic_time }}`, `{{ t | clinic_time(FULL) }}`),
    `clinic_iso` for `<time datetime>`, and `clinic_zone` (its name) for headings."""
    zone = clinic_zone(settings)
    templates_env.filters["clinic_time"] = lambda value, fmt=TABLE: clinic_time(value, zone, fmt)
    templates_env.filters["clinic_iso"] = lambda value: (
        local(value, zone).isoformat() if local(value, zone) else ""
    )
    templates_env.globals["clinic_zone"] = zone_name(settings)
    templates_env.globals["FULL_TIME"] = FULL
