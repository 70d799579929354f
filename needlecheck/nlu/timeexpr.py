"""Time expressions in what people write, turned into calendar dates.

"two months ago", "in March", "last week", "10 days ago", "since 2019", "as a teenager"
(with the person's age) all become a date relative to the conversation's date. When an
expression names a whole period ("in March", "in 2019", "last year") the latest day of it
is taken: a later date can only lengthen a waiting period, never shorten one.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from word2number import w2n

from needlecheck.screening.dates import add_months

# Number words people write for counts and ages ("ten years ago", "thirty-four").
_NUMBER_WORD = (
    r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundred)"
)
NUMBER = rf"(?:\d{{1,3}}|{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*)"
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_UNIT = r"(?P<unit>day|week|fortnight|month|year|wk|mth|mo|yr)s?"
_UNIT_NAMES = {"wk": "week", "mth": "month", "mo": "month", "yr": "year"}
# A season ends on the last day of its last month (northern hemisphere: a clinic whose
# seasons differ edits this); winter runs into the next year.
_SEASONS = {"spring": 5, "summer": 8, "autumn": 11, "fall": 11, "winter": 2}
_SEASON = r"(?P<season>spring|summer|autumn|fall|winter)"
_WEEKDAYS = {
    name: i
    for i, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
# "a couple of" is two; "a few" and "several" are taken as two as well: the most recent
# reading keeps a waiting period on the safe side.
_FUZZY_COUNTS = {
    "a": 1,
    "an": 1,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "couple": 2,
    "a few": 2,
    "few": 2,
    "several": 2,
}
_FUZZY = r"(?:a couple of|a couple|couple of|couple|a few|several|few|an|a)"
# Ages a period of life ends at, for "as a teenager" and the like.
_LIFE_STAGES = {
    "as a teenager": 19,
    "as a teen": 19,
    "in my teens": 19,
    "in high school": 18,
    "in my twenties": 29,
    "in my early 20s": 23,
    "in my early twenties": 23,
    "in my mid 20s": 26,
    "in my mid twenties": 26,
    "in my late 20s": 29,
    "in my late twenties": 29,
    "in my 30s": 39,
    "in my thirties": 39,
    "in my early 30s": 33,
    "in my 20s": 29,
    "in college": 22,
    "as a baby": 1,
    "when i was a teenager": 19,
    "when i was a teen": 19,
    "as a toddler": 3,
    "as a child": 11,
    "as a kid": 11,
    "when i was little": 11,
    "when i was a kid": 11,
    "when i was a child": 11,
    "at uni": 22,
    "at university": 22,
    "in university": 22,
}


@dataclass(frozen=True)
class TimeExpression:
    """A time expression found in a text; exactly one of `when` or `at_age` is set."""

    start: int
    end: int
    text: str
    when: date | None = None
    # "as a teenager" / "when I was 16": the age then; a date needs the person's age now.
    at_age: int | None = None

    def resolve(self, age_now: int | None, today: date) -> date | None:
        """The date, using the person's current age for a life-stage expression."""
        if self.when is not None:
            return self.when
        if self.at_age is None or age_now is None or age_now < self.at_age:
            return None
        # The last day they were still that age is at most (now - then - 1) years ago.
        years = max(age_now - self.at_age - 1, 0)
        return add_months(today, -12 * years)


def parse_number(text: str) -> int | None:
    """'34', 'thirty-four', 'thirty four' -> 34; None when it is not a number."""
    cleaned = text.strip().lower().replace("-", " ")
    if cleaned.isdigit():
        return int(cleaned)
    try:
        value = w2n.word_to_num(cleaned)
    except ValueError:
        return None
    return value if isinstance(value, int) else None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _past_month(month: int, today: date, year: int | None) -> date:
    if year is not None:
        return min(_month_end(year, month), today)
    # "in March" means the most recent March that has begun.
    candidate_year = today.year if month <= today.month else today.year - 1
    return min(_month_end(candidate_year, month), today)


def _ago(count: int, unit: str, today: date) -> date:
    unit = _UNIT_NAMES.get(unit, unit)
    if unit == "fortnight":
        return today - timedelta(weeks=2 * count)
    if unit == "day":
        return today - timedelta(days=count)
    if unit == "week":
        return today - timedelta(weeks=count)
    if unit == "month":
        return add_months(today, -count)
    return add_months(today, -12 * count)


def _season(name: str, year: int | None, today: date) -> date | None:
    """The last day of the named season: of `year`, or the latest one that has ended."""
    month = _SEASONS[name]
    if year is not None:
        end_year = year + 1 if name == "winter" else year
        end = _month_end(end_year, month)
        return min(end, today)
    end = _month_end(today.year, month)
    return end if end <= today else _month_end(today.year - 1, month)


def _weekday(name: str, today: date) -> date:
    """The latest such day before today ("on friday", "last saturday")."""
    back = (today.weekday() - _WEEKDAYS[name]) % 7 or 7
    return today - timedelta(days=back)


def _last(unit: str, today: date) -> date:
    """'last week/month/year': the latest day of that period."""
    if unit == "week":
        return today - timedelta(days=today.weekday() + 1)
    if unit == "month":
        first = today.replace(day=1)
        return first - timedelta(days=1)
    return date(today.year - 1, 12, 31)


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b"), "iso"),
    # Day first, as written outside the US: 14/06/2025, 3.4.24.
    (
        re.compile(r"\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>\d{4}|\d{2})\b"),
        "numeric",
    ),
    # "the 90s", "the 2010s" (not "my 20s", an age: _LIFE_STAGES)
    (re.compile(r"\bthe (?P<decade>(?:19|20)?\d)0'?s\b|\b(?P<full>(?:19|20)\d)0'?s\b"), "decade"),
    (
        re.compile(
            r"\b(?:(?P<which>last|this past|at|over)\s+)?(?P<holiday>christmas|xmas|halloween|new year'?s?(?: eve| day)?)"
            r"(?:\s+(?P<year>(?:19|20)\d{2}))?\b"
        ),
        "holiday",
    ),
    (re.compile(rf"\b(?P<count>{NUMBER})\s+{_UNIT}\s+(?:ago|back)\b"), "ago"),
    (re.compile(rf"\b(?P<fuzzy>{_FUZZY})\s+{_UNIT}\s+(?:ago|back)\b"), "fuzzy_ago"),
    (re.compile(r"\b(?:last|past)\s+(?P<unit>week|month|year)\b"), "last"),
    (
        re.compile(
            rf"\b(?:(?P<prefix>last|this past|in the|in|during the|during|over the|since the|since)\s+)?"
            rf"{_SEASON}(?:\s+(?:of\s+)?(?P<year>(?:19|20)\d{{2}}))?\b"
        ),
        "season",
    ),
    (
        re.compile(
            r"\b(?:last|this past|on|this|past)\s+(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
        ),
        "weekday",
    ),
    (re.compile(r"\b(?:a|one)\s+fortnight\s+(?:ago|back)\b"), "fortnight"),
    (re.compile(r"\b(?:this|earlier this)\s+(?P<unit>week|month|year)\b"), "this"),
    (re.compile(r"\b(?:the\s+)?day\s+before\s+yesterday\b"), "day_before_yesterday"),
    (re.compile(r"\byesterday\b"), "yesterday"),
    (re.compile(r"\b(?:today|this morning)\b"), "today"),
    (
        re.compile(
            rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>{_MONTH})(?:,?\s+(?P<year>\d{{4}}))?\b"
        ),
        "day_month",
    ),
    (
        re.compile(
            rf"\b(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{{4}}))?\b"
        ),
        "day_month",
    ),
    (
        re.compile(rf"\b(?:since\s+)?(?P<month>{_MONTH})(?:\s+(?:of\s+)?(?P<year>\d{{4}}))?\b"),
        "month",
    ),
    (
        re.compile(
            r"\b(?:in|since|during|around|back in|from|until|till)\s+(?P<year>(?:19|20)\d{2})\b"
        ),
        "year",
    ),
    (re.compile(r"\b(?P<year>(?:19|20)\d{2})\b"), "year"),
    (re.compile(r"\b(?P<stage>" + "|".join(map(re.escape, _LIFE_STAGES)) + r")\b"), "stage"),
    (re.compile(rf"\b(?:when i was|at age|at the age of|aged)\s+(?P<age>{NUMBER})\b"), "age"),
    (re.compile(r"\bat (?P<age>\d{1,2})\b(?![.:,]\d|\s*(?:am|pm|o'?clock|%|mg))"), "age"),
]


def find_time_expressions(text: str, today: date) -> list[TimeExpression]:
    """Every past time expression in `text`, left to right, without overlaps."""
    lowered = text.lower()
    found: list[TimeExpression] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(lowered):
            start, end = match.span()
            if any(start < t_end and end > t_start for t_start, t_end in taken):
                continue
            expression = _interpret(kind, match, today)
            if expression is None:
                continue
            when, at_age = expression
            if when is not None and when > today:
                # A future date is a plan, not a past event.
                continue
            taken.append((start, end))
            found.append(TimeExpression(start, end, text[start:end], when, at_age))
    return sorted(found, key=lambda e: e.start)


def _interpret(
    kind: str, match: re.Match[str], today: date
) -> tuple[date | None, int | None] | None:
    groups = match.groupdict()
    try:
        if kind == "iso":
            return date.fromisoformat(groups["iso"]), None
        if kind == "ago":
            count = parse_number(groups["count"])
            return None if count is None else (_ago(count, groups["unit"], today), None)
        if kind == "numeric":
            year = int(groups["y"])
            year = year + 2000 if year < 100 else year
            return date(year, int(groups["m"]), int(groups["d"])), None
        if kind == "decade":
            digits = groups.get("decade") or groups["full"]
            start = int(digits) * 10 if len(digits) > 1 else 1900 + int(digits) * 10
            if len(digits) == 3:
                start = int(digits) * 10
            return min(date(start + 9, 12, 31), today), None
        if kind == "holiday":
            name = groups["holiday"]
            month, day = (12, 25) if name in ("christmas", "xmas") else (10, 31)
            if name.startswith("new year"):
                month, day = 1, 1
            year = int(groups["year"]) if groups.get("year") else None
            if year is None:
                year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
            return date(year, month, day), None
        if kind == "season":
            year = int(groups["year"]) if groups.get("year") else None
            if year is None and not groups.get("prefix"):
                # "I had a fall", "summer holiday plans": not a time without more.
                return None
            return _season(groups["season"], year, today), None
        if kind == "weekday":
            return _weekday(groups["weekday"], today), None
        if kind == "fortnight":
            return today - timedelta(weeks=2), None
        if kind == "fuzzy_ago":
            return _ago(_FUZZY_COUNTS[groups["fuzzy"]], groups["unit"], today), None
        if kind == "last":
            return _last(groups["unit"], today), None
        if kind == "this":
            return today, None
        if kind == "day_before_yesterday":
            return today - timedelta(days=2), None
        if kind == "yesterday":
            return today - timedelta(days=1), None
        if kind == "today":
            return today, None
        if kind == "day_month":
            month = _MONTHS[groups["month"].rstrip(".")]
            year = int(groups["year"]) if groups.get("year") else None
            day = int(groups["day"])
            if year is None:
                year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
            return date(year, month, day), None
        if kind == "month":
            # "may" and "march" are also ordinary words: take them as months only with a
            # year or after a preposition that introduces a time.
            month_word = groups["month"].rstrip(".")
            year = int(groups["year"]) if groups.get("year") else None
            before = match.string[: match.start()].rstrip().split(" ")[-1:]
            if (
                year is None
                and not match.group(0).startswith("since")
                and (
                    not before
                    or before[0]
                    not in {
                        "in",
                        "since",
                        "during",
                        "around",
                        "early",
                        "late",
                        "mid",
                        "last",
                        "until",
                        "till",
                        "from",
                        "of",
                        "end",
                        "start",
                        "beginning",
                    }
                )
            ):
                return None
            month = _MONTHS[month_word]
            if year is None and before == ["last"] and month == (today.month - 2) % 12 + 1:
                # "last November" said in December: the one a year before (the month
                # just gone is "last month").
                latest = _past_month(month, today, None)
                return _past_month(month, today, latest.year - 1), None
            return _past_month(month, today, year), None
        if kind == "year":
            year = int(groups["year"])
            if year > today.year:
                return None
            return (today if year == today.year else date(year, 12, 31)), None
        if kind == "stage":
            return None, _LIFE_STAGES[groups["stage"]]
        if kind == "age":
            age = parse_number(groups["age"])
            return None if age is None else (None, age)
    except ValueError:
        return None
    return None
