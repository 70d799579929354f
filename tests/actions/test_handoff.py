"""Talk to a person now: during the clinic's hours the request is stored and the person is
told honestly how long they may wait; outside them it becomes a callback request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.contact import ActionRequestHandoff
from actions.names import FORM_CONTACT, UTTER_HANDOFF_CLOSED, UTTER_HANDOFF_REQUESTED
from needlecheck import runtime
from needlecheck.clinic import Clinic
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import HandoffRequest
from tests.actions.conftest import make_tracker, received

HOURS = """
name: Riverside Skin Clinic
phone: "020 7946 0000"
opening_hours: Monday to Friday 9am to 6pm
handoff_wait_minutes: 20
hours:
  monday: {open: "09:00", close: "18:00"}
"""


@pytest.fixture(autouse=True)
def _clinic_forgotten() -> Iterator[None]:
    """This module's clinic.yml is not the next test's."""
    yield
    runtime.clinic.cache_clear()


def run(monkeypatch, tmp_path, now: datetime, domain):
    path = tmp_path / "clinic.yml"
    path.write_text(HOURS)
    clinic = Clinic.load(path)
    monkeypatch.setenv("NEEDLECHECK_CLINIC", str(path))
    runtime.clinic.cache_clear()
    monkeypatch.setenv("NEEDLECHECK_TIMEZONE", "Europe/London")
    runtime.services.cache_clear()
    monkeypatch.setattr(
        type(runtime.services().settings), "clinic_time", lambda self, now_=None: now
    )
    upgrade(runtime.services().settings.database_url)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({}, active=False)
    events = asyncio.run(ActionRequestHandoff().run(dispatcher, tracker, domain))
    return dispatcher.messages, events, clinic


def stored() -> list[HandoffRequest]:
    with runtime.services().sessions.begin() as session:
        return list(session.execute(select(HandoffRequest)).scalars())


def test_during_opening_hours_the_team_is_told_and_the_wait_is_named(
    domain, fresh_services, monkeypatch, tmp_path
) -> None:
    monday_noon = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    messages, events, clinic = run(monkeypatch, tmp_path, monday_noon, domain)
    assert [m["response"] for m in messages] == [UTTER_HANDOFF_REQUESTED]
    assert events == []
    assert len(stored()) == 1
    (text,) = received(messages, domain, clinic=clinic)
    assert "A member of the team has been told" in text
    assert "Our opening hours are Monday to Friday 9am to 6pm." in text
    assert "within 20 minutes, the clinic will call you back" in text


def test_outside_opening_hours_it_becomes_a_callback_request(
    domain, fresh_services, monkeypatch, tmp_path
) -> None:
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
    messages, events, clinic = run(monkeypatch, tmp_path, sunday, domain)
    assert [m["response"] for m in messages] == [UTTER_HANDOFF_CLOSED]
    assert [e["name"] for e in events if e.get("event") == "followup"] == [FORM_CONTACT]
    assert stored() == []
    (text,) = received(messages, domain, clinic=clinic)
    assert text.startswith("The clinic is closed now")
    assert "your name, and a phone number or email address" in text
