"""The hand-off to booking after a result: which consultation to suggest, the clinic's
booking link (clinic.yml `booking_url`, filled by `Clinic.booking_link`), and, for a
person who has to wait, their earliest date as a calendar file (RFC 5545).

The calendar file is served by the front desk at `/widget/ics?date=YYYY-MM-DD&sig=...`:
the signature is an HMAC of the date with the front desk's secret
(NEEDLECHECK_FRONTDESK_SECRET), so the action server, which knows the secret too, can
link to it and nobody can ask the front desk for files it did not offer. The file holds
the date and the clinic's name only: no health details.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

# The consultation to suggest, by outcome: none after urgent advice or a "not
# recommended" (the person is sent to a doctor instead).
CONSULTATIONS = {
    "eligible": "Microneedling consultation with a licensed professional",
    "defer": "Planning consultation for microneedling with a licensed professional",
    "clinician_review": "Microneedling consultation with a medical professional",
    "incomplete": "Microneedling consultation with a licensed professional",
}
ICS_PATH = "/widget/ics"
ICS_SUMMARY = "Earliest date for your microneedling consultation"
# The signature's length in hex digits (128 bits).
SIGNATURE_LENGTH = 32


def consultation(outcome: str | None) -> str | None:
    """The suggested consultation for an outcome, or None when booking is not offered."""
    return CONSULTATIONS.get(outcome or "incomplete")


def signature(day: date, secret: str) -> str:
    message = b"needlecheck ics " + day.isoformat().encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def signed(day: date, signature_text: str, secret: str) -> bool:
    """The signature is the front desk's for this date (compared in constant time)."""
    if not signature_text.isascii():
        return False
    return hmac.compare_digest(signature(day, secret), signature_text)


def ics_path(day: date, secret: str) -> str:
    """The front desk's path (and query) of the calendar file for `day`."""
    return ICS_PATH + "?" + urlencode({"date": day.isoformat(), "sig": signature(day, secret)})


def ics_text(day: date, clinic_name: str | None = None, now: datetime | None = None) -> str:
    """An RFC 5545 calendar with one all-day event on `day`, CRLF line endings, lines
    folded at 75 octets."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    where = f" at {clinic_name}" if clinic_name and clinic_name != "the clinic" else ""
    description = (
        f"From this date you can have your microneedling consultation{where}. "
        "Contact the clinic to book it."
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//needlecheck//Earliest consultation date//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        # The same file for the same date: adding it twice updates one event.
        f"UID:earliest-{day.isoformat()}@needlecheck",
        f"DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}",
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
        f"SUMMARY:{escape(ICS_SUMMARY)}",
        f"DESCRIPTION:{escape(description)}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)


def escape(text: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and newline escaped."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str, limit: int = 75) -> str:
    """A content line folded so that no line is longer than `limit` octets (RFC 5545
    3.1), never inside a UTF-8 character."""
    out, current = [], ""
    for char in line:
        width = limit if not out else limit - 1  # a continuation starts with a space
        if len((current + char).encode()) > width:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return "\r\n ".join(out)
