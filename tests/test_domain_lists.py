"""The lists of intents that domain.yml and data/rules/ spell out stay one list.

A new question intent (faq_*, clinic_*) must be answered during the questions, answered
outside them, and kept out of the contact form's free-text slots. Rasa cannot share a
list between files, so the domain keeps it once under a YAML anchor and this test holds
the rules' `or:` lists to the domain's intents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Said in the middle of the contact form, these are answered, not taken as a name.
CONVERSATION_INTENTS = [
    "ask_why",
    "start_over",
    "request_handoff",
    "request_contact",
    "goodbye",
    "out_of_scope",
]


def _domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def _question_intents() -> list[str]:
    return [i for i in _domain()["intents"] if i.startswith(("faq_", "clinic_"))]


def _or_lists(path: Path) -> list[list[str]]:
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    found = []
    for rule in rules:
        for step in rule["steps"]:
            if "or" in step:
                found.append([option["intent"] for option in step["or"] if "intent" in option])
    return found


def test_the_domain_names_the_interjections_once() -> None:
    text = (ROOT / "domain.yml").read_text(encoding="utf-8")
    assert text.count("not_intent: &interjections") == 1
    assert text.count(" faq_what_it_helps,") == 1, "the anchored list only; the rest are aliases"


def test_every_free_text_slot_skips_every_interjection() -> None:
    expected = CONVERSATION_INTENTS + _question_intents()
    from_text = [
        (name, mapping)
        for name, slot in _domain()["slots"].items()
        for mapping in slot["mappings"]
        if mapping["type"] == "from_text"
    ]
    assert from_text, "the contact form fills its slots from free text"
    for name, mapping in from_text:
        assert mapping.get("not_intent") == expected, name


@pytest.mark.parametrize("rules_file", ["screening.yml", "conversation.yml"])
def test_the_rules_answer_every_question_intent(rules_file: str) -> None:
    lists = _or_lists(ROOT / "data" / "rules" / rules_file)
    question_lists = [options for options in lists if any(o.startswith("faq_") for o in options)]
    assert len(question_lists) == 1, rules_file
    assert question_lists[0] == _question_intents()
