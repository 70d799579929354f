"""ScreeningFactExtractor's reading of sentences: context, dates, brands and typos."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from needlecheck.nlu.extractor import Extractor, LexiconError

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


def read(extractor: Extractor, text: str) -> set[tuple]:
    """(fact, value, denied) for each mention of the person now, values made hashable.

    Mentions only in the past ("had acne as a teenager") or without the words that make
    them count ("numbing cream ... it was fine") are left out: they answer only their
    own question (test_past_and_possible_mentions_are_marked)."""
    found = set()
    for m in extractor.extract(text, TODAY):
        if m.fact in ("time", "course") or m.past or m.possible:
            continue
        value = tuple(sorted(m.value.items())) if isinstance(m.value, dict) else m.value
        found.add((m.fact, value, m.denied))
    return found


def course(status: str, **dates: str) -> tuple:
    return tuple(sorted({"status": status, **dates}.items()))


def procedure(kind: str, when: str | None = None) -> tuple:
    return tuple(sorted({"type": kind, **({"date": when} if when else {})}.items()))


CASES = [
    # Negation
    ("no history of keloids", {("conditions", "keloid_history", True)}),
    (
        "no acne, no cold sores and I use retinol",
        {
            ("active_skin_issues", "inflammatory_acne", True),
            ("conditions", "cold_sore_history", True),
            ("topical_products", "retinoid", False),
        },
    ),
    ("I don't use any retinoids", {("topical_products", "retinoid", True)}),
    (
        "I don't have acne but I use retinol",
        {
            ("active_skin_issues", "inflammatory_acne", True),
            ("topical_products", "retinoid", False),
        },
    ),
    ("I'm not pregnant", {("pregnant_or_breastfeeding", False, False)}),
    ("never had chemo", {("cancer_treatment", course("none"), False)}),
    # Family members
    ("my mom has lupus", set()),
    ("my sister is pregnant", set()),
    ("diabetes runs in my family", set()),
    # Hypotheticals
    ("I might start Accutane", set()),
    ("I'm thinking about getting botox", set()),
    ("can I use retinol afterwards?", set()),
    # History and time
    (
        "I took Accutane ten years ago",
        {("isotretinoin", course("past", last_dose="2016-11-27"), False)},
    ),
    ("I had acne as a teenager", set()),
    ("I used to take warfarin", set()),
    ("I get cold sores", {("conditions", "cold_sore_history", False)}),
    (
        "I have a cold sore right now",
        {("active_skin_issues", "cold_sore", False), ("conditions", "cold_sore_history", False)},
    ),
    ("I've been on Accutane since March", {("isotretinoin", course("current"), False)}),
    ("I'm on Absorica at the moment", {("isotretinoin", course("current"), False)}),
    (
        "I took accutane as a teenager, I'm 34",
        {("age", 34, False), ("isotretinoin", course("past", last_dose="2012-11-27"), False)},
    ),
    ("finished chemo in March", {("cancer_treatment", course("past", ended="2026-03-31"), False)}),
    (
        "I had a laser two months ago and botox 10 days ago",
        {
            ("recent_procedures", procedure("laser", "2026-09-27"), False),
            ("recent_procedures", procedure("neurotoxin", "2026-11-17"), False),
        },
    ),
    (
        "I had a chemical peel last week",
        {("recent_procedures", procedure("chemical_peel", "2026-11-22"), False)},
    ),
    ("facelift in 2019", {("recent_procedures", procedure("surgery", "2019-12-31"), False)}),
    ("Accutane", {("isotretinoin", course("past"), False)}),
    # Ages
    ("thirty-four", {("age", 34, False)}),
    ("I'm thirty four years old", {("age", 34, False)}),
    (
        "I'm 34, on tretinoin, never took Accutane",
        {
            ("age", 34, False),
            ("topical_products", "retinoid", False),
            ("isotretinoin", course("never"), False),
        },
    ),
    # Brand and generic names
    ("I use Retin-A and Differin", {("topical_products", "retinoid", False)}),
    ("tazarotene at night", {("topical_products", "retinoid", False)}),
    ("a mandelic acid serum", {("topical_products", "exfoliating_acid", False)}),
    ("I take Eliquis", {("medications", "anticoagulant", False)}),
    ("I'm on daily aspirin", {("medications", "anticoagulant", False)}),
    ("clopidogrel", {("medications", "anticoagulant", False)}),
    (
        "I'm on methotrexate for my psoriasis",
        {
            ("medications", "immunosuppressant", False),
            ("conditions", "chronic_skin_condition", False),
        },
    ),
    ("Claravis last year", {("isotretinoin", course("past", last_dose="2025-12-31"), False)}),
    # Allergies need an allergy word, or a short answer of their own
    ("I'm allergic to lidocaine", {("allergies", "topical_anesthetic", False)}),
    ("nickel", {("allergies", "metal", False)}),
    (
        "the clinic put numbing cream on my face last time and it was fine",
        {("treatment_area", "face", False)},
    ),
    # Typos
    (
        "I use retinoll and glycollic acid",
        {("topical_products", "retinoid", False), ("topical_products", "exfoliating_acid", False)},
    ),
    ("I take warfrin", {("medications", "anticoagulant", False)}),
    ("acutane", {("isotretinoin", course("past"), False)}),
    # Red flags
    (
        "I have a fever and pus on my cheek",
        {("red_flags", "infection_signs", False), ("treatment_area", "face", False)},
    ),
    (
        "my lips are swelling and I have trouble breathing",
        {("red_flags", "allergic_reaction", False)},
    ),
    ("no fever", {("red_flags", "infection_signs", True)}),
    ("I had a fever blister last year", {("conditions", "cold_sore_history", False)}),
    # Areas and concerns
    (
        "acne scars on my face and neck",
        {
            ("skin_concerns", "acne_scars", False),
            ("treatment_area", "face", False),
            ("treatment_area", "neck", False),
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_sentences_are_read_in_context(extractor, text, expected) -> None:
    assert read(extractor, text) == expected


PAST_OR_POSSIBLE = [
    ("I had acne as a teenager", ("active_skin_issues", "inflammatory_acne"), "past"),
    ("I used to take warfarin", ("medications", "anticoagulant"), "past"),
    ("I had a fever blister last year", ("active_skin_issues", "cold_sore"), "past"),
    (
        "the clinic put numbing cream on my face last time and it was fine",
        ("allergies", "topical_anesthetic"),
        "possible",
    ),
]


@pytest.mark.parametrize(
    ("text", "fact_value", "kind"), PAST_OR_POSSIBLE, ids=[c[0] for c in PAST_OR_POSSIBLE]
)
def test_past_and_possible_mentions_are_marked(extractor, text, fact_value, kind) -> None:
    marked = [
        m
        for m in extractor.extract(text, TODAY)
        if (m.fact, m.value) == fact_value and not m.denied
    ]
    assert marked
    assert all(m.past == (kind == "past") and m.possible == (kind == "possible") for m in marked)


def test_a_time_expression_alone_is_its_own_entity(extractor) -> None:
    (mention,) = [m for m in extractor.extract("two months ago", TODAY) if m.fact == "time"]
    assert (mention.fact, mention.value, mention.text) == (
        "time",
        {"date": "2026-09-27"},
        "two months ago",
    )
    (stage,) = [m for m in extractor.extract("as a teenager", TODAY) if m.fact == "time"]
    assert stage.value == {"at_age": 19}


def test_mentions_point_at_the_words(extractor) -> None:
    text = "I use Differin nightly"
    (mention,) = [m for m in extractor.extract(text, TODAY) if m.fact != "course"]
    assert text[mention.start : mention.end] == "Differin"


def test_a_message_is_also_read_as_a_statement_about_a_course(extractor) -> None:
    def course_of(text: str) -> dict | None:
        found = [m.value for m in extractor.extract(text, TODAY) if m.fact == "course"]
        return found[0] if found else None

    assert course_of("my doctor suggested it but I never took it") == {"status": "never"}
    assert course_of("was on it for 6 months in 2019") == {"status": "past", "date": "2019-12-31"}
    assert course_of("still on it") == {"status": "current"}
    assert course_of("not currently, but I was in 2020") == {
        "status": "past",
        "date": "2020-12-31",
    }


def test_a_broken_lexicon_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "lexicon.yml"
    bad.write_text("terms:\n  topical_products:\n    snake_oil: [snake oil]\n")
    with pytest.raises(LexiconError, match=r"terms\.topical_products\.snake_oil"):
        Extractor(bad)
    bad.write_text("terms:\n  shoe_size:\n    big: [large feet]\n")
    with pytest.raises(LexiconError, match="shoe_size: not a fact"):
        Extractor(bad)


def test_broken_context_rules_name_the_rule(tmp_path: Path) -> None:
    bad = tmp_path / "context.yml"
    bad.write_text("rules:\n  - {literal: no, category: NEGATED_EXISTENCE, colour: red}\n")
    with pytest.raises(LexiconError, match=r"rules\[0\].*colour"):
        Extractor(context_path=bad)
