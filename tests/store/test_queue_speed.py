"""The queue's pages on three years of records (bench/queue.py's 20,000 screenings,
about 5,200 contact requests and 1,300 handoff requests), on SQLite and PostgreSQL:
first, middle and last page, a filter, a month and a search, each a median under its
budget over 5 pages after one to warm up. NEEDLECHECK_QUEUE_SEED seeds fewer for a
quick local run."""

from __future__ import annotations

import os
import statistics

from sqlalchemy import text

from bench.queue import ZONE, cases, seed, timed
from needlecheck.store import queue as queue_store

SEEDED = int(os.environ.get("NEEDLECHECK_QUEUE_SEED", "20000"))
BUDGET_MS = 150
# A search decrypts every contact request's name (and, for digits, its phone number):
# about 20 microseconds a value here, so it is bounded by the contact requests.
SEARCH_BUDGET_MS = 400
TIMED = ("first page", "middle page", "last page", "outcome defer", "a month, all")
SEARCHES = ("search by name", "search by phone")


def test_a_page_of_years_of_records_is_served_within_budget(sessions) -> None:
    seeded = seed(sessions, screenings=SEEDED)
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            # What autovacuum would do for a table loaded this fast.
            session.execute(text("ANALYZE"))
    with sessions() as session:
        first = queue_store.queue_page(session, zone=ZONE)
    assert first.total > 50 * 3 and len(first.items) == 50
    medians = {}
    for label, filters in cases(seeded, first.pages).items():
        if label in TIMED or label in SEARCHES:
            medians[label] = statistics.median(timed(sessions, 5, **filters))
    print(", ".join(f"{label} {ms:.0f} ms" for label, ms in medians.items()))
    assert all(medians[label] < BUDGET_MS for label in TIMED), medians
    assert all(medians[label] < SEARCH_BUDGET_MS for label in SEARCHES), medians
    with sessions() as session:
        found = queue_store.queue_page(session, search=seeded.name.split()[1], status="all")
    assert [item.name for item in found.items] == [seeded.name]
