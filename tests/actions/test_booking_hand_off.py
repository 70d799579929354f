"""After the result, the hand-off to booking: the clinic's booking link with what is known
prefilled (a button on the website's card, a link in text elsewhere) and, for a deferral
with a date, the earliest date as a calendar file; nothing after urgent advice, a "not
recommended" or in caller mode."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.assessment import ActionAssessScreening
from needlecheck import booking, runtime
from needlecheck.store.migrate import upgrade
from tests.actions.conftest import make_tracker, received
from tests.screening.test_engine import CLEAR

CONSENT = {"health_data_consent": "given", "consent_version": "sha256:abc"}
DEFER = {"isotretinoin": {"status": "past", "last_dose": "2026-06-20"}}
SECRET = "the front desk's secret in this test"
EARLIEST = date(2026, 12, 20)
ROOT = Path(__file__).parents[2]


@pytest.fixture
def clinic_with_booking(fresh_services, monkeypatch, tmp_path):
    path = tmp_path / "clinic.yml"
    path.write_text(
        "name: Riverside Skin Clinic\n"
        "booking_url: https://cal.com/riverside/consultation?notes={consultation}&name={name}\n"
    )
    monkeypatch.setenv("NEEDLECHECK_CLINIC", str(path))
    monkeypatch.setenv("NEEDLECHECK_FRONTDESK_SECRET", SECRET)
    monkeypatch.delenv("NEEDLECHECK_FRONTDESK_URL", raising=False)
    runtime.clinic.cache_clear()
    runtime.services.cache_clear()
    upgrade(runtime.services().settings.database_url)
    yield monkeypatch
    runtime.clinic.cache_clear()


def run(slots, channel: str) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**CONSENT, **CLEAR, **slots}, active=False)
    tracker.events = [{"event": "user", "text": "…", "input_channel": channel}]
    asyncio.run(ActionAssessScreening().run(dispatcher, tracker, domain_()))
    return dispatcher


def domain_():
    return yaml.safe_load((ROOT / "domain.yml").read_text("utf-8"))


def test_the_widget_card_has_the_booking_button_and_the_calendar_file(clinic_with_booking) -> None:
    card = run(DEFER, "socketio").messages[0]["custom"]
    link = card["booking"]["url"]
    assert card["booking"]["label"] == "Book a consultation online"
    assert parse_qs(urlsplit(link).query) == {"notes": [booking.CONSULTATIONS["defer"]]}
    assert card["calendar"]["path"] == booking.ics_path(EARLIEST, SECRET)
    assert card["calendar"]["label"] == "Add the earliest date to my calendar"
    eligible = run({}, "socketio").messages[0]["custom"]
    assert "booking" in eligible and "calendar" not in eligible


def test_a_known_name_is_prefilled(clinic_with_booking) -> None:
    card = run({"contact_name": "Ana Lima"}, "socketio").messages[0]["custom"]
    assert parse_qs(urlsplit(card["booking"]["url"]).query)["name"] == ["Ana Lima"]


def test_messaging_channels_get_the_link_in_text(clinic_with_booking, domain) -> None:
    texts = received(run(DEFER, "twilio").messages, domain)
    (line,) = [t for t in texts if "book your consultation online" in t]
    assert line.startswith("You can also book your consultation online here: https://cal.com/")
    # The calendar file only with the front desk's public address.
    assert not any("calendar" in t for t in texts)
    clinic_with_booking.setenv("NEEDLECHECK_FRONTDESK_URL", "https://desk.riverside.example/")
    runtime.services.cache_clear()
    texts = received(run(DEFER, "twilio").messages, domain)
    (calendar,) = [t for t in texts if "calendar" in t]
    assert calendar.endswith("https://desk.riverside.example" + booking.ics_path(EARLIEST, SECRET))


@pytest.mark.parametrize(
    ("slots", "channel"),
    [
        ({"red_flags": ["infection_signs"]}, "socketio"),
        ({"conditions": ["keloid_history"]}, "twilio"),
        (DEFER, "frontdesk"),
    ],
)
def test_no_booking_after_urgent_advice_a_no_or_in_caller_mode(
    clinic_with_booking, domain, slots, channel
) -> None:
    messages = run(slots, channel).messages
    custom = [m["custom"] for m in messages if m.get("custom")]
    assert all("booking" not in c and "calendar" not in c for c in custom)
    assert not any("cal.com" in t or "calendar" in t for t in received(messages, domain))


def test_without_a_booking_url_there_is_no_button(fresh_services, monkeypatch) -> None:
    monkeypatch.setenv("NEEDLECHECK_CLINIC", str(ROOT / "clinic.yml"))
    runtime.clinic.cache_clear()
    upgrade(runtime.services().settings.database_url)
    card = run({}, "socketio").messages[0]["custom"]
    assert "booking" not in card
    runtime.clinic.cache_clear()


def test_no_secret_to_sign_with_leaves_out_the_calendar_not_the_result(
    clinic_with_booking, monkeypatch
) -> None:
    import actions.assessment as assessment

    def unreadable(*_args, **_kwargs):
        raise PermissionError("read-only var/")

    monkeypatch.setattr(assessment, "shared_secret", unreadable)
    card = run(DEFER, "socketio").messages[0]["custom"]
    assert card["title"] == "Microneedling should wait"
    assert "calendar" not in card and "booking" in card
