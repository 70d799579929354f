"""The hand-off to booking: the clinic's booking link (clinic.yml `booking_url`, https
only) with the person's name and the suggested consultation prefilled, URL-encoded; and a
deferred person's earliest date as an RFC 5545 calendar file, signed so that the front
desk serves no date it did not offer. The calendar's text is checked strictly here (the
`icalendar` package is not part of the locked environment)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from needlecheck import booking
from needlecheck.clinic import Clinic, ClinicFileError

ROOT = Path(__file__).parents[1]


def clinic(tmp_path: Path, url: str | None) -> Clinic:
    path = tmp_path / "clinic.yml"
    path.write_text("name: Riverside Skin Clinic\n" + (f"booking_url: {url!r}\n" if url else ""))
    return Clinic.load(path)


def query(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query, keep_blank_values=True)


CONSULTATION = booking.CONSULTATIONS["clinician_review"]


@pytest.mark.parametrize(
    "url",
    [
        "http://cal.com/riverside/consultation",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "cal.com/riverside",
        "https://user:secret@cal.com/riverside",
        "https://cal.com/riverside?notes={diagnosis}",
        "https://{name}.example/book",
        "https://cal.com/river side",
        "https://cal.com:notaport/x",
        "https://cal.com/rivérside",
    ],
)
def test_a_booking_url_that_is_not_a_plain_https_link_stops_start_up(tmp_path, url) -> None:
    with pytest.raises(ClinicFileError, match="booking_url"):
        clinic(tmp_path, url)


def test_no_booking_url_offers_no_link(tmp_path) -> None:
    assert clinic(tmp_path, None).booking_link("Ana", CONSULTATION) is None
    shipped = Clinic.load(ROOT / "clinic.yml")
    assert shipped.booking_url is None


def test_a_template_gets_its_placeholders_url_encoded(tmp_path) -> None:
    link = clinic(
        tmp_path, "https://cal.com/riverside/consultation?name={name}&notes={consultation}"
    ).booking_link("Zoë O'Brien & Co", CONSULTATION)
    assert link.startswith("https://cal.com/riverside/consultation?")
    assert "Zo%C3%AB%20O%27Brien%20%26%20Co" in link and " " not in link
    assert query(link) == {"name": ["Zoë O'Brien & Co"], "notes": [CONSULTATION]}


def test_an_unknown_name_leaves_its_parameter_out(tmp_path) -> None:
    template = "https://book.example.org/c?type={consultation}&who={name}&src=chat"
    for name in (None, "", "   "):
        link = clinic(tmp_path, template).booking_link(name, CONSULTATION)
        assert query(link) == {"type": [CONSULTATION], "src": ["chat"]}
        assert "{name}" not in link and "who=" not in link


def test_calendly_and_cal_com_links_get_their_own_parameters(tmp_path) -> None:
    calendly = clinic(tmp_path, "https://calendly.com/riverside/consultation").booking_link(
        "Ana Lima", CONSULTATION
    )
    assert query(calendly) == {"name": ["Ana Lima"], "a1": [CONSULTATION]}
    cal = clinic(tmp_path, "https://cal.com/riverside/consultation").booking_link(
        None, CONSULTATION
    )
    assert query(cal) == {"notes": [CONSULTATION]}
    # What the clinic's link already sets is kept.
    kept = clinic(tmp_path, "https://cal.com/riverside?notes=Walk-in").booking_link(
        "Ana", CONSULTATION
    )
    assert query(kept) == {"notes": ["Walk-in"], "name": ["Ana"]}
    other = clinic(tmp_path, "https://riverside.example/book").booking_link("Ana", CONSULTATION)
    assert other == "https://riverside.example/book"


def test_booking_is_offered_after_results_that_lead_to_a_consultation() -> None:
    assert booking.consultation("urgent_care") is None
    assert booking.consultation("not_suitable") is None
    for outcome in ("eligible", "defer", "clinician_review", None):
        assert "consultation" in booking.consultation(outcome)


SECRET = "the front desk's secret"
DAY = date(2027, 3, 1)


def test_the_calendar_link_is_signed() -> None:
    path = booking.ics_path(DAY, SECRET)
    assert path.startswith("/widget/ics?date=2027-03-01&sig=")
    sig = query(path)["sig"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", sig)
    assert booking.signed(DAY, sig, SECRET)
    assert not booking.signed(date(2027, 3, 2), sig, SECRET)
    assert not booking.signed(DAY, sig, "another secret")
    assert not booking.signed(DAY, sig[:-1] + ("0" if sig[-1] != "0" else "1"), SECRET)
    assert not booking.signed(DAY, "", SECRET)
    assert not booking.signed(DAY, "é" * 32, SECRET)


def test_the_calendar_file_is_rfc_5545() -> None:
    text = booking.ics_text(
        DAY, "Riverside Skin Clinic", datetime(2026, 12, 7, 21, 0, tzinfo=timezone.utc)
    )
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    for line in lines:
        assert len(line.encode()) <= 75, line
    # Unfolded, one property per line.
    unfolded = text.replace("\r\n ", "").split("\r\n")[:-1]
    assert unfolded == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//needlecheck//Earliest consultation date//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        "UID:earliest-2027-03-01@needlecheck",
        "DTSTAMP:20261207T210000Z",
        "DTSTART;VALUE=DATE:20270301",
        "DTEND;VALUE=DATE:20270302",
        "SUMMARY:Earliest date for your microneedling consultation",
        "DESCRIPTION:From this date you can have your microneedling consultation at "
        "Riverside Skin Clinic. Contact the clinic to book it.",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    # RFC 5545 3.1: every content line is NAME[;PARAM=VALUE]:VALUE.
    for line in unfolded:
        assert re.fullmatch(r"[A-Z-]+(;[A-Z-]+=[A-Z0-9-]+)*:.+", line), line


def test_the_calendar_text_is_escaped_and_folded_inside_characters_never() -> None:
    assert booking.escape("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    line = "DESCRIPTION:" + "é" * 100
    folded = booking.fold(line)
    assert folded.replace("\r\n ", "") == line
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    odd = booking.ics_text(DAY, "Dr Lee; Skin, Care")
    assert "Dr Lee\\; Skin\\, Care" in odd.replace("\r\n ", "")


def test_the_end_date_crosses_months_and_years() -> None:
    text = booking.ics_text(date(2027, 12, 31))
    assert "DTSTART;VALUE=DATE:20271231\r\n" in text
    assert "DTEND;VALUE=DATE:20280101\r\n" in text
    # With no clinic name (or the file's placeholder name), no "at ..." in the text.
    assert " at " not in booking.ics_text(DAY, "the clinic").replace("\r\n ", "")
