"""Calendar arithmetic for waiting periods (docs/screening-policy.md, "Waiting periods")."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(start: date, months: int) -> date:
    """The same day-of-month `months` later, clamped to the end of a shorter month.

    docs/screening-policy.md, "Waiting periods": 6 months after 31 May is 30 November.
    """
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def add_period(start: date, *, days: int = 0, months: int = 0) -> date:
    return add_months(start, months) + timedelta(days=days)


def parse_iso_date(value: object) -> date:
    """Parse a strict ISO calendar date (YYYY-MM-DD); anything else is a ValueError."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid calendar date (YYYY-MM-DD)") from None
