"""docs/screening-policy.md says what runs: its tables are generated from rules.yml and the
engine (tools/policy_page.py), and this test regenerates them in memory and compares.

When it fails, run `make policy-page`, then read the hand-written prose around the
tables: a changed rule usually needs new words there too.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tools import policy_page
from tools.policy_page import BLOCKS, FIX, PageError, markers

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "screening-policy.md"
RULE_ID = re.compile(r"\b(?:URG|EX|DF|RV|PR|NT)(?:-[A-Z0-9]+)+\b")


def _document() -> dict:
    return policy_page.load_rules_document()


def test_the_page_is_up_to_date() -> None:
    diff = policy_page.stale(PAGE)
    assert not diff, f"docs/screening-policy.md is out of date with the rules: {FIX}\n{diff}"


@pytest.mark.parametrize("name", BLOCKS)
def test_each_table_is_between_its_markers_once(name) -> None:
    text = PAGE.read_text(encoding="utf-8")
    begin, end = markers(name)
    assert text.count(begin) == 1 and text.count(end) == 1, f"{name}: {FIX} needs its markers"
    assert policy_page.current_block(text, name), f"the {name} table is empty: {FIX}"


def test_every_rule_has_a_row_and_its_default_parameters() -> None:
    rules = policy_page.current_block(PAGE.read_text(encoding="utf-8"), "rules") or ""
    for rule in _document()["rules"]:
        row = next((line for line in rules.splitlines() if f"| `{rule['id']}` |" in line), "")
        assert row, f"{rule['id']} has no row: {FIX}"
        assert f"`{rule['severity']}`" in row
        for name, value in (rule.get("params") or {}).items():
            assert f"`{name}` = {value}" in row


def test_the_prose_names_only_rules_that_exist() -> None:
    known = {rule["id"] for rule in _document()["rules"]}
    named = set(RULE_ID.findall(PAGE.read_text(encoding="utf-8")))
    assert named - known == set(), "the page names rules that rules.yml does not have"


def test_a_changed_rule_makes_the_page_stale() -> None:
    document = copy.deepcopy(_document())
    rule = next(r for r in document["rules"] if r["id"] == "DF-INJECTABLES")
    rule["params"]["days"] = 21
    diff = policy_page.stale(PAGE, document)
    assert "`days` = 21" in diff and "less than 21 days ago" in diff


def test_a_new_rule_makes_the_page_stale() -> None:
    document = copy.deepcopy(_document())
    document["rules"].append(
        {
            "id": "RV-TEST",
            "severity": "review",
            "when": {"has": {"fact": "conditions", "any": ["diabetes"]}},
            "reason": "Because.",
            "source": "a test",
        }
    )
    assert "| `RV-TEST` | `review` | `conditions` has `diabetes` |" in policy_page.stale(
        PAGE, document
    )


def test_rendering_replaces_only_the_blocks(tmp_path) -> None:
    page = tmp_path / "page.md"
    parts = [f"{b}\nold {name}\n{e}" for name in BLOCKS for b, e in [markers(name)]]
    page.write_text("Prose before.\n\n" + "\n\nProse between.\n\n".join(parts) + "\n\nAfter.\n")
    assert policy_page.main(["--page", str(page), "--check"]) == 1
    assert policy_page.main(["--page", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("Prose before.\n\n") and text.endswith("\n\nAfter.\n")
    assert text.count("Prose between.") == len(BLOCKS) - 1 and "old " not in text
    assert policy_page.main(["--page", str(page), "--check"]) == 0
    assert policy_page.render(text, policy_page.blocks()) == text


def test_a_page_without_a_blocks_markers_is_refused(tmp_path) -> None:
    begin, end = markers("rules")
    with pytest.raises(PageError, match="rules: begin"):
        policy_page.render("no markers here\n", {"rules": "x"})
    with pytest.raises(PageError):
        policy_page.render(f"{end}\n{begin}\n", {"rules": "x"})
    page = tmp_path / "page.md"
    page.write_text("no markers here\n", encoding="utf-8")
    assert policy_page.main(["--page", str(page)]) == 1


def test_conditions_read_as_the_rules_say() -> None:
    rows = {
        rule["id"]: policy_page.describe(rule["when"], rule.get("params") or {})
        for rule in _document()["rules"]
    }
    assert rows["RV-IMMUNE"] == (
        "`conditions` has `immunosuppression` or `autoimmune_disease`, "
        "or `medications` has `immunosuppressant`"
    )
    assert rows["DF-ISOTRETINOIN"] == (
        "`isotretinoin.status` is `current`, or (`isotretinoin.status` is `past` "
        "and `isotretinoin.last_dose` is less than 6 months ago)"
    )
    assert rows["NT-AGE-UNDER-22"] == "`age` is 18 to 21, both included"
    assert rows["DF-PREGNANCY"] == "`pregnant_or_breastfeeding` is true"
