"""The Overview page in a real browser (Debian's Chromium): it renders its five plots,
each with a text alternative and a table of its numbers, axe-core finds no serious
violation, the CSP refuses nothing, a CSV downloads; the screenshot goes to
docs/frontdesk-overview.png."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bench.overview import seed
from tests.conftest import ARTIFACTS, AXE
from tests.frontdesk.support import PASSWORDS

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def serious_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of impact serious or critical."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make browser` fetches axe-core")
    # Through the DevTools protocol: the page's CSP rightly refuses inline scripts.
    page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_overview_renders_its_plots_with_text_alternatives_and_no_serious_violation(
    frontdesk, browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seed(frontdesk.sessions, screenings=2000, days=60, end=date.today())
    page = browser.new_page(viewport={"width": 1180, "height": 900}, accept_downloads=True)
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security" in message.text else None
        ),
    )
    page.goto(f"{frontdesk.url}/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORDS["alice"])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Queue')")
    page.click("nav a:has-text('Overview')")
    page.wait_for_selector("h1:has-text('Overview')")

    charts = page.locator("svg.chart[role=img]")
    assert charts.count() == 5
    for index in range(5):
        chart = charts.nth(index)
        # The accessible name and description, as assistive technology reads them.
        name = page.evaluate(
            """(svg) => svg.getAttribute('aria-labelledby').split(' ')
                 .map((id) => document.getElementById(id).textContent).join(' | ')""",
            chart.element_handle(),
        )
        title, description = name.split(" | ")
        assert title and len(description) > 20, name
        section = page.locator("section.plot").nth(index)
        assert section.locator("table.numbers tbody tr").count() >= 1
        assert section.locator("a:has-text('Download CSV')").count() == 1
        box = chart.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60
    # Screenings were drawn: the stacked columns have their own titles.
    assert page.locator("#plot-per-day rect title").count() > 7

    timing = json.loads(
        page.evaluate(
            """() => { const n = performance.getEntriesByType('navigation')[0];
                return JSON.stringify({response: n.responseEnd - n.requestStart,
                  loaded: n.loadEventEnd - n.startTime, bytes: n.transferSize,
                  body: n.decodedBodySize}); }"""
        )
    )
    print(f"overview in Chromium: {timing}")
    assert timing["response"] < 2000

    page.screenshot(path=str(ARTIFACTS / "frontdesk-overview.png"), full_page=True)
    page.screenshot(path=str(DOCS / "frontdesk-overview.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("section.plot").nth(1).locator("a:has-text('Download CSV')").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("step,conversations,percent_of_started")

    # With every table open, too.
    for summary in page.locator("details > summary").all():
        summary.click()
    assert page.locator("table.numbers").first.is_visible()
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 400, "height": 800})
    assert serious_violations(page) == []
    assert refused == []
    page.close()
