"""The earliest-date calendar file the result links to: served only at the link the
assistant signed with the front desk's secret."""

from __future__ import annotations

import pytest

from needlecheck import booking
from tests.frontdesk.in_process import desk_in_process

SECRET = "a front desk secret for this test"


@pytest.fixture
def desk(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLECHECK_FRONTDESK_SECRET", SECRET)
    with desk_in_process(tmp_path, monkeypatch) as running:
        yield running


def test_the_signed_link_gives_the_calendar_file(desk) -> None:
    from datetime import date

    path = booking.ics_path(date(2027, 3, 1), SECRET)
    with desk.client() as client:
        answer = client.get(path)
        other_day = client.get(path.replace("2027-03-01", "2027-03-02"))
        unsigned = client.get("/widget/ics", params={"date": "2027-03-01"})
        forged = client.get("/widget/ics", params={"date": "2027-03-01", "sig": "0" * 32})
        not_a_date = client.get("/widget/ics", params={"date": "2027-02-30", "sig": "0" * 32})
        too_long = client.get("/widget/ics", params={"date": "2027-03-01", "sig": "0" * 65})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.headers["cache-control"] == "no-store"
    assert "DTSTART;VALUE=DATE:20270301\r\n" in answer.text
    assert "SUMMARY:Earliest date for your microneedling consultation" in answer.text
    assert other_day.status_code == 403 and unsigned.status_code == 403
    assert forged.status_code == 403
    assert not_a_date.status_code == 422 and too_long.status_code == 422
