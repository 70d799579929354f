"""Whole conversations composed from the held-out corpus (bench/converse.py, `make
converse` holds 1000), against the assistant as `make run` starts it: none may be
stranded and none may loop, and the share that ends with the outcome and rules the
screening engine gives over the corpus's labels may not fall below the level measured
(docs/language.md, "What it understands, and how well"). The issue's floor for that
share is every conversation; `make converse` reports against it.

Failures are written, with their transcripts, to var/converse/e2e-failures.jsonl
(`python -m bench.converse --show var/converse/e2e-failures.jsonl` prints them).
"""

from __future__ import annotations

import pytest

from bench.converse import ROOT, RestAssistant, simulate
from tests.e2e.conftest import PORT, TOKEN

pytestmark = pytest.mark.rasa

CONVERSATIONS = 100
SEED = 20261201
# The share of conversations with the labelled result, as last measured (keep it rising).
KEPT_RIGHT = 0.85
FAILURES = ROOT / "var" / "converse" / "e2e-failures.jsonl"


def test_simulated_conversations_end_with_the_labelled_result(assistant) -> None:
    assert assistant["env"].get("NEEDLECHECK_TODAY") == "2026-12-01"
    # Each person on an address of their own: the shared servers' per-address budget is
    # for the other end-to-end tests, all from 127.0.0.1.
    summary = simulate(
        RestAssistant(f"http://127.0.0.1:{PORT}", TOKEN, addresses=True),
        CONVERSATIONS,
        SEED,
        workers=6,
        prefix=f"e2e-converse-{SEED}",
    )
    failed = summary.write_failures(FAILURES)
    report = summary.report()
    print(report)
    assert len(summary.conversations) == CONVERSATIONS
    where = f"{report}\n\n{failed} failures with transcripts in {FAILURES}"
    assert summary.stranded == 0, where
    assert summary.loops == 0, where
    assert summary.right >= KEPT_RIGHT * CONVERSATIONS, where
