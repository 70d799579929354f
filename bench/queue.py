"""Years of a clinic's records for the front desk's queue: seed them, then time a page.

    uv run python -m bench.queue                         # SQLite in var/bench-queue.db
    uv run python -m bench.queue postgresql://postgres@127.0.0.1:5432/needlecheck_bench

Seeds 20,000 screenings over three years (some conversations corrected, so with two or
three; a third of them on SMS or WhatsApp, whose conversation IDs are stored as keyed
digests), their findings, a few overrides, contact requests (with and without a
screening) and handoff requests into an empty, migrated database, then times
`needlecheck.store.queue.queue_page` for the pages in `CASES`.
tests/store/test_queue_speed.py seeds the same data and asserts the time;
docs/performance.md ("The front desk's queue") has the numbers.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bench.overview import CHUNK, END, OUTCOME_WEIGHTS, ROOT, ZONE
from needlecheck.store.encryption import conversation_key, sealed_conversation
from needlecheck.store.models import (
    ContactRequest,
    HandoffRequest,
    OutcomeOverride,
    Screening,
    ScreeningFinding,
)

# The Overview's bench seeds the same clinic: its end date, zone and mix of outcomes.
DAYS = 3 * 365
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Ewa", "Farah", "Gus", "Hana", "Ivan", "June")
LAST_NAMES = ("Okafor", "Smith", "Nguyen", "Garcia", "Kowalski", "Rao", "Brown", "Silva")
# A screening's conversation, as long as a typical one (17 messages): stored encrypted in
# the row, it is what makes reading whole rows slow.
TRANSCRIPT = [
    {"at": "2026-11-24T10:00:00+00:00", "speaker": speaker, "text": text * 3}
    for speaker, text in [
        ("assistant", "What would you like to improve? "),
        ("person", "acne scars on my cheeks "),
    ]
    * 9
]


@dataclass(frozen=True)
class Seeded:
    screenings: int
    conversations: int
    findings: int
    overrides: int
    contacts: int
    handoffs: int
    # A name and a phone number seeded once, to search for.
    name: str
    phone: str


def _status(created: datetime, rng: random.Random) -> str:
    """Old records are mostly followed up and closed; recent ones mostly new."""
    age = (datetime.combine(END, clock(), timezone.utc) - created).days
    if age > 60:
        return rng.choices(("closed", "booked", "contacted", "new"), (80, 8, 7, 5))[0]
    return rng.choices(("new", "contacted", "booked", "closed"), (60, 20, 10, 10))[0]


def _conversation(n: int, rng: random.Random) -> str:
    if rng.random() < 0.33:
        return f"whatsapp:+4477009{n:05d}" if rng.random() < 0.5 else f"+1202555{n:05d}"
    return f"web-{n:06d}"


def seed(sessions: sessionmaker, screenings: int = 20_000, days: int = DAYS) -> Seeded:
    """`screenings` over the `days` up to END, with their contacts and handoffs, in an
    empty migrated database; as fast as plain INSERTs go (the ORM's defaults and the
    encrypted columns still apply)."""
    rng = random.Random(8)
    start = END - timedelta(days=days - 1)
    rows: dict[type, list[dict[str, Any]]] = {
        Screening: [],
        ScreeningFinding: [],
        OutcomeOverride: [],
        ContactRequest: [],
        HandoffRequest: [],
    }
    counts = dict.fromkeys(rows, 0)
    moments = sorted(
        datetime.combine(start + timedelta(days=rng.randrange(days)), clock(8), ZONE)
        + timedelta(seconds=rng.randrange(43200))
        for _ in range(screenings)
    )
    recent: list[tuple[str, datetime]] = []
    conversations = 0
    search_name, search_phone = "Zelda Quist", "+447700912345"

    def add(model: type, **values: Any) -> int:
        counts[model] += 1
        rows[model].append({"id": counts[model], **values})
        return counts[model]

    with sessions.begin() as session:
        for n, local in enumerate(moments, start=1):
            created = local.astimezone(timezone.utc)
            # One in seven is a correction of a conversation of the last few hours.
            if recent and rng.random() < 1 / 7:
                conversation, _ = rng.choice(recent[-5:])
            else:
                conversations += 1
                conversation = _conversation(conversations, rng)
            recent.append((conversation, created))
            outcome = rng.choices(*zip(*OUTCOME_WEIGHTS, strict=True))[0]
            screening = add(
                Screening,
                conversation_id=conversation_key(conversation),
                encrypted_conversation_id=sealed_conversation(conversation),
                channel="web",
                facts={"age": 30, "skin_conditions": [], "medications": []},
                transcript=TRANSCRIPT,
                outcome=outcome,
                earliest_date=(created + timedelta(days=rng.randrange(10, 200))).date()
                if outcome == "defer"
                else None,
                missing=[] if outcome else ["skin_conditions", "medications"],
                policy_name="seed",
                policy_version="1",
                assessed_on=created.date(),
                status=_status(created, rng),
                created_at=created,
                updated_at=created,
            )
            if outcome not in ("eligible", None):
                for position in range(rng.choice((1, 1, 2))):
                    add(
                        ScreeningFinding,
                        screening_id=screening,
                        position=position,
                        rule_id="seed_rule",
                        severity="review",
                        reason=f"seeded reason {position}",
                        source="seeded",
                    )
            if rng.random() < 0.02:
                add(
                    OutcomeOverride,
                    screening_id=screening,
                    outcome="clinician_review",
                    reason="seeded",
                    clinician_username="seed",
                    created_at=created + timedelta(days=1),
                )
            if rng.random() < 0.2:
                _contact(add, rng, conversation, created + timedelta(minutes=3), screening)
            if rng.random() < 0.06:
                add(
                    HandoffRequest,
                    conversation_id=conversation_key(conversation),
                    encrypted_conversation_id=sealed_conversation(conversation),
                    reason="asked to talk to a person",
                    status=rng.choice(("open", "contacted", "closed", "closed", "closed")),
                    created_at=created + timedelta(minutes=1),
                    updated_at=created + timedelta(minutes=1),
                )
            if rng.random() < 0.06:
                # A contact request from a conversation with no screening (consent declined).
                conversations += 1
                _contact(add, rng, _conversation(conversations, rng), created, None)
            if n == screenings // 2:
                _contact(
                    add, rng, "web-search-me", created, None, name=search_name, phone=search_phone
                )
            if n % CHUNK == 0:
                _flush(session, rows)
            del recent[:-5]
        _flush(session, rows)
    return Seeded(
        screenings=counts[Screening],
        conversations=conversations,
        findings=counts[ScreeningFinding],
        overrides=counts[OutcomeOverride],
        contacts=counts[ContactRequest],
        handoffs=counts[HandoffRequest],
        name=search_name,
        phone=search_phone,
    )


def _contact(
    add: Callable[..., int],
    rng: random.Random,
    conversation: str,
    created: datetime,
    screening: int | None,
    *,
    name: str | None = None,
    phone: str | None = None,
) -> None:
    add(
        ContactRequest,
        conversation_id=conversation_key(conversation),
        encrypted_conversation_id=sealed_conversation(conversation),
        screening_id=screening,
        name=name or f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        phone=phone or f"+4479460{rng.randrange(100000):05d}",
        email=None,
        preferred_time="mornings",
        consent_given=True,
        consent_at=created,
        consent_text_version="seed",
        status=_status(created, rng),
        created_at=created,
        updated_at=created,
    )


def _flush(session: Session, rows: dict[type, list[dict[str, Any]]]) -> None:
    for model, batch in rows.items():
        if batch:
            session.execute(insert(model), batch)
            batch.clear()


def cases(seeded: Seeded, pages: int) -> dict[str, dict[str, Any]]:
    """The pages timed: `pages` is how many pages of 50 the default (open) filter has."""
    return {
        "first page": {},
        "middle page": {"page": max(1, pages // 2)},
        "last page": {"page": pages},
        "all, page 300": {"status": "all", "page": 300},
        "past the end": {"page": 10_000},
        "outcome defer": {"outcome": "defer"},
        "a month, all": {"status": "all", "since": date(2025, 3, 1), "until": date(2025, 3, 31)},
        "search by name": {"status": "all", "search": seeded.name.split()[1]},
        "search by phone": {"status": "all", "search": seeded.phone[-6:]},
    }


def timed(sessions: sessionmaker, runs: int = 5, **filters: Any) -> list[float]:
    """Milliseconds of each of `runs` pages, after one to warm the caches."""
    from needlecheck.store.queue import queue_page

    times = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        with sessions() as session:
            queue_page(session, zone=ZONE, **filters)
        times.append(1000 * (time.perf_counter() - began))
    return times[1:]


def main(argv: list[str]) -> None:
    import os

    from needlecheck.store.database import create_db_engine, session_factory
    from needlecheck.store.migrate import upgrade
    from needlecheck.store.queue import queue_page

    os.environ.setdefault("NEEDLECHECK_DATA_KEYS", "q0bJ7d7PZ8y3C0q1a9jv7cBvj8Gk2mXv9iLr0s3tU4w=")
    url = argv[0] if argv else f"sqlite:///{ROOT / 'var' / 'bench-queue.db'}"
    runs = int(os.environ.get("NEEDLECHECK_BENCH_RUNS", "5"))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    upgrade(url)
    sessions = session_factory(create_db_engine(url))
    began = time.perf_counter()
    seeded = seed(sessions)
    print(f"seeded {seeded} in {time.perf_counter() - began:.1f} s")
    with sessions() as session:
        pages = queue_page(session, zone=ZONE).pages
    for label, filters in cases(seeded, pages).items():
        runs_ms = timed(sessions, runs, **filters)
        print(
            f"{label}: median {statistics.median(runs_ms):.1f} ms, "
            f"max {max(runs_ms):.1f} ms over {len(runs_ms)} runs"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
