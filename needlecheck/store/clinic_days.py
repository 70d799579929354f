"""The clinic's days: its time zone, the UTC instants of its midnights, and the pieces of
a range with one UTC offset each (summer time), for the Overview and its summary."""

from __future__ import annotations

import contextlib
import os
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from needlecheck.store.models import as_utc

FIXED = "UTC"
LOCALTIME = "/etc/localtime"


def clinic_zone(setting: str | None) -> tzinfo:
    """NEEDLECHECK_TIMEZONE, or else the server's own zone: by its name where the system
    gives one (`TZ`, /etc/localtime), so that summer time is followed; only failing that,
    its current offset."""
    if setting:
        return ZoneInfo(setting)
    return server_zone() or datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def server_zone() -> ZoneInfo | None:
    """The server's zone by its IANA name, or None when the system does not say."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):  # not a link: no name to read
        candidates.append(os.readlink(LOCALTIME).partition("zoneinfo/")[2])
    for name in candidates:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            continue
    return None


def zone_name(zone: tzinfo) -> str:
    """A name the zone can be found again by: its IANA key, or `UTC+60` for a fixed offset."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None) or timedelta()
    return f"{FIXED}{int(offset.total_seconds() // 60):+d}"


def zone_named(name: str) -> tzinfo:
    if name.startswith(FIXED) and name[len(FIXED) :][:1] in ("+", "-"):
        return timezone(timedelta(minutes=int(name[len(FIXED) :])))
    return ZoneInfo(name)


def local_day(moment: datetime, zone: tzinfo) -> date:
    return as_utc(moment).astimezone(zone).date()


def midnight(day: date, zone: tzinfo) -> datetime:
    """The UTC instant `day` begins in `zone`. Computed here, not in SQL: SQLite has no
    time zones, and a day across a clock change is 23 or 25 hours. A midnight that a clock
    change skips is the instant of the change (zoneinfo's fold=0), still the day's first."""
    return datetime.combine(day, time(), zone).astimezone(timezone.utc)


def bounds(start: date, end: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants of `start`'s local midnight and of the midnight after `end`."""
    return midnight(start, zone), midnight(end + timedelta(days=1), zone)


def offset_pieces(
    first: datetime, last: datetime, zone: tzinfo
) -> list[tuple[datetime, datetime, int]]:
    """[first, last) cut where the zone's UTC offset changes: (from, to, offset minutes)."""

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset() or timedelta()
        return int(delta.total_seconds() // 60)

    pieces: list[tuple[datetime, datetime, int]] = []
    at = first
    while at < last:
        here = offset(at)
        # Walk day by day to the first day whose offset differs, then find the minute.
        step = at
        while step < last and offset(step) == here:
            step += timedelta(days=1)
        if step >= last and offset(last - timedelta(seconds=1)) == here:
            pieces.append((at, last, here))
            break
        low, high = step - timedelta(days=1), min(step, last)
        while high - low > timedelta(minutes=1):
            middle = low + (high - low) / 2
            if offset(middle) == here:
                low = middle
            else:
                high = middle
        cut = high.replace(second=0, microsecond=0)
        pieces.append((at, cut, here))
        at = cut
    return pieces


def local_date_sql(session: Session, column, minutes: int) -> ColumnElement:
    """The date of a stored UTC time `minutes` east of UTC, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        shifted = column.op("AT TIME ZONE")("UTC") + func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.date(shifted)
    return func.date(column, f"{minutes:+d} minutes")


def as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
