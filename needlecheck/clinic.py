"""The clinic's own details and its answers to questions about it (clinic.yml).

Clinics edit the file; the assistant reads it when it first answers a clinic question.
An answer whose placeholders lack a value falls back to its default, so an unfilled file
still gives plain, honest answers.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import yaml

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "clinic.yml"
CLINIC_ENV = "NEEDLECHECK_CLINIC"
EMERGENCY_NUMBER = re.compile(r"[0-9]{2,4}")
DETAILS = ("name", "phone", "address", "opening_hours", "emergency_number")
# Said wherever a text sends a person to emergency services, when the file names no number.
NO_EMERGENCY_NUMBER = "your local emergency number"
# The age from which a person agrees to the health questions on their own (18 in the UK);
# a younger person is asked again, to involve a parent or guardian (docs/operating.md).
ADULT_AGE = 18
ADULT_AGES = range(16, 22)
# How long a person who asked for a person may wait before the clinic calls back.
HANDOFF_WAIT_MINUTES = 15
HANDOFF_WAIT_RANGE = range(1, 241)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


# The placeholders a booking link may hold, each filled URL-encoded (or its query
# parameter dropped when the value is not known).
BOOKING_PLACEHOLDERS = ("name", "consultation")
BOOKING_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Booking services whose own query parameters prefill the form, for a link with no
# placeholders: Calendly takes `name` and the answers `a1`, `a2`...; Cal.com `name` and
# `notes`.
BOOKING_PREFILL = {
    "calendly.com": {"name": "name", "consultation": "a1"},
    "cal.com": {"name": "name", "consultation": "notes"},
}


class ClinicFileError(ValueError):
    """A clinic file that cannot be used, naming the place it went wrong."""


@dataclass(frozen=True)
class Clinic:
    details: dict[str, str] = field(default_factory=dict)
    answers: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    adult_age: int = ADULT_AGE
    # The clinic's online booking page (https), offered after the result.
    booking_url: str | None = None

    def booking_link(self, name: str | None, consultation: str | None) -> str | None:
        """The booking page with what is known prefilled: the person's name (when they
        gave it) and the suggested consultation. A link with `{name}` or `{consultation}`
        gets them there, URL-encoded, and loses the query parameter of a value that is
        not known; a Calendly or Cal.com link without placeholders gets that service's
        own parameters; any other link is given as it is. None when no link is set."""
        if not self.booking_url:
            return None
        values = {"name": (name or "").strip(), "consultation": (consultation or "").strip()}
        parts = urlsplit(self.booking_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if BOOKING_PLACEHOLDER.search(self.booking_url):
            kept = []
            for key, value in query:
                wanted = BOOKING_PLACEHOLDER.findall(value)
                if any(not values.get(p) for p in wanted):
                    continue  # not known: no empty or literal "{name}" in the form
                kept.append(
                    (key, BOOKING_PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), value))
                )
            path = BOOKING_PLACEHOLDER.sub(
                lambda m: quote(values.get(m.group(1), ""), safe=""), parts.path
            )
            return urlunsplit(
                (parts.scheme, parts.netloc, path, urlencode(kept, quote_via=quote), parts.fragment)
            )
        host = (parts.hostname or "").lower()
        prefill = next(
            (
                p
                for domain, p in BOOKING_PREFILL.items()
                if host == domain or host.endswith("." + domain)
            ),
            None,
        )
        if prefill is None:
            return self.booking_url
        present = {key for key, _ in query}
        for field_name, parameter in prefill.items():
            if values[field_name] and parameter not in present:
                query.append((parameter, values[field_name]))
        return urlunsplit(
            (
                parts.scheme,
                parts.netloc,
                parts.path,
                urlencode(query, quote_via=quote),
                parts.fragment,
            )
        )

    handoff_wait_minutes: int = HANDOFF_WAIT_MINUTES
    # Weekday (0 is Monday) -> (open, close), in the clinic's time zone; None: not given,
    # so the clinic counts as open (a person's request for a person is never refused).
    hours: dict[int, tuple[time, time]] | None = None

    def is_open(self, now: datetime) -> bool:
        """Whether the clinic is open at `now` (already in the clinic's time zone)."""
        if self.hours is None:
            return True
        span = self.hours.get(now.weekday())
        return span is not None and span[0] <= now.time().replace(tzinfo=None) < span[1]

    def answer(self, topic: str) -> str | None:
        """The answer to a clinic question (`clinic_price`...), or None for an unknown topic."""
        if topic not in self.answers:
            return None
        text, default = self.answers[topic]
        if text:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            if all(self.details.get(name) for name in names):
                return text.format(**{name: self.details[name] for name in names})
        return default

    def response_variables(self) -> dict[str, str]:
        """What the assistant's texts may name besides slots: `{emergency_number}` ("999")
        and `{call_the_clinic}` ("call the clinic on 020 7946 0000 (Monday to Friday 9am to
        6pm)", or "contact the clinic" while the file gives no phone)."""
        phone = self.details.get("phone")
        hours = self.details.get("opening_hours")
        call = f"call the clinic on {phone}" if phone else "contact the clinic"
        if phone and hours:
            call += f" ({hours})"
        return {
            "emergency_number": self.details.get("emergency_number") or NO_EMERGENCY_NUMBER,
            "call_the_clinic": call,
            "adult_age": str(self.adult_age),
            "handoff_wait_minutes": str(self.handoff_wait_minutes),
            "opening_hours_sentence": (
                f"Our opening hours are {hours}." if hours else "We answer during opening hours."
            ),
        }

    @classmethod
    def load(cls, path: Path | None = None) -> Clinic:
        path = path or Path(os.environ.get(CLINIC_ENV) or DEFAULT_FILE)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ClinicFileError(f"{path}: {error}") from None
        if not isinstance(data, dict):
            raise ClinicFileError(f"{path}: expected a mapping at the top level")
        details = {k: str(data[k]).strip() for k in DETAILS if data.get(k)}
        number = details.get("emergency_number")
        if number is not None and not EMERGENCY_NUMBER.fullmatch(number):
            raise ClinicFileError(
                f"{path}: emergency_number: {number!r} is not a number to dial, "
                "for example 999, 112 or 911"
            )
        adult_age = data.get("adult_age", ADULT_AGE)
        if isinstance(adult_age, bool) or adult_age not in ADULT_AGES:
            raise ClinicFileError(
                f"{path}: adult_age: {adult_age!r} must be a whole number of years from "
                f"{ADULT_AGES.start} to {ADULT_AGES.stop - 1}"
            )
        wait = data.get("handoff_wait_minutes", HANDOFF_WAIT_MINUTES)
        if isinstance(wait, bool) or wait not in HANDOFF_WAIT_RANGE:
            raise ClinicFileError(
                f"{path}: handoff_wait_minutes: {wait!r} must be a whole number of minutes "
                f"from {HANDOFF_WAIT_RANGE.start} to {HANDOFF_WAIT_RANGE.stop - 1}"
            )
        hours = _hours(path, data.get("hours"))
        answers: dict[str, tuple[str | None, str]] = {}
        for topic, entry in (data.get("answers") or {}).items():
            answers[str(topic)] = _answer(path, str(topic), entry)
        booking_url = _booking_url(path, data.get("booking_url"))
        return cls(
            details,
            answers,
            int(adult_age),
            booking_url=booking_url,
            handoff_wait_minutes=int(wait),
            hours=hours,
        )


def _hours(path: Path, value: Any) -> dict[int, tuple[time, time]] | None:
    """`hours:` -- per weekday `{open: "09:00", close: "18:00"}`; a day left out (or
    `null`) is closed. Every error names the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ClinicFileError(f"{path}: hours: expected a mapping of weekdays")
    hours: dict[int, tuple[time, time]] = {}
    for day, span in value.items():
        where = f"{path}: hours.{day}"
        if str(day).lower() not in WEEKDAYS:
            raise ClinicFileError(f"{where}: not a weekday; use {', '.join(WEEKDAYS)}")
        if span is None:
            continue
        if not isinstance(span, dict) or set(span) != {"open", "close"}:
            raise ClinicFileError(f"{where}: expected {{open: HH:MM, close: HH:MM}}")
        times = []
        for name in ("open", "close"):
            found = CLOCK.fullmatch(str(span[name]))
            if not found:
                raise ClinicFileError(
                    f"{where}.{name}: {span[name]!r} is not a time of day (HH:MM, 24-hour)"
                )
            times.append(time(int(found.group(1)), int(found.group(2))))
        if times[1] <= times[0]:
            raise ClinicFileError(f"{where}.close: must be after {where.split(': ')[1]}.open")
        hours[WEEKDAYS.index(str(day).lower())] = (times[0], times[1])
    return hours


def _answer(path: Path, topic: str, entry: Any) -> tuple[str | None, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("default"), str):
        raise ClinicFileError(f"{path}: answers.{topic}: needs a 'default' text")
    text = entry.get("text")
    if text is not None and not isinstance(text, str):
        raise ClinicFileError(f"{path}: answers.{topic}.text: expected text")
    if text:
        for _, name, _, _ in string.Formatter().parse(text):
            if name and name not in DETAILS:
                raise ClinicFileError(
                    f"{path}: answers.{topic}.text: unknown placeholder {{{name}}}; "
                    f"use {', '.join('{' + d + '}' for d in DETAILS)}"
                )
    return (text or None), " ".join(entry["default"].split())


def _booking_url(path: Path, raw: Any) -> str | None:
    """The booking link: an https URL with a host, no spaces or credentials, and only
    the placeholders `{name}` and `{consultation}`."""
    if raw is None or raw == "":
        return None
    where = f"{path}: booking_url: {raw!r}"
    if not isinstance(raw, str):
        raise ClinicFileError(f"{where} is not a link")
    url = raw.strip()
    if any(c.isspace() for c in url) or not url.isascii():
        raise ClinicFileError(f"{where} has spaces or characters a link cannot have")
    try:
        parts = urlsplit(BOOKING_PLACEHOLDER.sub("x", url))
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise ClinicFileError(f"{where} is not a link") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ClinicFileError(
            f"{where} must be an https:// link, for example https://cal.com/your-clinic/consultation"
        )
    if parts.username or parts.password:
        raise ClinicFileError(f"{where} must not hold a user name or password")
    if BOOKING_PLACEHOLDER.search(urlsplit(url).netloc or ""):
        raise ClinicFileError(f"{where}: a placeholder may not be in the host name")
    for name in BOOKING_PLACEHOLDER.findall(url):
        if name not in BOOKING_PLACEHOLDERS:
            raise ClinicFileError(
                f"{where}: unknown placeholder {{{name}}}; use {{name}} or {{consultation}}"
            )
    return url
