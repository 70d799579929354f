"""Plain language in everything a person reads (docs/wording.md, "Plain language").

Every text of at least 12 words (tools/reading_grade.py collects them, rendered with the
clinic's values) reads at Flesch-Kincaid grade 8 or lower; medical terms come with their
plain explanation; spelling is British. `pytest -v` lists each text with its grade."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tools import reading_grade
from tools.reading_grade import FLOOR, Text, collect, label

ROOT = Path(__file__).parents[1]

# Texts that cannot reach the floor without losing a safety meaning, each with why; none
# may go above EXCEPTION_CEILING. Empty today: keep it that way if you can.
EXCEPTIONS: dict[str, str] = {}
EXCEPTION_CEILING = 9.5

# A term a person may not know -> words that must stand near it (any one of them) to
# explain it. Each term is matched case-insensitively as the start of a word.
JARGON: dict[str, tuple[str, ...]] = {
    "keloid": ("thick", "raised"),
    "dermabrasion": ("sanding",),
    "collagen vascular": ("lupus", "scleroderma"),
    "immunosuppress": ("lowers the immune system", "lower the immune system"),
    "koebner": ("hurt", "injur"),
    "broad-spectrum": ("UVA and UVB",),
    "broad spectrum": ("UVA and UVB",),
}
# How close the explanation must be, in characters either side of the term.
NEAR = 120

# US spellings that must not appear (British throughout; one spelling per language).
US_SPELLINGS = (
    r"color\w*",
    r"favor\w*",
    r"behavior\w*",
    r"center\w*",
    r"fiber\w*",
    r"gray",
    r"jewelry",
    r"aging",
    r"tumor\w*",
    r"anesthe\w*",
    r"esthetician\w*",
    r"hemophilia",
    r"edema",
    r"pediatric\w*",
    r"estrogen",
    r"sunburned",  # "sunburnt", as everywhere else
    r"(?:recogn|real|organ|minim|apolog|author|special|moistur|steril|optim|custom)iz\w*",
)
_US = re.compile(r"\b(?:" + "|".join(US_SPELLINGS) + r")\b", re.IGNORECASE)

TEXTS = collect()


def _buttons() -> list[tuple[str, str, str]]:
    """(response, its text, a button title) for every button in domain.yml."""
    responses = yaml.safe_load((ROOT / "domain.yml").read_text("utf-8"))["responses"]
    return [
        (name, variant.get("text") or "", button["title"])
        for name, variants in responses.items()
        for variant in variants
        for button in variant.get("buttons") or []
    ]


@pytest.mark.parametrize("text", [t for t in TEXTS if t.graded], ids=label)
def test_each_text_reads_at_grade_8_or_lower(text: Text) -> None:
    limit = EXCEPTION_CEILING if label(text) in EXCEPTIONS else FLOOR
    assert text.grade <= limit, f"{label(text)} reads at grade {text.grade:.1f}: {text.text}"


def test_exceptions_are_few_named_and_still_needed() -> None:
    labels = {label(t): t for t in TEXTS}
    assert len(EXCEPTIONS) <= 3
    for name, why in EXCEPTIONS.items():
        assert name in labels, f"{name} is no longer a text"
        assert why.strip(), f"{name} needs its one-line reason"
        assert labels[name].grade > FLOOR, f"{name} meets the floor now: drop the exception"


def test_every_person_facing_source_is_collected() -> None:
    sources = {t.source for t in TEXTS}
    assert sources == {"domain.yml", "rules.yml", "clinic.yml", "texts.yml"}
    # Rendered: the clinic's values are in, and no placeholder is left for the grade.
    (urgent,) = [t for t in TEXTS if t.name == "utter_outcome_urgent_care"]
    assert "call 999 now" in urgent.text
    assert not any("{" in t.text for t in TEXTS)
    # A rule's reason with its parameters filled in, as the rules loader fills it.
    (isotretinoin,) = [t for t in TEXTS if t.name == "DF-ISOTRETINOIN"]
    assert "6 months after the last dose" in isotretinoin.text


def _unexplained(text: str) -> list[str]:
    missing = []
    for term, plain in JARGON.items():
        for match in re.finditer(r"\b" + re.escape(term), text, re.IGNORECASE):
            around = text[max(0, match.start() - NEAR) : match.end() + NEAR].lower()
            if not any(word.lower() in around for word in plain):
                missing.append(f"{match.group(0)!r} without {' or '.join(plain)!r}")
    return missing


@pytest.mark.parametrize("text", TEXTS, ids=label)
def test_medical_terms_come_with_their_plain_explanation(text: Text) -> None:
    assert not _unexplained(text.text), label(text)


def test_a_button_may_name_a_term_that_its_question_explains() -> None:
    for name, question, title in _buttons():
        for term, plain in JARGON.items():
            if term in title.lower():
                assert any(word.lower() in question.lower() for word in plain), (name, title)


def test_the_jargon_check_finds_a_bare_term() -> None:
    assert _unexplained("After keloids, microneedling is not recommended.")
    assert not _unexplained("After keloids (thick, raised scars), it is not recommended.")
    assert _unexplained("Use a broad-spectrum sunscreen.")


def test_spelling_is_british() -> None:
    found = [(label(t), m.group(0)) for t in TEXTS for m in _US.finditer(t.text)]
    found += [(name, m.group(0)) for name, _, title in _buttons() for m in _US.finditer(title)]
    assert not found


def test_the_spelling_check_finds_us_spellings() -> None:
    for us in ("color", "moisturizer", "center", "anesthetic", "sunburned", "recognize"):
        assert _US.search(f"Your {us} here."), us
    for british in ("colour", "moisturiser", "centre", "anaesthetic", "sunburnt", "size"):
        assert not _US.search(f"Your {british} here."), british


def test_the_wording_page_lists_the_three_hardest_texts_as_they_are() -> None:
    assert reading_grade.PAGE == ROOT / "docs" / "wording.md"
    block = reading_grade.current_block(reading_grade.PAGE)
    assert block is not None, "docs/wording.md has no reading-grade markers"
    assert block == reading_grade.page_block(TEXTS), "run `make readability`"


def test_the_block_is_rewritten_between_its_markers_only(tmp_path) -> None:
    page = tmp_path / "wording.md"
    page.write_text(
        f"before\n{reading_grade.BEGIN}\nold\n{reading_grade.END}\nafter\n", encoding="utf-8"
    )
    texts = [Text("domain.yml", f"utter_{i}", "Plain words. " * i) for i in range(4, 9)]
    hard = "Considerable physiological complications necessitate comprehensive evaluation. " * 3
    texts += [Text("rules.yml", "X-HARD", hard), Text("rules.yml", "X-SHORT", "Unintelligibility.")]
    reading_grade.write_page(page, texts)
    written = page.read_text(encoding="utf-8")
    assert written.startswith("before\n") and written.endswith("\nafter\n")
    assert "old" not in written
    rows = [line for line in written.splitlines() if line.startswith("| `")]
    assert len(rows) == 3
    assert rows[0].startswith("| `rules.yml` X-HARD")
    # A file without the markers is left alone.
    other = tmp_path / "OTHER.md"
    other.write_text("no markers\n", encoding="utf-8")
    reading_grade.write_page(other, texts)
    assert other.read_text(encoding="utf-8") == "no markers\n"


def test_the_table_lists_every_text_hardest_first() -> None:
    table = reading_grade.table(TEXTS).splitlines()
    grades = [float(line.split()[0]) for line in table[1 : len(TEXTS) + 1]]
    assert len(grades) == len(TEXTS)
    assert grades == sorted(grades, reverse=True)
