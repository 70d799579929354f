"""Live takeover on the running assistant (`needlecheck run`): a person asks for a person,
a member of staff takes over in the front desk, the assistant stays silent while staff
talk to the person on their own channel, and handing back asks the open question again.

- On Telegram, against the fake provider (tests/e2e/providers.py), over HTTP only.
- In the widget and the front desk at once, in a real browser (Debian's Chromium under
  Playwright); its screenshot of the takeover page is docs/frontdesk-takeover.png.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTIFACTS
from tests.e2e.conftest import FRONTDESK_PORT, add_staff
from tests.e2e.test_assistant import CLEAR_ANSWERS
from tests.e2e.test_channels import telegram, telegram_tap, telegram_text, texts
from tests.e2e.test_widget import (
    WAIT,
    answer,
    click_option,
    open_widget,
    rows,
    serious_violations,
)
from tests.frontdesk.conftest import csrf_from, sign_in

pytestmark = pytest.mark.rasa

DESK = f"http://127.0.0.1:{FRONTDESK_PORT}"
DOCS = Path(__file__).resolve().parents[2] / "docs"
AGE_QUESTION = "How old are you?"


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_staff_take_over_a_telegram_conversation_and_hand_it_back(assistant, provider) -> None:
    add_staff(assistant, "tess", "front_desk", "takeover passphrase 17")
    add_staff(assistant, "theo", "front_desk", "takeover passphrase 18")
    chat = 5557779001
    person = str(chat)
    telegram(telegram_text(chat, "hi"))
    keyboard = provider.to(person)[-1].body["reply_markup"]["inline_keyboard"]
    telegram(telegram_tap(chat, keyboard[0][0]["callback_data"]))  # consent
    keyboard = provider.to(person)[-1].body["reply_markup"]["inline_keyboard"]
    telegram(telegram_tap(chat, keyboard[2][0]["callback_data"]))  # no red flags
    assert AGE_QUESTION in texts(provider.to(person)[-1:])
    telegram(telegram_text(chat, "can I talk to a person please"))
    assert "A member of the team has been told" in texts(provider.to(person)[-1:])

    with (
        httpx.Client(base_url=DESK, timeout=30) as tess,
        httpx.Client(base_url=DESK, timeout=30) as theo,
    ):
        assert sign_in(tess, "tess", "takeover passphrase 17").status_code == 303
        assert sign_in(theo, "theo", "takeover passphrase 18").status_code == 303
        queue = tess.get("/api/queue").json()["items"]
        (handoff,) = [r for r in queue if r["kind"] == "handoff" and r["conversation_id"] == person]
        page = tess.get(f"/handoffs/{handoff['id']}")
        assert "Take over" in page.text
        token = csrf_from(page.text)
        taken = tess.post(
            f"/takeover/{person}", data={"csrf_token": token, "handoff_id": handoff["id"]}
        )
        assert taken.status_code == 303, taken.text
        # A second member is told who has it.
        second = theo.post(
            f"/takeover/{person}", data={"csrf_token": csrf_from(theo.get("/").text)}
        )
        assert second.status_code == 409 and "tess has already taken over" in second.text

        # Paused: the person's message is in the transcript, and the assistant says nothing.
        before = len(provider.to(person))
        telegram(telegram_text(chat, "I have a question first"))
        time.sleep(1.0)
        assert len(provider.to(person)) == before

        def seen() -> dict | None:
            state = tess.get(f"/api/takeover/{person}").json()
            said = [m["text"] for m in state["messages"] if m["speaker"] == "person"]
            return state if any(t.startswith("I have a question") for t in said) else None

        state = wait_for(seen)
        assert state and state["paused"] is True and state["channel"] == "telegram"
        assert state["holder"] == "tess"

        # Staff's reply reaches the person through the Telegram connector.
        sent = tess.post(
            f"/api/takeover/{person}/messages",
            json={"text": "Hello, this is Tess at the clinic. What is your question?"},
            headers={"X-CSRF-Token": token},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"delivered": 1, "channel": "telegram"}
        last = provider.to(person)[-1]
        assert last.path.endswith("/sendMessage")
        assert last.body["text"] == "Hello, this is Tess at the clinic. What is your question?"
        state = tess.get(f"/api/takeover/{person}").json()
        assert state["messages"][-1]["speaker"] == "staff"
        assert state["messages"][-1]["staff"] == "tess"

        # Measured: a staff reply (front desk -> Rasa server -> Telegram's fake) and one poll.
        timings: dict[str, list[float]] = {"reply": [], "poll": []}
        for number in range(10):
            started = time.perf_counter()
            reply = tess.post(
                f"/api/takeover/{person}/messages",
                json={"text": f"Still here ({number})."},
                headers={"X-CSRF-Token": token},
            )
            timings["reply"].append(time.perf_counter() - started)
            assert reply.json()["delivered"] == 1
            started = time.perf_counter()
            tess.get(f"/api/takeover/{person}")
            timings["poll"].append(time.perf_counter() - started)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "takeover-timings.json").write_text(
            json.dumps(
                {
                    k: {
                        "median_ms": round(statistics.median(v) * 1000, 1),
                        "max_ms": round(max(v) * 1000, 1),
                    }
                    for k, v in timings.items()
                }
            )
        )

        # Handed back: the assistant asks its open question again, on Telegram.
        before = len(provider.to(person))
        started = time.perf_counter()
        back = tess.post(
            f"/takeover/{person}/hand-back", data={"csrf_token": token, "ending": "continue"}
        )
        handed_back = time.perf_counter() - started
        assert back.status_code == 303, back.text
        measured = json.loads((ARTIFACTS / "takeover-timings.json").read_text())
        measured["hand_back_ms"] = round(handed_back * 1000, 1)
        (ARTIFACTS / "takeover-timings.json").write_text(json.dumps(measured))
        asked = provider.to(person)[before:]
        assert AGE_QUESTION in texts(asked), texts(asked)
        # ... and answers the next message as before.
        before = len(provider.to(person))
        telegram(telegram_text(chat, "I am 29"))
        assert "area" in texts(provider.to(person)[before:]).lower()

        # Taken over again, then ended politely: the goodbye reaches the person.
        assert tess.post(f"/takeover/{person}", data={"csrf_token": token}).status_code == 303
        before = len(provider.to(person))
        ended = tess.post(
            f"/takeover/{person}/hand-back", data={"csrf_token": token, "ending": "end"}
        )
        assert ended.status_code == 303, ended.text
        assert "This chat is now closed" in texts(provider.to(person)[before:])

        audit = tess.get("/api/audit")  # front desk role: clinicians only
        assert audit.status_code == 403


@pytest.mark.browser
def test_a_person_in_the_widget_talks_to_staff_who_hand_back(assistant, browser) -> None:
    add_staff(assistant, "wren", "front_desk", "takeover passphrase 19")
    visitor = browser.new_context(viewport={"width": 1180, "height": 860})
    widget = visitor.new_page()
    open_widget(widget)
    widget.get_by_role("button", name="Start the chat").click()
    widget.get_by_role("button", name="Yes, I agree").wait_for(timeout=WAIT)
    click_option(widget, "Yes, I agree")
    click_option(widget, "None of these")
    widget.locator("#needlecheck-widget .message.bot", has_text=AGE_QUESTION).last.wait_for(
        timeout=WAIT
    )
    answer(widget, "I'd like to talk to a person")
    widget.locator(
        "#needlecheck-widget .message.bot", has_text="A member of the team has been told"
    ).wait_for(timeout=WAIT)

    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    desk = staff_context.new_page()
    desk.goto(f"{DESK}/")
    desk.fill("input[name=username]", "wren")
    desk.fill("input[name=password]", "takeover passphrase 19")
    desk.click("button:has-text('Sign in')")
    desk.get_by_text("Queue").first.wait_for(timeout=WAIT)
    [(handoff,)] = rows(assistant, "SELECT max(id) FROM handoff_requests")
    desk.goto(f"{DESK}/handoffs/{handoff}")
    desk.get_by_role("button", name="Take over").click()
    desk.get_by_text("You have taken over this conversation").wait_for(timeout=WAIT)
    # The transcript so far and the screening's findings.
    desk.locator("#takeover-log .message.user", has_text="talk to a person").wait_for(timeout=WAIT)
    desk.get_by_text(re.compile(r"\(1 answered\)|\(2 answered\)")).wait_for(timeout=WAIT)

    # Paused: the person's message appears at the front desk, and the assistant is silent.
    bots = widget.locator("#needlecheck-widget .message.bot").count()
    box = widget.get_by_role("textbox", name="Message")
    box.fill("Is anyone there?")
    box.press("Enter")
    desk.locator("#takeover-log .message.user", has_text="Is anyone there?").wait_for(timeout=WAIT)
    widget.wait_for_timeout(1500)
    assert widget.locator("#needlecheck-widget .message.bot").count() == bots

    # Staff reply; the person sees it in the widget.
    desk.get_by_label("Your reply").fill("Hi, this is Wren at the clinic. How can I help?")
    desk.get_by_label("Your reply").press("Enter")
    widget.locator(
        "#needlecheck-widget .message.bot", has_text="this is Wren at the clinic"
    ).wait_for(timeout=WAIT)
    desk.locator("#takeover-log .message.staff", has_text="this is Wren").wait_for(timeout=WAIT)
    answer_seen = desk.locator("#takeover-log .message.user", has_text="numbing cream")
    box.fill("Do you use numbing cream?")
    box.press("Enter")
    answer_seen.wait_for(timeout=WAIT)
    desk.get_by_label("Your reply").fill("Yes, we do. I'll pass you back to the assistant now.")
    desk.get_by_label("Your reply").press("Enter")
    widget.locator("#needlecheck-widget .message.bot", has_text="pass you back").wait_for(
        timeout=WAIT
    )
    desk.wait_for_timeout(2500)  # the next poll shows the reply
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=str(ARTIFACTS / "frontdesk-takeover.png"), full_page=True)
    desk.screenshot(path=str(DOCS / "frontdesk-takeover.png"), full_page=True)
    assert serious_violations(desk) == []

    # Hand back: the assistant asks the open question again, and goes on.
    asked_before = widget.locator("#needlecheck-widget .message.bot", has_text=AGE_QUESTION).count()
    with desk.expect_navigation(timeout=WAIT):
        desk.get_by_role("button", name="Hand back to the assistant").click()
    assert "Nobody has taken over this conversation" in " ".join(desk.content().split()), (
        desk.content()[-3000:]
    )
    widget.wait_for_function(
        "n => [...document.getElementById('needlecheck-widget').shadowRoot"
        ".querySelectorAll('.message.bot')].filter(m => m.textContent.includes('How old are you?'))"
        ".length > n",
        arg=asked_before,
        timeout=WAIT,
    )
    answer(widget, CLEAR_ANSWERS["age"])
    widget.locator("#needlecheck-widget .message.bot").last.wait_for(timeout=WAIT)
    assert "area" in widget.locator("#needlecheck-widget .message.bot").last.inner_text().lower()
    visitor.close()
    staff_context.close()
