"""`make policy-page`: the generated tables of docs/screening-policy.md.

The page describes the screening policy in words. Its tables are written from what the
engine runs, so they cannot drift from it: each sits between HTML-comment markers,
`<!-- NAME: begin -->` and `<!-- NAME: end -->`, and this tool rewrites what is between
them; the prose around them stays hand-written.

- `outcomes`: each severity, the outcome it gives and how many rules have it
  (needlecheck/screening/rules.py and rules.yml);
- `facts`: each fact, its type and its values (needlecheck/screening/facts.py);
- `rules`: each rule of needlecheck/screening/rules.yml, with its condition in words,
  its parameters and its source.

tests/test_policy_page.py fails when the page is out of date.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "screening-policy.md"
RULES_FILE = ROOT / "needlecheck" / "screening" / "rules.yml"
BLOCKS = ("outcomes", "facts", "rules")
FIX = "run `make policy-page`"


class PageError(ValueError):
    """The page lacks a block's markers, or has them more than once or out of order."""


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def load_rules_document(path: Path = RULES_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- words for the parts of a rule ------------------------------------------------------


def _code(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"


def _one_of(values: list[str] | tuple[str, ...], last: str = "or") -> str:
    """`a`, `b` or `c`."""
    coded = [_code(v) for v in values]
    if len(coded) == 1:
        return coded[0]
    return f"{', '.join(coded[:-1])} {last} {coded[-1]}"


def _value(value: object, params: Mapping[str, int]) -> str:
    """A number in a condition, a parameter's default value for "$name" (the parameters
    column names it)."""
    if isinstance(value, str) and value.startswith("$"):
        return str(params[value[1:]])
    return str(value)


def _period(arg: Mapping[str, Any], params: Mapping[str, int]) -> str:
    unit = "days" if "days" in arg else "months"
    return f"{_value(arg[unit], params)} {unit}"


def _composite(node: Mapping[str, Any]) -> bool:
    return next(iter(node)) in ("all", "any")


def describe(node: Mapping[str, Any], params: Mapping[str, int]) -> str:
    """A rule's condition (rules.yml's `when`) in words, its parameters filled in."""
    ((operator, arg),) = node.items()
    if operator == "has":
        return f"`{arg['fact']}` has {_one_of(arg['any'])}"
    if operator == "is":
        return f"`{arg['fact']}` is {_code(arg['value'])}"
    if operator == "not_empty":
        return f"`{arg}` is not empty"
    if operator == "less_than":
        return f"`{arg['fact']}` is under {_value(arg['value'], params)}"
    if operator == "between":
        low, high = _value(arg["min"], params), _value(arg["max"], params)
        return f"`{arg['fact']}` is {low} to {high}, both included"
    if operator == "within":
        return f"`{arg['date']}` is less than {_period(arg, params)} ago"
    if operator == "recent":
        return f"`{arg['fact']}` has a {_one_of(arg['types'])} less than {_period(arg, params)} ago"
    if operator in ("all", "any"):
        parts = [describe(part, params) for part in arg]
        if operator == "any":
            parts = [f"({p})" if _composite(n) else p for p, n in zip(parts, arg, strict=True)]
            nested = any(" or " in p or _composite(n) for p, n in zip(parts, arg, strict=True))
            return (", or " if nested else " or ").join(parts)
        parts = [f"({p})" if next(iter(n)) == "any" else p for p, n in zip(parts, arg, strict=True)]
        return " and ".join(parts)
    raise ValueError(f"no words for the condition operator {operator!r}")


def _params(params: Mapping[str, int]) -> str:
    return ", ".join(f"`{name}` = {value}" for name, value in params.items())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- the blocks ---------------------------------------------------------------------------


def rules_block(document: Mapping[str, Any]) -> str:
    """One row per rule, in rules-file order."""
    from needlecheck.screening.policy import parse_rules_document

    policy = parse_rules_document(document)
    rows = [
        f"Default policy: {policy.name}, version {policy.version}; {len(policy.rules)} rules.",
        "",
        "| rule | severity | triggers when | parameters | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in policy.rules:
        cells = (
            f"`{rule.id}`",
            f"`{rule.severity}`",
            describe(rule.when, rule.params),
            _params(rule.params),
            rule.source,
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def facts_block() -> str:
    """One row per fact, in the order `missing` lists them."""
    from needlecheck.screening.facts import (
        FACTS,
        BooleanFact,
        IntegerFact,
        ListFact,
        ObjectFact,
        ProcedureListFact,
    )

    rows = ["| fact | type | values |", "| --- | --- | --- |"]
    for name, kind in FACTS.items():
        if isinstance(kind, IntegerFact):
            kind_text, values = f"whole number, {kind.minimum} to {kind.maximum}", ""
        elif isinstance(kind, BooleanFact):
            kind_text, values = "yes or no", "`true` or `false`"
        elif isinstance(kind, ListFact):
            kind_text = (
                f"list of at least {kind.min_items}" if kind.min_items else "list, may be empty"
            )
            values = _one_of(kind.values, "and")
        elif isinstance(kind, ObjectFact):
            kind_text = "object"
            date_statuses = _one_of(kind.date_statuses)
            values = (
                f"`status`: {_one_of(kind.statuses)}; `{kind.date_field}`: a date "
                f"(YYYY-MM-DD), given only with status {date_statuses}"
            )
            if kind.date_needed_for:
                values += f", and asked for when the status is {_one_of(kind.date_needed_for)}"
        elif isinstance(kind, ProcedureListFact):
            kind_text = "list of procedures, may be empty"
            values = f"`type`: {_one_of(kind.types)}; `date`: a date (YYYY-MM-DD), asked for"
        else:  # pragma: no cover - a new kind of fact needs words here
            raise TypeError(f"no words for the fact type of {name}")
        rows.append(f"| `{name}` | {_cell(kind_text)} | {_cell(values)} |")
    return "\n".join(rows)


def outcomes_block(document: Mapping[str, Any]) -> str:
    """Each severity, highest precedence first, with its outcome and how many rules have it."""
    from needlecheck.screening.engine import OUTCOMES
    from needlecheck.screening.policy import parse_rules_document
    from needlecheck.screening.rules import OUTCOME_BY_SEVERITY, SEVERITIES

    rules = parse_rules_document(document).rules
    rows = ["| severity | outcome | rules by default |", "| --- | --- | ---: |"]
    for severity in SEVERITIES:
        outcome = OUTCOME_BY_SEVERITY.get(severity)
        outcome_text = f"`{outcome}`" if outcome else "none: never changes the outcome"
        count = sum(rule.severity == severity for rule in rules)
        rows.append(f"| `{severity}` | {outcome_text} | {count} |")
    others = [o for o in OUTCOMES if o not in OUTCOME_BY_SEVERITY.values()]
    for outcome in others:
        rows.append(f"| (none of those, and no fact missing) | `{outcome}` | |")
    return "\n".join(rows)


def blocks(document: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What goes between each block's markers, generated from the rules file and the code."""
    document = load_rules_document() if document is None else document
    return {
        "outcomes": outcomes_block(document),
        "facts": facts_block(),
        "rules": rules_block(document),
    }


# --- the page -----------------------------------------------------------------------------


def _pattern(name: str) -> re.Pattern[str]:
    begin, end = markers(name)
    return re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), flags=re.S)


def render(page: str, generated: Mapping[str, str]) -> str:
    """`page` with every block replaced by its generated text; PageError when one is absent."""
    for name, text in generated.items():
        begin, end = markers(name)
        if page.count(begin) != 1 or page.count(end) != 1 or page.index(begin) > page.index(end):
            raise PageError(f"the page needs '{begin}' and then '{end}', once each")
        page = _pattern(name).sub(lambda _, t=text, b=begin, e=end: f"{b}\n{t}\n{e}", page)
    return page


def current_block(page: str, name: str) -> str | None:
    """The text between a block's markers in `page`, or None when it has no such block."""
    match = _pattern(name).search(page)
    if match is None:
        return None
    begin, end = markers(name)
    return match.group(0)[len(begin) + 1 : -len(end) - 1]


def stale(page_path: Path = PAGE, document: Mapping[str, Any] | None = None) -> str:
    """A diff of what the page would become; empty when it is up to date."""
    page = page_path.read_text(encoding="utf-8")
    fresh = render(page, blocks(document))
    return "".join(
        difflib.unified_diff(
            page.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{page_path.name} (as it is)",
            tofile=f"{page_path.name} (generated)",
        )
    )


def write(page_path: Path = PAGE, document: Mapping[str, Any] | None = None) -> bool:
    """Rewrite the page's blocks; True when anything changed."""
    page = page_path.read_text(encoding="utf-8")
    fresh = render(page, blocks(document))
    if fresh == page:
        return False
    page_path.write_text(fresh, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--page", default=str(PAGE), help="the page to rewrite")
    args.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when the page is stale"
    )
    options = args.parse_args(argv)
    page = Path(options.page)
    try:
        if options.check:
            diff = stale(page)
            if diff:
                print(f"{page} is out of date with the rules: {FIX}\n{diff}", file=sys.stderr)
                return 1
            print(f"{page} is up to date")
            return 0
        changed = write(page)
    except PageError as error:
        print(f"{page}: {error}", file=sys.stderr)
        return 1
    print(f"{page}: {'rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
