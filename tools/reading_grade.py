"""`make readability`: the reading grade of every text a person reads.

Collects what the assistant says, rendered as the person receives it: `domain.yml`'s
responses (with the clinic's values, needlecheck/responses.py), each screening rule's
reason (with its parameters, as the rules loader fills them), `clinic.yml`'s answers and
the messaging channels' own texts (needlecheck/channels/texts.yml). Each is graded with
textstat's Flesch-Kincaid grade. Prints a table, hardest first, and rewrites the block
between the markers of docs/wording.md ("Plain language") with the three hardest texts.

tests/test_reading_grade.py holds every text of at least `MIN_WORDS` words to `FLOOR`
(docs/wording.md, "Plain language").
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import textstat
import yaml

ROOT = Path(__file__).parents[1]
# The page that lists the hardest texts between the markers.
PAGE = ROOT / "docs" / "wording.md"
BEGIN = "<!-- reading grade: begin -->"
END = "<!-- reading grade: end -->"

# The floor, for texts long enough for a grade to mean something.
FLOOR = 8.0
MIN_WORDS = 12
# How many of the hardest texts the page names.
HARDEST_COUNT = 3

# What an action puts in a placeholder the clinic's values do not fill, as plain words of
# the kind that go there (so that grading sees a sentence, not braces). The lists of
# reasons and steps are rule reasons, graded on their own: they read as PLAIN_WORD here.
SAMPLE_VALUES = {
    "procedure": "chemical peel",
    "earliest_date": "20 December 2026",
    "contact_name": "Sam",
    "contact_details": "07700 900123",
    "contact_time": "mornings",
    "medicine": "Zyrtec",
    "item": "a cold sore",
    "earlier": "you had none of the warning signs",
    "what": "a number",
    "problem": "too short",
    "clinic": "the clinic",
}
# Anything else left in braces.
PLAIN_WORD = "this"
_BRACES = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")


@dataclass(frozen=True)
class Text:
    """One text a person reads: where it comes from, its name there, and its words."""

    source: str  # "domain.yml", "rules.yml", "clinic.yml" or "texts.yml"
    name: str  # a response name, a rule ID, a clinic answer or a channel text
    text: str

    @property
    def words(self) -> int:
        return textstat.lexicon_count(self.text)

    @property
    def grade(self) -> float:
        return float(textstat.flesch_kincaid_grade(self.text))

    @property
    def graded(self) -> bool:
        """Long enough for its grade to count against the floor."""
        return self.words >= MIN_WORDS


def _plain(text: str) -> str:
    """`text` with every placeholder still in braces replaced by plain words."""
    text = _BRACES.sub(lambda m: SAMPLE_VALUES.get(m.group(1), PLAIN_WORD), text)
    return " ".join(text.split())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def response_texts(root: Path = ROOT) -> list[Text]:
    """Each variant of each response in domain.yml, with the clinic's values filled in."""
    from needlecheck.clinic import Clinic
    from needlecheck.config import Settings
    from needlecheck.responses import render, response_values

    values = response_values(Clinic.load(root / "clinic.yml"), Settings.from_environment({}))
    texts = []
    for name, variants in _load(root / "domain.yml")["responses"].items():
        for variant in variants:
            if variant.get("text"):
                texts.append(Text("domain.yml", name, _plain(render(variant["text"], values))))
    return texts


def rule_texts(root: Path = ROOT) -> list[Text]:
    """Each screening rule's reason with its parameters filled in, as the loader fills it
    (staff-only notes included: they should be plain too)."""
    from needlecheck.screening.policy import parse_rules_document

    document = _load(root / "needlecheck" / "screening" / "rules.yml")
    return [
        Text("rules.yml", rule.id, _plain(rule.reason))
        for rule in parse_rules_document(document).rules
    ]


def clinic_texts(root: Path = ROOT) -> list[Text]:
    """Each clinic answer: its default and, where the file has one, its own text."""
    texts = []
    for topic, entry in (_load(root / "clinic.yml").get("answers") or {}).items():
        for kind in ("text", "default"):
            if entry.get(kind):
                texts.append(Text("clinic.yml", f"{topic}.{kind}", _plain(entry[kind])))
    return texts


def channel_texts(root: Path = ROOT) -> list[Text]:
    """What the messaging channels say on their own (help, STOP, DELETE...)."""
    document = _load(root / "needlecheck" / "channels" / "texts.yml")
    return [Text("texts.yml", name, _plain(text)) for name, text in document.items()]


def collect(root: Path = ROOT) -> list[Text]:
    """Every text a person reads, in file order."""
    return response_texts(root) + rule_texts(root) + clinic_texts(root) + channel_texts(root)


def hardest_first(texts: list[Text]) -> list[Text]:
    return sorted(texts, key=lambda t: (-t.grade, t.source, t.name))


def label(text: Text) -> str:
    return f"{text.source} {text.name}"


def table(texts: list[Text]) -> str:
    """Every text, hardest first, as a plain-text table."""
    rows = [f"{'grade':>5}  {'words':>5}  text"]
    for text in hardest_first(texts):
        mark = "" if text.graded else "  (too short to count)"
        rows.append(f"{text.grade:5.1f}  {text.words:5d}  {label(text)}{mark}")
    graded = [t for t in texts if t.graded]
    over = [t for t in graded if t.grade > FLOOR]
    mean = sum(t.grade for t in graded) / len(graded) if graded else 0.0
    rows.append(
        f"\n{len(texts)} texts, {len(graded)} of at least {MIN_WORDS} words: "
        f"mean grade {mean:.1f}, {len(over)} above {FLOOR:g}"
    )
    return "\n".join(rows)


def page_block(texts: list[Text]) -> str:
    """The page's block: the three hardest texts that count, with their grades."""
    hardest = [t for t in hardest_first(texts) if t.graded][:HARDEST_COUNT]
    rows = ["| text | words | grade |", "| --- | ---: | ---: |"]
    rows += [f"| `{t.source}` {t.name} | {t.words} | {t.grade:.1f} |" for t in hardest]
    return f"{BEGIN}\n" + "\n".join(rows) + f"\n{END}"


_BLOCK = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), flags=re.S)


def current_block(page: Path = PAGE) -> str | None:
    match = _BLOCK.search(page.read_text(encoding="utf-8"))
    return match.group(0) if match else None


def write_page(page: Path, texts: list[Text]) -> None:
    """Replace the block between the page's markers (nothing when it has none)."""
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return
    block = page_block(texts)
    page.write_text(_BLOCK.sub(lambda _: block, text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument(
        "--page", default=None, help="write the three hardest into this file's markers"
    )
    options = args.parse_args(argv)
    texts = collect()
    print(table(texts))
    if options.page:
        write_page(Path(options.page), texts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
