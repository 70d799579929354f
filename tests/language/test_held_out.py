"""The held-out corpus: well formed, never trained on, and the figures it gives.

The corpus is evaluation data only (tests/language/README.md). These tests keep it so:
every label is a value of docs/screening-policy.md, "Facts", no text of it is a training
example, and no sentence of it was copied into the lexicon. The last test runs the trained
model over it (`make nlu-eval` does the same and prints the tables).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from needlecheck.nlu.heldout import (
    CORPUS,
    CORPUS_TODAY,
    OPENING_ROUTES,
    ROUTE_INTENTS,
    load_corpus,
    safety_rules,
)
from needlecheck.screening import validate_facts
from needlecheck.screening.facts import DATE_FOLLOW_UPS, FACT_NAMES

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "needlecheck.tar.gz"
FAQ_TOPICS = (
    "what_is",
    "what_it_helps",
    "how_it_works",
    "pain",
    "downtime",
    "aftercare",
    "sun_protection",
    "products_after",
    "sessions",
    "who_performs",
    "privacy",
    "side_effects",
    "warning_signs",
    "results",
    "session_day",
    "skin_tone",
    "home_devices",
    "related_treatments",
)
CLINIC_TOPICS = ("price", "booking", "location", "hours", "payment", "vouchers")
ROUTES = {
    "screening",
    "greet",
    "thanks",
    "goodbye",
    "stop",
    "correction",
    "out_of_scope",
    "start_over",
    *ROUTE_INTENTS,
    *(f"faq_{t}" for t in FAQ_TOPICS),
    *(f"clinic_{t}" for t in CLINIC_TOPICS),
}
# A lexicon holds words and phrases; a sentence of this many words in it would be one
# copied from the corpus.
SENTENCE_WORDS = 7
# The measured figures are kept from falling (docs/language.md, "What it understands"); the
# issue's floors (needlecheck.nlu.heldout.FLOORS) are what `make nlu-eval` checks.
KEPT = {
    "safety_recall": 1.0,
    "fact_accuracy": 0.94,
    "opening_routing": 0.92,
    "interjection_routing": 0.93,
}


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


EXAMPLES = load_corpus()


def test_the_corpus_is_large_enough_for_the_issue() -> None:
    by_question: dict[str, int] = {}
    for example in EXAMPLES:
        if example.kind == "answer":
            by_question[example.question or ""] = by_question.get(example.question or "", 0) + 1
    assert set(by_question) == set(FACT_NAMES) | set(DATE_FOLLOW_UPS)
    assert min(by_question.values()) >= 50, by_question
    assert sum(e.kind == "opening" for e in EXAMPLES) >= 150
    assert sum(e.kind == "interjection" for e in EXAMPLES) >= 100


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.source)
def test_every_label_is_one_the_screening_knows(example) -> None:
    validate_facts(example.facts)
    if example.kind == "answer":
        assert example.route in ("answer", "unclear", "check_medicine")
        assert example.asks is None or example.asks in ROUTES
    elif example.kind == "reply":
        assert example.question in ("consent", "offer")
        assert example.route in (f"{example.question}_yes", f"{example.question}_no", "unclear")
        assert example.asks is None or example.asks in ROUTES
    else:
        assert example.route in ROUTES, example.route
    if example.kind == "interjection":
        assert example.question in FACT_NAMES


def test_no_text_of_the_corpus_is_a_training_example() -> None:
    corpus = {normalised(e.text) for e in EXAMPLES if len(normalised(e.text).split()) >= 2}
    found = []
    for path in sorted((ROOT / "data").rglob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            for line in (block.get("examples") or "").splitlines():
                line = line.strip()
                if not line.startswith("- "):
                    continue
                text = re.sub(
                    r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}",
                    lambda m: m.group(1) or m.group(2),
                    line[2:],
                )
                if normalised(text) in corpus:
                    found.append(f"{path.name}: {text}")
    assert not found, found


def test_no_sentence_of_the_corpus_is_in_the_lexicon() -> None:
    phrases: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            phrases.add(normalised(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in ("lexicon.yml", "context.yml"):
        walk(yaml.safe_load((ROOT / "needlecheck" / "nlu" / name).read_text(encoding="utf-8")))
    sentences = {
        normalised(e.text) for e in EXAMPLES if len(normalised(e.text).split()) >= SENTENCE_WORDS
    }
    assert not sentences & phrases


def test_the_routes_the_scoring_names_exist_in_the_domain() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = set(domain["intents"])
    assert set(OPENING_ROUTES) <= intents
    assert set(ROUTE_INTENTS.values()) <= intents


def test_safety_rules_come_from_the_labels() -> None:
    assert safety_rules({"medications": ["anticoagulant"]}, CORPUS_TODAY) == {"RV-ANTICOAGULANT"}
    assert safety_rules({"isotretinoin": {"status": "past"}}, CORPUS_TODAY) == {"DF-ISOTRETINOIN"}
    assert safety_rules({"conditions": []}, CORPUS_TODAY) == set()


@pytest.mark.rasa
def test_the_trained_model_on_the_held_out_corpus(monkeypatch) -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make model` first")
    monkeypatch.setenv("NEEDLECHECK_TODAY", CORPUS_TODAY.isoformat())
    from bench.nlu_eval import parser_for
    from needlecheck.nlu.heldout import evaluate

    report = evaluate(parser_for(str(MODEL)))
    print("\n" + report.markdown())
    found, expected, missed = report.safety()
    assert found == expected, [(r.example.source, r.example.text) for r in missed]
    for question, (right, total) in report.by_question().items():
        assert right / total >= KEPT["fact_accuracy"], (question, right, total)
    right, total = report.routing("opening")
    assert right / total >= KEPT["opening_routing"]
    right, total = report.routing("interjection")
    assert right / total >= KEPT["interjection_routing"]


def test_the_corpus_readme_lists_its_corrections() -> None:
    # Labels change only with a row in the README's corrections table.
    assert "## Corrections after review" in (CORPUS / "README.md").read_text(encoding="utf-8")
    assert os.path.exists(CORPUS / "openings.yml")
