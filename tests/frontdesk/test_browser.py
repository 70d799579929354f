"""A real browser on the front desk: Debian's Chromium driven by Playwright.

Signs in, watches a newly stored screening appear in the open queue without a reload,
marks it contacted, and saves screenshots under var/test-artifacts/.
"""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.frontdesk.support import PASSWORDS, add_contact, add_screening, words

pytestmark = pytest.mark.browser


def test_staff_sign_in_see_a_new_screening_arrive_and_mark_it_contacted(frontdesk, browser) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    add_screening(frontdesk.sessions, "b-old", "defer_dated", minutes_ago=30)
    add_contact(frontdesk.sessions, "b-old", "Lena Fischer", "+49 30 5555 0111")
    page = browser.new_page(viewport={"width": 1180, "height": 820})
    page.goto(f"{frontdesk.url}/")
    assert page.locator("h1").inner_text() == "Sign in"
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORDS["bob"])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Queue')")

    # Stored by the assistant while the page is open: it must appear without a reload.
    screening = add_screening(frontdesk.sessions, "b-new", "clinician_review", **words())
    row = page.locator(f"#queue-rows a[href='/screenings/{screening}']")
    row.wait_for(timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "frontdesk-queue.png"), full_page=True)

    row.click()
    page.wait_for_selector(f"h1:has-text('Screening #{screening}')")
    assert "I have diabetes, type 2" in page.content()
    page.select_option("select[name=status]", "contacted")
    page.fill("textarea[name=note]", "called back, booking next week")
    page.click("section:has(h2:has-text('Follow-up')) button:has-text('Save')")
    page.wait_for_selector("ul.history >> text=called back, booking next week")
    assert "Status: contacted" in page.content()
    page.screenshot(path=str(ARTIFACTS / "frontdesk-screening.png"), full_page=True)
    assert (ARTIFACTS / "frontdesk-queue.png").stat().st_size > 10_000


MARKUP = "<img src=x onerror=alert(1)>"


def test_what_a_person_typed_is_shown_as_text_on_every_page(frontdesk, browser) -> None:
    screening = add_screening(
        frontdesk.sessions,
        "b-markup",
        "clinician_review",
        evidence={"conditions": [MARKUP]},
        transcript=[{"at": "2026-11-24T10:00:00+00:00", "speaker": "person", "text": MARKUP}],
    )
    contact = add_contact(frontdesk.sessions, "b-markup", f"Ana {MARKUP}", "+49 30 5555 0122")
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.goto(f"{frontdesk.url}/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORDS["bob"])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Queue')")
    for path in ("/?q=Ana", f"/screenings/{screening}", f"/contacts/{contact}"):
        page.goto(f"{frontdesk.url}{path}", wait_until="networkidle")
        assert MARKUP in page.inner_text("body"), path
        assert page.locator("img[src=x]").count() == 0, path
    assert alerts == []
    page.close()
