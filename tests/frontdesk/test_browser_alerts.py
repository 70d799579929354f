"""Staff alerts in a real browser (Debian's Chromium under Playwright), against
`needlecheck frontdesk` in its own process with email on (aiosmtpd in this test):

the tab's title counts the records with an alert nobody has followed up; a new urgent
screening plays a tone (once the page has been used) and calls the Notification API
(stubbed by an init script, after the button asked for permission, never on load); what
was already there when the page opened does not notify; and the front desk's own
dispatcher emails the alert.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from needlecheck.store import queue
from tests.conftest import ARTIFACTS
from tests.frontdesk.conftest import free_port
from tests.frontdesk.support import PASSWORDS, add_contact, add_handoff, add_screening, words
from tests.frontdesk.test_alerts import Inbox

pytestmark = pytest.mark.browser

SMTP_PORT = free_port()
FRONTDESK_ENV = {
    "NEEDLECHECK_SMTP_HOST": "127.0.0.1",
    "NEEDLECHECK_SMTP_PORT": str(SMTP_PORT),
    "NEEDLECHECK_SMTP_SECURITY": "none",
    "NEEDLECHECK_ALERT_EMAIL_FROM": "needlecheck@riverside.example",
    "NEEDLECHECK_ALERT_EMAIL_TO": "desk@riverside.example",
    "NEEDLECHECK_CLINIC_NAME": "Riverside Skin Clinic",
    "NEEDLECHECK_FRONTDESK_URL": "https://frontdesk.riverside.example",
    "NEEDLECHECK_ALERT_RETRY_SECONDS": "1",
}

STUBS = """
window.__notifications = [];
window.__asked = 0;
window.__tones = 0;
function FakeNotification(title, options) {
  window.__notifications.push({ title: title, body: (options || {}).body || "" });
}
FakeNotification.permission = "default";
FakeNotification.requestPermission = function (callback) {
  window.__asked += 1;
  FakeNotification.permission = "granted";
  if (callback) callback("granted");
  return Promise.resolve("granted");
};
window.Notification = FakeNotification;
var RealAudio = window.AudioContext;
if (RealAudio) {
  window.AudioContext = function () {
    var context = new RealAudio();
    var make = context.createOscillator.bind(context);
    context.createOscillator = function () { window.__tones += 1; return make(); };
    return context;
  };
}
"""


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll `expression` in the page until it is true. Not wait_for_function: that
    evaluates its string with eval, which the front desk's CSP refuses (as it should)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {expression} (title {page.title()!r})")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


def test_a_new_urgent_screening_counts_in_the_title_sounds_notifies_and_is_emailed(
    inbox, frontdesk, browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    waiting = add_handoff(frontdesk.sessions, "ba-person", reason="call me about my rash")
    context = browser.new_context(viewport={"width": 1180, "height": 820})
    context.add_init_script(STUBS)
    page = context.new_page()
    page.goto(f"{frontdesk.url}/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORDS["bob"])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#alerts[data-ready=true]")
    # Already there when the page opened: counted, not notified.
    wait_until(page, "document.title.startsWith('(1) Queue')")
    assert page.evaluate("window.__asked") == 0  # never asked on load
    button = page.locator("#alerts-notify")
    assert button.is_visible()
    button.click()  # asks for permission; also the interaction that allows sound
    wait_until(page, "window.__asked === 1")
    assert button.is_hidden()
    assert page.evaluate("window.__notifications.length") == 0

    urgent = add_screening(frontdesk.sessions, "ba-urgent", "urgent_care", **words())
    add_contact(frontdesk.sessions, "ba-urgent", "Marta Kowalska", "+44 7700 900123")
    wait_until(page, "document.title.startsWith('(2) Queue')")
    wait_until(page, "window.__notifications.length === 1")
    (shown,) = page.evaluate("window.__notifications")
    assert shown == {
        "title": "An urgent screening",
        "body": f"Record #{urgent}: open the front desk",
    }
    assert page.evaluate("window.__tones") >= 1
    assert page.locator("#alerts-status").inner_text() == "2 records need attention now."
    page.screenshot(path=str(ARTIFACTS / "frontdesk-alerts.png"), full_page=True)

    # The front desk's own dispatcher emailed both, with no health details.
    deadline = time.monotonic() + 30
    while len(inbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    subjects = sorted(message["Subject"] for message in inbox.messages)
    assert subjects == [
        "A person is waiting at Riverside Skin Clinic",
        "An urgent screening at Riverside Skin Clinic",
    ]
    # Decoded: a long line goes out quoted-printable, with soft line breaks.
    texts = inbox.raw + [message.get_content() for message in inbox.messages]
    for text in texts:
        for secret in ("rash", "Marta", "7700", "diabetes", "infection", "I'm 34"):
            assert secret not in text
    assert any(f"https://frontdesk.riverside.example/screenings/{urgent}" in text for text in texts)

    # Followed up: no longer counted; a reload does not notify again.
    with frontdesk.sessions.begin() as session:
        queue.set_follow_up(
            session,
            "screening",
            urgent,
            status="contacted",
            note=None,
            staff_id=None,
            staff_username="bob",
        )
    wait_until(page, "document.title.startsWith('(1) Queue')")
    page.reload()
    page.wait_for_selector("#alerts[data-ready=true]")
    wait_until(page, "document.title.startsWith('(1) Queue')")
    assert page.evaluate("window.__notifications.length") == 0  # a new page's own count
    with frontdesk.sessions.begin() as session:
        queue.set_follow_up(
            session,
            "handoff",
            waiting,
            status="contacted",
            note=None,
            staff_id=None,
            staff_username="bob",
        )
    wait_until(page, "document.title === 'Queue · needlecheck'")

    # Reading a record, not the queue: a new urgent screening is still heard of.
    page.goto(f"{frontdesk.url}/handoffs/{waiting}")
    page.wait_for_selector("#alerts[data-ready=true]")
    record_title = page.title()
    # The stub's permission lives per page (a real browser's lasts per site): asked again.
    page.locator("#alerts-notify").click()
    wait_until(page, "window.__asked === 1")
    assert not record_title.startswith("(")
    later = add_screening(frontdesk.sessions, "ba-urgent-2", "urgent_care", **words())
    wait_until(page, f"document.title === '(1) {record_title}'")
    wait_until(page, "window.__notifications.length === 1")
    assert (
        page.evaluate("window.__notifications[0].body") == f"Record #{later}: open the front desk"
    )
    assert page.locator("#alerts-status").inner_text() == "1 record needs attention now."
    context.close()
