"""The website widget and the front desk's caller mode in a real browser (Debian's
Chromium under Playwright), against the running assistant: a screening by clicks and
typing, the result card, a reload and a second tab, a network drop, axe-core, deletion.

Screenshots (desktop and phone size) are saved under var/test-artifacts/.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ARTIFACTS, AXE
from tests.e2e.conftest import FRONTDESK_PORT, add_staff
from tests.e2e.test_assistant import CLEAR_ANSWERS

pytestmark = [pytest.mark.rasa, pytest.mark.browser]

DEMO = f"http://127.0.0.1:{FRONTDESK_PORT}/demo"
WAIT = 20_000


def rows(assistant: dict, sql: str, **values: str) -> list[tuple]:
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        found = [tuple(r) for r in connection.execute(text(sql), values).all()]
    engine.dispose()
    return found


def bot_count(page) -> int:
    return page.locator("#needlecheck-widget .message.bot").count()


def answer(page, words: str) -> None:
    """Type into the widget and wait for the assistant's reply."""
    before = bot_count(page)
    box = page.get_by_role("textbox", name="Message")
    box.fill(words)
    box.press("Enter")
    page.wait_for_function(
        "n => document.getElementById('needlecheck-widget').shadowRoot"
        ".querySelectorAll('.message.bot').length > n",
        arg=before,
        timeout=WAIT,
    )


def click_option(page, title: str) -> None:
    before = bot_count(page)
    page.locator("#needlecheck-widget .buttons").get_by_role("button", name=title).click()
    page.wait_for_function(
        "n => document.getElementById('needlecheck-widget').shadowRoot"
        ".querySelectorAll('.message.bot').length > n",
        arg=before,
        timeout=WAIT,
    )


def serious_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make browser` fetches axe-core")
    # A message still rising in (160 ms, from transparent) has no contrast yet: wait for
    # the assistant's replies (the typing dots go when they come) and every finite
    # animation to end before measuring.
    page.wait_for_function(
        """() => {
            const host = document.getElementById('needlecheck-widget');
            const typing = host && host.shadowRoot && host.shadowRoot.querySelector('.typing');
            return !typing || typing.hidden;
        }""",
        timeout=WAIT,
    )
    page.evaluate(
        """async () => {
            // The widget's own animations (the panel rising as it opens) live in its
            // shadow root, which document.getAnimations() does not list.
            const host = document.getElementById('needlecheck-widget');
            const all = () => document.getAnimations().concat(
                host && host.shadowRoot ? host.shadowRoot.getAnimations() : []);
            for (let round = 0; round < 20; round++) {
                const running = all().filter(
                    (a) => a.playState === "running" &&
                        a.effect && a.effect.getTiming().iterations !== Infinity);
                if (!running.length) return;
                await Promise.all(running.map((a) => a.finished.catch(() => null)));
            }
        }"""
    )
    # Evaluated through the DevTools protocol: the page's CSP rightly refuses inline scripts.
    page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    # Each with the elements it was found on, so that a failure says where.
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(f"{n['target']} {n.get('failureSummary', '')[:160]}" for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def open_widget(page) -> None:
    page.goto(DEMO)
    launcher = page.get_by_role("button", name=re.compile("chat", re.IGNORECASE))
    launcher.click()


def test_a_screening_in_the_widget_from_consent_to_the_recommendation_card(
    assistant, browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    external: list[str] = []
    page.on(
        "request",
        lambda request: (
            external.append(request.url)
            if not request.url.startswith(("http://127.0.0.1", "http://localhost", "data:"))
            else None
        ),
    )
    open_widget(page)
    # The privacy notice comes before any health question.
    assert page.get_by_text("Your answers are kept only if you agree").is_visible()
    page.get_by_role("button", name="Start the chat").click()
    page.get_by_role("button", name="Yes, I agree").wait_for(timeout=WAIT)
    log = page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite"
    # The typing indicator shows while the assistant answers (seen by an observer, since
    # the answer comes within milliseconds).
    page.evaluate(
        """() => {
          const dots = document.getElementById('needlecheck-widget').shadowRoot
            .querySelector('.typing');
          window.typingSeen = false;
          new MutationObserver(() => { if (!dots.hidden) window.typingSeen = true; })
            .observe(dots, {attributes: true});
        }"""
    )
    click_option(page, "Yes, I agree")
    assert page.evaluate("() => window.typingSeen") is True
    click_option(page, "None of these")
    # Focus is visible on every control reached by the keyboard.
    box = page.get_by_role("textbox", name="Message")
    box.focus()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => {
          const el = document.getElementById('needlecheck-widget').shadowRoot.activeElement;
          const style = getComputedStyle(el);
          return [el.textContent, style.outlineStyle, style.outlineWidth];
        }"""
    )
    assert focused == ["Send", "solid", "3px"]
    # Retinol (a preparation step) and dark marks after spots (a note the person hears
    # too) leave the result a yes, with both on the card.
    answers = {
        **CLEAR_ANSWERS,
        "topical_products": "retinol most nights",
        "conditions": "I get dark marks after spots",
    }
    for words in list(answers.values())[1:]:
        answer(page, words)
    card = page.locator("#needlecheck-widget section.card")
    card.wait_for(timeout=WAIT)
    assert card.locator("h3").inner_text() == "Next step: a consultation"
    assert "licensed professional" in card.inner_text()
    assert "does not clear you for treatment" in card.inner_text()
    assert card.locator("h4").all_inner_texts()[-1] == "Before your treatment:"
    assert "retinoid" in card.locator("ul li").last.inner_text().lower()
    assert "New dark marks after treatment are more likely" in card.locator("p.note").inner_text()
    page.screenshot(path=str(ARTIFACTS / "widget-desktop.png"))

    session_id = json.loads(
        page.evaluate("() => localStorage.getItem('needlecheck:http://127.0.0.1:5095')")
    )["sessionId"]
    assert rows(
        assistant,
        "SELECT outcome, channel FROM screenings WHERE conversation_id = :c",
        c=session_id,
    ) == [("eligible", "web")]

    # A reload and a second tab show the same conversation.
    page.reload()
    page.get_by_role("button", name=re.compile("chat", re.IGNORECASE)).click()
    page.locator("#needlecheck-widget section.card").wait_for(timeout=WAIT)
    second = context.new_page()
    open_widget(second)
    second.locator("#needlecheck-widget section.card").wait_for(timeout=WAIT)
    second.close()

    # After a network drop, what was typed is sent once the connection is back.
    answer(page, "what is microneedling?")
    context.set_offline(True)
    page.get_by_text("Connection lost").wait_for(timeout=WAIT)
    box = page.get_by_role("textbox", name="Message")
    box.fill("does it hurt?")
    box.press("Enter")
    page.get_by_text("waiting to send").wait_for(timeout=WAIT)
    context.set_offline(False)
    page.get_by_text("Connected again").wait_for(timeout=30_000)
    page.get_by_text("numbing cream", exact=False).first.wait_for(timeout=WAIT)

    # Keyboard: Escape closes the panel and gives the focus back to the launcher.
    page.keyboard.press("Escape")
    focused = page.evaluate("() => document.activeElement.id")
    assert focused == "needlecheck-widget"
    page.get_by_role("button", name=re.compile("chat", re.IGNORECASE)).click()

    assert serious_violations(page) == []
    assert errors == []
    assert external == []  # no font, CDN or tracker: nothing leaves the clinic's servers

    # "Delete my conversation" erases what the clinic stored, and the browser's copy.
    page.get_by_role("button", name="Delete my conversation").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.get_by_text("Your conversation was deleted.").wait_for(timeout=WAIT)
    assert (
        rows(assistant, "SELECT id FROM screenings WHERE conversation_id = :c", c=session_id) == []
    )
    stored = page.evaluate("() => localStorage.getItem('needlecheck:http://127.0.0.1:5095')")
    assert stored is None or json.loads(stored)["sessionId"] != session_id
    context.close()


def test_the_widget_fills_a_phone_screen_and_respects_reduced_motion(assistant, browser) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, reduced_motion="reduce", is_mobile=True
    )
    page = context.new_page()
    open_widget(page)
    panel = page.get_by_role("dialog")
    box = panel.bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    animation = panel.evaluate("el => getComputedStyle(el).animationName")
    assert animation == "none"
    page.get_by_role("button", name="Start the chat").click()
    page.get_by_role("button", name="Yes, I agree").wait_for(timeout=WAIT)
    page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
    assert serious_violations(page) == []
    context.close()


def test_a_receptionist_runs_a_screening_for_a_caller(assistant, browser) -> None:
    add_staff(assistant, "rita", "front_desk", "reception passphrase 42")
    page = browser.new_page(viewport={"width": 1180, "height": 900})
    page.goto(f"http://127.0.0.1:{FRONTDESK_PORT}/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "reception passphrase 42")
    page.click("button:has-text('Sign in')")
    page.get_by_role("button", name="New screening for a caller").click()
    page.get_by_text("microneedling assistant").first.wait_for(timeout=WAIT)
    conversation = page.locator("#caller").get_attribute("data-conversation")

    def options_then(title: str, expected: str) -> None:
        page.locator("#caller-log .options button:not([disabled])", has_text=title).click()
        page.get_by_text(expected).first.wait_for(timeout=WAIT)

    options_then("Yes, I agree", "to be safe")
    options_then("None of these", "How old are you?")
    for words in list(CLEAR_ANSWERS.values())[1:]:
        before = page.locator("#caller-log .message.bot").count()
        page.get_by_label("Caller's answer").fill(words)
        page.get_by_label("Caller's answer").press("Enter")
        page.wait_for_function(
            "n => document.querySelectorAll('#caller-log .message.bot').length > n",
            arg=before,
            timeout=WAIT,
        )
    page.get_by_text("nothing in your answers that rules microneedling out").wait_for(timeout=WAIT)
    page.screenshot(path=str(ARTIFACTS / "frontdesk-caller.png"), full_page=True)
    [(screening, *stored)] = rows(
        assistant,
        "SELECT id, outcome, channel, taken_by FROM screenings WHERE conversation_id = :c",
        c=conversation,
    )
    assert stored == ["eligible", "frontdesk", "rita"]
    # The queue lists it (among the eligible: the whole queue is paged, and the suite's
    # other screenings come first), and its page names who took it.
    page.goto(f"http://127.0.0.1:{FRONTDESK_PORT}/?outcome=eligible&per_page=500")
    page.locator(f"#queue-rows a[href='/screenings/{screening}']").click()
    page.get_by_text("taken by rita").wait_for(timeout=WAIT)
    page.close()


def test_the_widget_speaks_the_configured_language(assistant, browser) -> None:
    page = browser.new_page()

    def spanish(route) -> None:
        original = route.fetch()
        body = original.text().replace('"language": "en"', '"language": "es"')
        route.fulfill(response=original, body=body)

    page.route("**/demo", spanish)
    page.goto(DEMO)
    page.get_by_role("button", name="Abrir el chat con Example Skin Clinic").click()
    page.get_by_role("button", name="Empezar el chat").click()
    assert page.get_by_role("textbox", name="Mensaje").is_visible()
    page.close()


MARKUP = "<img src=x onerror=alert(1)>"


def test_markup_typed_into_the_widget_is_shown_as_text(assistant, browser) -> None:
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    open_widget(page)
    page.get_by_role("button", name="Start the chat").click()
    page.get_by_role("button", name="Yes, I agree").wait_for(timeout=WAIT)
    answer(page, MARKUP)
    shown = page.locator("#needlecheck-widget .message").all_inner_texts()
    # An injected <img src=x onerror=...> would fire once its request fails: wait for the
    # network to go quiet rather than for a guessed time.
    page.wait_for_load_state("networkidle")
    assert any(MARKUP in text for text in shown)
    assert alerts == []
    images = page.evaluate(
        "() => document.getElementById('needlecheck-widget').shadowRoot"
        ".querySelectorAll('img[src=x]').length"
    )
    assert images == 0
    page.close()


def test_a_deferral_in_the_widget_offers_its_earliest_date_as_a_calendar_file(
    assistant, browser
) -> None:
    from needlecheck.booking import CONSULTATIONS
    from needlecheck.config import Settings
    from needlecheck.screening.dates import add_months

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_widget(page)
    page.get_by_role("button", name="Start the chat").click()
    page.get_by_role("button", name="Yes, I agree").wait_for(timeout=WAIT)
    click_option(page, "Yes, I agree")
    click_option(page, "None of these")
    answers = list({**CLEAR_ANSWERS, "isotretinoin": "I took Accutane"}.values())[1:]
    at = answers.index("I took Accutane") + 1
    for words in [*answers[:at], "two months ago", *answers[at:]]:
        answer(page, words)
    card = page.locator("#needlecheck-widget section.card")
    card.wait_for(timeout=WAIT)
    assert card.locator("h3").inner_text() == "Microneedling should wait"
    # The clinic's booking page (tests/e2e/conftest.py gives one), in a new tab, with the
    # suggested consultation prefilled; no name was given, so none is sent.
    book = card.get_by_role("link", name="Book a consultation online")
    assert book.get_attribute("class") == "button primary"
    assert (book.get_attribute("target"), book.get_attribute("rel")) == (
        "_blank",
        "noopener noreferrer",
    )
    booked = urlsplit(book.get_attribute("href"))
    assert (booked.scheme, booked.netloc, booked.path) == (
        "https",
        "cal.com",
        "/riverside/consultation",
    )
    assert parse_qs(booked.query) == {"notes": [CONSULTATIONS["defer"]]}
    link = card.get_by_role("link", name="Add the earliest date to my calendar")
    href = link.get_attribute("href")
    assert href.startswith(f"http://127.0.0.1:{FRONTDESK_PORT}/widget/ics?date=")
    today = Settings.from_environment(assistant["env"]).today()
    earliest = add_months(add_months(today, -2), 6)
    calendar = page.request.get(href)
    assert calendar.status == 200
    assert calendar.headers["content-type"] == "text/calendar; charset=utf-8"
    assert f"DTSTART;VALUE=DATE:{earliest:%Y%m%d}\r\n" in calendar.text()
    forged = page.request.get(href[:-4] + ("0000" if not href.endswith("0000") else "1111"))
    assert forged.status == 403
    assert serious_violations(page) == []
    assert errors == []
    context.close()
