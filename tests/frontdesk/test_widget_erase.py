"""The widget's "Delete my conversation" against a stand-in for the Rasa server
(tests/frontdesk/stand_in.py): a slow assistant holds up no one else, and one that does not
answer in time, or refuses, gets an answer that says the erasure is incomplete, with
nothing erased that the answer does not name."""

from __future__ import annotations

import json
import secrets
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from needlecheck.frontdesk.schemas import ErasureIncomplete
from needlecheck.store import tracker_events
from needlecheck.store.models import AuditEntry
from tests.conftest import ARTIFACTS
from tests.frontdesk.stand_in import TIMEOUT, Desk
from tests.frontdesk.support import add_screening


def widget_conversation(desk: Desk) -> str:
    session_id = secrets.token_urlsafe(24)
    add_screening(desk.sessions, session_id, "eligible", channel="web")
    return session_id


def erase_actions(desk: Desk) -> list[str]:
    with desk.sessions.begin() as session:
        return [
            action
            for action in session.execute(select(AuditEntry.action)).scalars()
            if action == "erase"
        ]


def test_a_slow_assistant_does_not_hold_up_anyone_else(desk, monkeypatch) -> None:
    session_id = widget_conversation(desk)
    # Slow, but within the front desk's patience.
    monkeypatch.setattr(tracker_events, "RASA_TIMEOUT", 10.0)
    desk.rasa.delay["GET"] = 3.0
    answers: list[httpx.Response] = []
    erasing = threading.Thread(target=lambda: answers.append(desk.erase(session_id)))
    erasing.start()
    try:
        assert desk.rasa.arrived.wait(timeout=10), "the erasure never reached the assistant"
        started = time.monotonic()
        health = httpx.get(f"{desk.url}/healthz", timeout=10)
        script = httpx.get(f"{desk.url}/widget.js", timeout=10)
        waited = time.monotonic() - started
        still_erasing = erasing.is_alive()
    finally:
        erasing.join(timeout=20)
    assert health.status_code == 200 and script.status_code == 200
    assert waited < 1.0, f"other requests waited {waited:.1f} s for the erasure"
    assert still_erasing
    (erased,) = answers
    assert erased.status_code == 200 and erased.json() == {"deleted": True}
    assert desk.kept(session_id) == 0
    assert desk.rasa.asked[-1].startswith("PUT /conversations/")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_an_assistant_that_times_out_gets_an_incomplete_erasure(desk, method: str) -> None:
    # GET: the check of which channels the conversation came by; PUT: the erasure itself.
    session_id = widget_conversation(desk)
    desk.rasa.delay[method] = TIMEOUT * 4
    started = time.monotonic()
    answer = desk.erase(session_id)
    assert time.monotonic() - started < TIMEOUT * 3
    assert answer.status_code == 503
    assert answer.headers["access-control-allow-origin"] == desk.url
    assert answer.headers["retry-after"] == "60"
    body = ErasureIncomplete.parse_obj(answer.json()).dict()
    assert body["deleted"] is False and body["retry"] is True
    assert (body["failed"], body["reason"]) == ("assistant", "timeout")
    assert "did not answer in time" in body["detail"] and "try again" in body["detail"]
    # Nothing is erased that the answer does not name, and the erasure can be retried.
    assert desk.kept(session_id) == 1
    assert erase_actions(desk) == []
    desk.rasa.delay[method] = 0.0
    again = desk.erase(session_id)
    assert again.status_code == 200 and again.json() == {"deleted": True}
    assert desk.kept(session_id) == 0
    assert erase_actions(desk) == ["erase"]


def test_an_assistant_that_refuses_gets_an_incomplete_erasure(desk) -> None:
    session_id = widget_conversation(desk)
    desk.rasa.status["PUT"] = 500
    answer = desk.erase(session_id)
    assert answer.status_code == 503
    body = answer.json()
    assert body["deleted"] is False and body["retry"] is True
    assert (body["failed"], body["reason"]) == ("assistant", "refused")
    assert desk.kept(session_id) == 1
    assert erase_actions(desk) == []


def test_an_assistant_that_is_not_running_holds_nothing_to_erase(desk, monkeypatch) -> None:
    session_id = widget_conversation(desk)
    # Nothing listens there: the in-memory store of a stopped server holds nothing.
    monkeypatch.setenv("NEEDLECHECK_RASA_URL", "http://127.0.0.1:9")
    answer = desk.erase(session_id)
    assert answer.status_code == 200 and answer.json() == {"deleted": True}
    assert desk.kept(session_id) == 0


@pytest.mark.browser
def test_the_widget_tells_the_visitor_an_incomplete_erasure_and_keeps_the_chat(
    desk, browser
) -> None:
    session_id = widget_conversation(desk)
    store = "needlecheck:http://127.0.0.1:9"  # the demo's chat server (stand_in.py)
    saved = {"sessionId": session_id, "started": True, "outbox": [], "owner": None,
             "messages": [{"from": "bot", "text": "How old are you?"}]}  # fmt: skip
    page = browser.new_page()
    page.add_init_script(
        f"if (!localStorage.getItem({json.dumps(store)})) "
        f"localStorage.setItem({json.dumps(store)}, {json.dumps(json.dumps(saved))});"
    )
    page.goto(f"{desk.url}/demo")
    page.get_by_role("button", name="Open chat with Example Skin Clinic").click()
    desk.rasa.delay["PUT"] = TIMEOUT * 4
    page.get_by_role("button", name="Delete my conversation").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.get_by_text("was not completely deleted").wait_for(timeout=15_000)
    assert "try again" in page.get_by_role("status").inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "widget-erase-incomplete.png"))
    # The chat is kept, so that the visitor can try again.
    assert page.get_by_text("How old are you?").is_visible()
    assert desk.kept(session_id) == 1
    desk.rasa.delay["PUT"] = 0.0
    page.get_by_role("button", name="Delete my conversation").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.get_by_text("Your conversation was deleted.").wait_for(timeout=15_000)
    assert desk.kept(session_id) == 0
    page.close()
