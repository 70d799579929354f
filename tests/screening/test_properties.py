"""Properties over generated facts (hypothesis).

- Valid facts never make the engine raise.
- Adding any fact never lowers the outcome's severity.
- Leaving a date out never lowers it either (an unknown date counts as recent).
- `eligible` only ever comes with nothing missing.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from needlecheck.screening import FACT_NAMES, assess, outcome_rank
from needlecheck.screening.facts import (
    FACTS,
    BooleanFact,
    IntegerFact,
    ListFact,
    ObjectFact,
    ProcedureListFact,
)

DATES = st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)
TODAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


def value_strategy(kind) -> st.SearchStrategy:
    if isinstance(kind, IntegerFact):
        return st.integers(kind.minimum, kind.maximum)
    if isinstance(kind, BooleanFact):
        return st.booleans()
    if isinstance(kind, ListFact):
        return st.lists(st.sampled_from(kind.values), min_size=kind.min_items, max_size=4)
    if isinstance(kind, ObjectFact):
        return st.sampled_from(kind.statuses).flatmap(
            lambda status: st.fixed_dictionaries(
                {"status": st.just(status)},
                optional={kind.date_field: DATES} if status in kind.date_statuses else {},
            )
        )
    assert isinstance(kind, ProcedureListFact)
    procedure = st.fixed_dictionaries(
        {"type": st.sampled_from(kind.types)}, optional={"date": DATES}
    )
    return st.lists(procedure, max_size=3)


FACT_VALUES = {name: value_strategy(kind) for name, kind in FACTS.items()}
facts_strategy = st.fixed_dictionaries({}, optional=FACT_VALUES)


@settings(max_examples=400, deadline=None)
@given(facts_strategy, TODAYS)
def test_valid_facts_never_raise_and_eligible_needs_nothing_missing(facts, today) -> None:
    result = assess(facts, today)
    if result.outcome == "eligible":
        assert result.missing == ()
    if result.earliest_date is not None:
        defers = [f.until for f in result.findings if f.severity == "defer"]
        assert result.earliest_date == max(defers)


@settings(max_examples=400, deadline=None)
@given(facts_strategy, TODAYS, st.data())
def test_adding_a_fact_never_lowers_the_severity(facts, today, data) -> None:
    absent = [name for name in FACT_NAMES if name not in facts]
    if not absent:
        return
    name = data.draw(st.sampled_from(absent))
    more = {**facts, name: data.draw(FACT_VALUES[name])}
    assert outcome_rank(assess(more, today).outcome) >= outcome_rank(assess(facts, today).outcome)


def _without_dates(facts: dict) -> dict:
    out = dict(facts)
    for name in ("isotretinoin", "cancer_treatment"):
        if name in out:
            out[name] = {"status": out[name]["status"]}
    if "recent_procedures" in out:
        out["recent_procedures"] = [{"type": p["type"]} for p in out["recent_procedures"]]
    return out


@settings(max_examples=400, deadline=None)
@given(facts_strategy, TODAYS)
def test_an_unknown_date_never_lowers_the_severity(facts, today) -> None:
    known = assess(facts, today)
    unknown = assess(_without_dates(facts), today)
    assert outcome_rank(unknown.outcome) >= outcome_rank(known.outcome)
    assert unknown.outcome != "eligible" or known.outcome == "eligible"


@settings(max_examples=200, deadline=None)
@given(facts_strategy, TODAYS)
def test_every_until_date_is_after_today(facts, today) -> None:
    for finding in assess(facts, today).findings:
        assert finding.until is None or finding.until > today
