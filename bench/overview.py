"""A year of a busy clinic for the Overview page: seed it, then time the page's queries.

    uv run python -m bench.overview                         # SQLite in var/bench-overview.db
    uv run python -m bench.overview postgresql://postgres@127.0.0.1:5432/needlecheck_bench

Seeds 100,000 screenings over 365 days (with findings, contact requests, follow-ups and
the funnel's steps) into an empty, migrated database, rebuilds the Overview's summary
(the rows are inserted in bulk, past the store's functions), then times
`needlecheck.store.overview.overview` (the summary) and `live_overview` (the raw tables)
for the last 7 days, 30 days and the whole year.
tests/frontdesk/test_overview.py seeds the same data (fewer rows by default) and asserts
the page's time; docs/performance.md ("The Overview page") has the numbers.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from needlecheck.screening import FACT_NAMES
from needlecheck.store.models import (
    ContactRequest,
    FollowUp,
    FunnelEvent,
    Screening,
    ScreeningFinding,
)

ROOT = Path(__file__).resolve().parents[1]
END = date(2026, 12, 6)
ZONE = ZoneInfo("Europe/London")
CHANNELS = (("web", 55), ("twilio", 20), ("whatsapp", 15), ("facebook", 5), ("telegram", 5))
OUTCOME_WEIGHTS = (
    ("eligible", 45),
    ("defer", 18),
    ("clinician_review", 14),
    ("not_suitable", 8),
    ("urgent_care", 3),
    (None, 12),
)
CHUNK = 5000


def rule_ids() -> list[str]:
    rules = yaml.safe_load((ROOT / "needlecheck/screening/rules.yml").read_text())["rules"]
    return [rule["id"] for rule in rules]


def _pick(choices: tuple[tuple[object, int], ...], rng: random.Random) -> object:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights)[0]


def _flush(session, model, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(model), rows)
        rows.clear()


def seed(sessions: sessionmaker, screenings: int = 100_000, days: int = 365, end: date = END):
    """`screenings` over the `days` up to `end`, in an empty migrated database."""
    rng = random.Random(18)
    rules = rule_ids()
    start = end - timedelta(days=days - 1)
    batches: dict[type, list[dict]] = {
        Screening: [],
        ScreeningFinding: [],
        ContactRequest: [],
        FollowUp: [],
        FunnelEvent: [],
    }
    finding_id = follow_up_id = contact_id = funnel_id = 0
    with sessions.begin() as session:
        for n in range(1, screenings + 1):
            day = start + timedelta(days=rng.randrange(days))
            local = datetime.combine(day, clock(8), ZONE) + timedelta(seconds=rng.randrange(43200))
            created = local.astimezone(timezone.utc)
            outcome = _pick(OUTCOME_WEIGHTS, rng)
            conversation = f"seed-{n}"
            batches[Screening].append(
                {
                    "id": n,
                    "conversation_id": conversation,
                    "channel": _pick(CHANNELS, rng),
                    "facts": {},
                    "outcome": outcome,
                    "missing": [],
                    "policy_name": "seed",
                    "policy_version": "1",
                    "assessed_on": day,
                    "status": "new",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if outcome not in ("eligible", None) or rng.random() < 0.3:
                for position in range(rng.choice((1, 1, 2, 3))):
                    finding_id += 1
                    batches[ScreeningFinding].append(
                        {
                            "id": finding_id,
                            "screening_id": n,
                            "position": position,
                            "rule_id": rng.choice(rules[: 8 + position * 7]),
                            "severity": "review",
                            "reason": "seeded",
                            "source": "seeded",
                        }
                    )
            if rng.random() < 0.3:
                contact_id += 1
                batches[ContactRequest].append(
                    {
                        "id": contact_id,
                        "conversation_id": conversation,
                        "screening_id": n,
                        "name": "Seed Person",
                        "phone": "+447700900000",
                        "consent_given": True,
                        "consent_at": created,
                        "consent_text_version": "seed",
                        "status": "new",
                        "created_at": created + timedelta(minutes=2),
                        "updated_at": created + timedelta(minutes=2),
                    }
                )
            if rng.random() < 0.75:
                first = created + timedelta(hours=rng.lognormvariate(1.2, 1.1))
                statuses = ["contacted"] + (["booked"] if rng.random() < 0.35 else [])
                for index, status in enumerate(statuses):
                    follow_up_id += 1
                    batches[FollowUp].append(
                        {
                            "id": follow_up_id,
                            "record_type": "screening",
                            "record_id": n,
                            "status": status,
                            "staff_username": "seed",
                            "created_at": first + timedelta(hours=index * 20),
                        }
                    )
            digest = "hmac:" + hashlib.sha256(conversation.encode()).hexdigest()
            reached = FACT_NAMES if outcome else FACT_NAMES[: rng.randrange(len(FACT_NAMES))]
            stages = ["started", "consented", *(f"question:{name}" for name in reached)]
            for index, stage in enumerate(stages):
                funnel_id += 1
                batches[FunnelEvent].append(
                    {
                        "id": funnel_id,
                        "conversation_digest": digest,
                        "stage": stage,
                        "at": created - timedelta(seconds=20 * (len(stages) - index)),
                    }
                )
            if rng.random() < 0.25:
                # Someone who saw the consent question and went no further.
                funnel_id += 1
                batches[FunnelEvent].append(
                    {
                        "id": funnel_id,
                        "conversation_digest": "hmac:"
                        + hashlib.sha256(b"x" + digest.encode()).hexdigest(),
                        "stage": "started",
                        "at": created - timedelta(minutes=7),
                    }
                )
            if n % CHUNK == 0:
                for model, rows in batches.items():
                    _flush(session, model, rows)
        for model, rows in batches.items():
            _flush(session, model, rows)
    from needlecheck.store.overview_summary import rebuild

    with sessions.begin() as session:
        rebuild(session, ZONE)
    return {
        "findings": finding_id,
        "contacts": contact_id,
        "follow_ups": follow_up_id,
        "funnel": funnel_id,
    }


def timed(
    sessions: sessionmaker, start: date, end: date, runs: int = 5, live: bool = False
) -> list[float]:
    """Milliseconds of each of `runs` calls, after one to warm the caches."""
    from needlecheck.store.overview import live_overview, overview

    count = live_overview if live else overview
    times = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        with sessions.begin() as session:
            count(session, start, end, ZONE)
        times.append(1000 * (time.perf_counter() - began))
    return times[1:]


def main(argv: list[str]) -> None:
    import os

    from needlecheck.store.database import create_db_engine, session_factory
    from needlecheck.store.migrate import upgrade

    os.environ.setdefault("NEEDLECHECK_DATA_KEYS", "q0bJ7d7PZ8y3C0q1a9jv7cBvj8Gk2mXv9iLr0s3tU4w=")
    url = argv[0] if argv else f"sqlite:///{ROOT / 'var' / 'bench-overview.db'}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    upgrade(url)
    sessions = session_factory(create_db_engine(url))
    began = time.perf_counter()
    counts = seed(sessions)
    print(f"seeded 100000 screenings, {counts} in {time.perf_counter() - began:.0f} s")
    from needlecheck.store.overview_summary import rebuild

    began = time.perf_counter()
    with sessions.begin() as session:
        rebuild(session, ZONE)
    print(f"summary rebuilt in {time.perf_counter() - began:.1f} s")
    for label, days in (("7 days", 7), ("30 days", 30), ("365 days", 365)):
        for live in (False, True):
            runs = timed(sessions, END - timedelta(days=days - 1), END, live=live)
            print(
                f"{label}, {'live' if live else 'summary'}: median "
                f"{statistics.median(runs):.1f} ms, max {max(runs):.1f} ms over {len(runs)} runs"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
