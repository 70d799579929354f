"""The queue a page at a time, for a group of clinics with years of records: the count
is the filter's real count on every page, and walking the pages (the `next` links, which
keep the filter) gives every matching row exactly once."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from needlecheck.screening import assess
from needlecheck.store import queue as queue_store
from needlecheck.store import repository
from tests.frontdesk.in_process import desk_in_process
from tests.frontdesk.support import FACTS, TODAY
from tests.screening.test_engine import CLEAR

KINDS = ("eligible", "defer_dated", "clinician_review", "not_suitable", "urgent_care")
ROWS = 3000
START = datetime(2023, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("paging")
    with desk_in_process(folder, monkeypatch) as running:
        assessments = {kind: assess({**CLEAR, **FACTS[kind]}, TODAY) for kind in KINDS}
        truth = []
        with running.sessions.begin() as session:
            for n in range(ROWS):
                kind = KINDS[n % len(KINDS)]
                # Years of records, several an hour apart on some days: ties in time too.
                created = START + timedelta(hours=(n * 9) // 2)
                conversation = f"clinic{n % 3}-{n}"
                screening = repository.save_screening(
                    session,
                    conversation_id=conversation,
                    channel="web",
                    assessment=assessments[kind],
                    consent_text_version="sha256:" + "a" * 16,
                )
                screening.created_at = created
                screening.status = ("new", "contacted", "closed")[(n % 3 == 0 and 2) or n % 2]
                truth.append(("screening", screening.outcome, screening.status, created))
                if n % 7 == 0:
                    details = repository.normalise_contact(f"Person {n}", None, f"p{n}@x.org", None)
                    contact = repository.add_contact_request(
                        session,
                        conversation_id=conversation,
                        details=details,
                        consent_given=True,
                        consent_text_version="sha256:" + "b" * 16,
                    )
                    contact.created_at = created + timedelta(minutes=5)
                    truth.append(("contact", screening.outcome, "new", contact.created_at))
        running.truth = truth
        yield running
    monkeypatch.undo()


def expected(desk, status: str, outcome: str | None, since: date | None, until: date | None) -> int:
    def status_ok(s: str) -> bool:
        return status == "all" or (s != "closed" if status == "open" else s == status)

    return sum(
        1
        for _, o, s, created in desk.truth
        if status_ok(s)
        and (outcome is None or o == outcome)
        and (since is None or created.date() >= since)
        and (until is None or created.date() <= until)
    )


FILTERS = [
    ("all", None, None, None),
    ("open", None, None, None),
    ("open", "defer", None, None),
    ("contacted", "eligible", None, None),
    ("all", None, date(2024, 2, 1), date(2025, 6, 30)),
    ("closed", "urgent_care", date(2023, 6, 1), None),
]


@pytest.mark.parametrize(("status", "outcome", "since", "until"), FILTERS)
def test_the_pages_cover_the_filtered_queue_once_and_count_it(
    desk, status, outcome, since, until
) -> None:
    real = expected(desk, status, outcome, since, until)
    # Pages of an odd size, several of them for every filter.
    size = 61 if real < 1000 else 331
    params = {"status": status, "per_page": size}
    if outcome:
        params["outcome"] = outcome
    if since:
        params["since"] = since.isoformat()
    if until:
        params["until"] = until.isoformat()
    assert real > size  # more than one page
    seen: list[tuple[str, int]] = []
    pages = 0
    with desk.client("bob") as client:
        answer = client.get("/api/queue", params=params).json()
        whole = client.get("/api/queue", params={**params, "per_page": 500, "page": 1}).json()
        while True:
            pages += 1
            assert answer["total"] == real
            assert answer["pages"] == -(-real // size)
            assert len(answer["items"]) == min(size, real - len(seen))
            seen += [(row["kind"], row["id"]) for row in answer["items"]]
            for row in answer["items"]:
                assert row["status"] == status or status in ("all", "open")
                assert outcome is None or row["outcome"] == outcome
            if answer["next"] is None:
                break
            # The link keeps the filter.
            assert f"status={status}" in answer["next"] and f"per_page={size}" in answer["next"]
            if outcome:
                assert f"outcome={outcome}" in answer["next"]
            answer = client.get(answer["next"]).json()
            assert answer["previous"] is not None
    assert len(seen) == len(set(seen)) == real
    assert pages == -(-real // size)
    # The pages, put together, are the queue's order.
    assert whole["total"] == real
    first = [(row["kind"], row["id"]) for row in whole["items"]]
    assert seen[: len(first)] == first


def test_the_page_shows_n_of_the_total_and_links_that_keep_the_filter(desk) -> None:
    real = expected(desk, "open", "defer", None, None)
    with desk.client("bob") as client:
        first = client.get("/", params={"outcome": "defer"}).text
        second = client.get("/", params={"outcome": "defer", "page": 2}).text
        beyond = client.get("/", params={"outcome": "defer", "page": 9999}).text
        bad = client.get("/api/queue", params={"page": 0})
        huge = client.get("/api/queue", params={"per_page": 100000})
    assert f"1\u201350 of {real}" in first
    assert 'href="/?status=open&amp;outcome=defer&amp;page=2"' in first
    assert 'rel="prev"' not in first
    assert f"51\u2013100 of {real}" in second
    assert 'href="/?status=open&amp;outcome=defer&amp;page=1" rel="prev"' in second
    assert 'href="/export/queue.csv?status=open&amp;outcome=defer"' in first
    assert f"Page 9999 is past the end: {real} in all" in beyond
    assert "Nothing in the queue" in beyond
    last = -(-real // 50)
    assert f'href="/?status=open&amp;outcome=defer&amp;page={last}" rel="prev"' in beyond
    assert len(re.findall(r'<tr class="rank-', first)) == 50
    assert bad.status_code == 422 and huge.status_code == 422


def test_the_store_pages_without_overlap_in_the_whole_queues_order(desk) -> None:
    with desk.sessions() as session:
        whole = queue_store.queue(session, status="all")
        pages = [queue_store.queue_page(session, page=n, per_page=3, status="all") for n in (1, 2)]
        total = len(whole)
        last = queue_store.queue_page(session, page=-(-total // 3), per_page=3, status="all")
        beyond = queue_store.queue_page(session, page=10_000, per_page=3, status="all")
        empty = queue_store.queue_page(session, search="nobody at all")
    assert total == len(desk.truth)
    assert [(p.first, p.last, p.pages, p.total) for p in pages] == [
        (1, 3, -(-total // 3), total),
        (4, 6, -(-total // 3), total),
    ]
    assert pages[0].items + pages[1].items == whole[:6]
    assert last.items == whole[-(total % 3 or 3) :] and not last.has_next
    assert (beyond.items, beyond.total, beyond.first, beyond.has_previous) == ([], total, 0, True)
    assert (empty.items, empty.total, empty.pages) == ([], 0, 1)
