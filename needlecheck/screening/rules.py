"""Load the declarative rules file and compile each rule's condition.

The condition language is documented at the top of rules.yml. Compilation checks every
reference against the fact table, so a mistyped fact, value or parameter fails when the
rules are loaded, not when a patient's answer reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from needlecheck.screening.dates import add_period
from needlecheck.screening.facts import (
    FACTS,
    BooleanFact,
    Facts,
    IntegerFact,
    ListFact,
    ObjectFact,
    ProcedureListFact,
)

# Highest precedence first; `prepare` and `note` never change the outcome.
SEVERITIES: tuple[str, ...] = ("urgent", "exclude", "defer", "review", "prepare", "note")
OUTCOME_BY_SEVERITY: dict[str, str] = {
    "urgent": "urgent_care",
    "exclude": "not_suitable",
    "defer": "defer",
    "review": "clinician_review",
}


class RulesError(ValueError):
    """The rules file or a policy file says something the engine cannot apply."""


@dataclass(frozen=True)
class Match:
    """Whether a condition holds today and, when it ends on a known date, that date."""

    triggered: bool
    until: date | None = None


NO_MATCH = Match(False)

Condition = Callable[[Facts, date], Match]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    when: Mapping[str, Any]
    params: Mapping[str, int]
    reason_template: str
    # The template with the parameters filled in, as the person reads it.
    reason: str
    source: str
    condition: Condition = field(compare=False, repr=False)
    examples: Mapping[str, Any] = field(default_factory=dict, compare=False)


def build_rule(entry: Mapping[str, Any]) -> Rule:
    """Check one rules-file entry and compile its condition with its parameters."""
    if not isinstance(entry, Mapping):
        raise RulesError(f"a rule must be a mapping, got {entry!r}")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RulesError(f"a rule has no 'id': {dict(entry)!r}")
    unknown = set(entry) - {"id", "severity", "when", "params", "reason", "source", "examples"}
    if unknown:
        raise RulesError(f"rule {rule_id}: unknown key(s) {', '.join(sorted(unknown))}")
    severity = entry.get("severity")
    if severity not in SEVERITIES:
        raise RulesError(
            f"rule {rule_id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        )
    params = dict(entry.get("params") or {})
    for name, value in params.items():
        check_param_value(rule_id, name, value)
    for key in ("reason", "source"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise RulesError(f"rule {rule_id}: '{key}' must be a non-empty text")
    template = " ".join(entry["reason"].split())
    try:
        reason = template.format_map(params)
    except (KeyError, ValueError, IndexError) as error:
        raise RulesError(f"rule {rule_id}: reason refers to an unknown parameter {error}") from None
    when = entry.get("when")
    return Rule(
        id=rule_id,
        severity=severity,
        when=when,
        params=params,
        reason_template=template,
        reason=reason,
        source=entry["source"].strip(),
        condition=_compile(when, params, rule_id),
        examples=entry.get("examples") or {},
    )


def check_param_value(rule_id: str, name: str, value: object) -> None:
    # Every parameter is a count (days, months, years of age): a whole number, not negative.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RulesError(
            f"rule {rule_id}: parameter '{name}' must be a whole number of 0 or more, got {value!r}"
        )


def _compile(node: object, params: Mapping[str, int], rule_id: str) -> Condition:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise RulesError(f"rule {rule_id}: a condition must have exactly one operator: {node!r}")
    ((operator, argument),) = node.items()
    compiler = _COMPILERS.get(operator)
    if compiler is None:
        raise RulesError(
            f"rule {rule_id}: unknown condition operator {operator!r}; "
            f"known: {', '.join(sorted(_COMPILERS))}"
        )
    try:
        return compiler(argument, params, rule_id)
    except (AttributeError, KeyError, TypeError) as error:
        raise RulesError(
            f"rule {rule_id}: malformed '{operator}' condition {argument!r}: {error}"
        ) from None


def _param(value: object, params: Mapping[str, int], rule_id: str) -> int:
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            raise RulesError(f"rule {rule_id}: condition uses parameter {value} it does not define")
        return params[name]
    check_param_value(rule_id, "(inline)", value)
    return value  # type: ignore[return-value]


def _fact_kind(path: object, rule_id: str) -> tuple[str, str, Any]:
    if not isinstance(path, str):
        raise RulesError(f"rule {rule_id}: a fact name must be text, got {path!r}")
    name, _, sub = path.partition(".")
    kind = FACTS.get(name)
    if kind is None:
        raise RulesError(f"rule {rule_id}: unknown fact {name!r}")
    return name, sub, kind


def _compile_has(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    name, _, kind = _fact_kind(arg.get("fact"), rule_id)
    values = tuple(arg.get("any") or ())
    if not isinstance(kind, ListFact) or not values:
        raise RulesError(f"rule {rule_id}: 'has' needs a list fact and values, got {arg!r}")
    for value in values:
        if value not in kind.values:
            raise RulesError(f"rule {rule_id}: {value!r} is not a value of {name}")

    def has(facts: Facts, today: date) -> Match:
        given = facts.get(name) or ()
        return Match(any(value in given for value in values))

    return has


def _compile_is(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    path = arg.get("fact")
    _, sub, kind = _fact_kind(path, rule_id)
    expected = arg.get("value")
    if isinstance(kind, ObjectFact) and sub == "status":
        allowed: tuple[object, ...] = kind.statuses
    elif isinstance(kind, BooleanFact) and not sub:
        allowed = (True, False)
    else:
        raise RulesError(f"rule {rule_id}: 'is' applies to a yes/no fact or a status, not {path}")
    if expected not in allowed or (isinstance(expected, bool) != isinstance(allowed[0], bool)):
        raise RulesError(f"rule {rule_id}: {expected!r} is not a value of {path}")

    def is_(facts: Facts, today: date) -> Match:
        value = facts.get(path)
        return Match(value is not None and value == expected and type(value) is type(expected))

    return is_


def _compile_not_empty(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    name, _, kind = _fact_kind(arg, rule_id)
    if not isinstance(kind, ListFact):
        raise RulesError(f"rule {rule_id}: 'not_empty' needs a list fact, got {arg!r}")

    def not_empty(facts: Facts, today: date) -> Match:
        return Match(bool(facts.get(name)))

    return not_empty


def _integer_fact(arg: Any, rule_id: str, operator: str) -> str:
    name, _, kind = _fact_kind(arg.get("fact"), rule_id)
    if not isinstance(kind, IntegerFact):
        raise RulesError(f"rule {rule_id}: '{operator}' needs a whole-number fact, got {name!r}")
    return name


def _compile_less_than(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    name = _integer_fact(arg, rule_id, "less_than")
    limit = _param(arg.get("value"), params, rule_id)

    def less_than(facts: Facts, today: date) -> Match:
        value = facts.get(name)
        return Match(value is not None and value < limit)

    return less_than


def _compile_between(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    name = _integer_fact(arg, rule_id, "between")
    low = _param(arg.get("min"), params, rule_id)
    high = _param(arg.get("max"), params, rule_id)

    def between(facts: Facts, today: date) -> Match:
        value = facts.get(name)
        return Match(value is not None and low <= value <= high)

    return between


def _period(arg: Any, params: Mapping[str, int], rule_id: str) -> dict[str, int]:
    units = {unit: _param(arg[unit], params, rule_id) for unit in ("days", "months") if unit in arg}
    if len(units) != 1:
        raise RulesError(f"rule {rule_id}: a period needs exactly one of days or months: {arg!r}")
    return units


def _window(start: date | None, period: Mapping[str, int], today: date) -> Match:
    # docs/screening-policy.md, "Waiting periods": an unknown date counts as recent, and the
    # boundary day no longer triggers.
    if start is None:
        return Match(True, None)
    boundary = add_period(start, **period)
    return Match(True, boundary) if today < boundary else NO_MATCH


def _compile_within(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    path = arg.get("date")
    name, sub, kind = _fact_kind(path, rule_id)
    if not isinstance(kind, ObjectFact) or sub != kind.date_field:
        raise RulesError(f"rule {rule_id}: 'within' needs an object's date field, got {path!r}")
    period = _period(arg, params, rule_id)

    def within(facts: Facts, today: date) -> Match:
        if not facts.given(name):
            return NO_MATCH
        return _window(facts.get(path), period, today)

    return within


def _compile_recent(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
    name, _, kind = _fact_kind(arg.get("fact"), rule_id)
    if not isinstance(kind, ProcedureListFact):
        raise RulesError(f"rule {rule_id}: 'recent' needs the procedure list, got {name!r}")
    types = tuple(arg.get("types") or ())
    if not types or any(t not in kind.types for t in types):
        raise RulesError(f"rule {rule_id}: 'recent' types must be among {', '.join(kind.types)}")
    period = _period(arg, params, rule_id)

    def recent(facts: Facts, today: date) -> Match:
        matches = [_window(p.date, period, today) for p in facts.get(name) or () if p.type in types]
        return _any_of(matches)

    return recent


def _any_of(matches: list[Match]) -> Match:
    """Holds while any part holds: ends with the last dated part, never if one has no end."""
    held = [m for m in matches if m.triggered]
    if not held:
        return NO_MATCH
    if any(m.until is None for m in held):
        return Match(True, None)
    return Match(True, max(m.until for m in held if m.until is not None))


def _all_of(matches: list[Match]) -> Match:
    """Holds while every part holds: ends with the first part that has an end date."""
    if not matches or not all(m.triggered for m in matches):
        return NO_MATCH
    ends = [m.until for m in matches if m.until is not None]
    return Match(True, min(ends) if ends else None)


def _compile_group(combine: Callable[[list[Match]], Match], operator: str):
    def compile_group(arg: Any, params: Mapping[str, int], rule_id: str) -> Condition:
        if not isinstance(arg, list) or not arg:
            raise RulesError(f"rule {rule_id}: '{operator}' needs a list of conditions")
        parts = [_compile(node, params, rule_id) for node in arg]

        def group(facts: Facts, today: date) -> Match:
            return combine([part(facts, today) for part in parts])

        return group

    return compile_group


_COMPILERS: dict[str, Callable[[Any, Mapping[str, int], str], Condition]] = {
    "has": _compile_has,
    "is": _compile_is,
    "not_empty": _compile_not_empty,
    "less_than": _compile_less_than,
    "between": _compile_between,
    "within": _compile_within,
    "recent": _compile_recent,
    "all": _compile_group(_all_of, "all"),
    "any": _compile_group(_any_of, "any"),
}
