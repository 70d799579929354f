"""A question asked in parts: the parts cover its fact's values, once each, and the
reader records each part as it is answered."""

from __future__ import annotations

from needlecheck.nlu.parts import (
    QUESTION_PARTS,
    asked_as,
    in_open_part,
    mark_answered,
    open_part,
    started,
)
from needlecheck.screening.facts import FACTS


def test_the_parts_cover_the_facts_values_once_each() -> None:
    for question, parts in QUESTION_PARTS.items():
        values = [v for part in parts for v in part.values]
        assert len(values) == len(set(values))
        assert set(values) == set(FACTS[question].values)


def test_the_open_part_moves_on_as_parts_are_answered() -> None:
    assert asked_as("conditions", []) == "conditions_skin"
    assert not started("conditions", [])
    after_skin = mark_answered("conditions", ["age"])
    assert after_skin == ["age", "conditions_skin"]
    assert started("conditions", after_skin)
    assert asked_as("conditions", after_skin) == "conditions_health"
    done = mark_answered("conditions", after_skin)
    assert done == ["age", "conditions_skin", "conditions_health", "conditions"]
    # Once all are answered the last part stays the open one (a check comes back to it).
    assert open_part("conditions", done).name == "conditions_health"
    assert mark_answered("conditions", done) == done


def test_a_question_asked_whole_is_its_own_part() -> None:
    assert open_part("medications", []) is None
    assert asked_as("medications", []) == "medications"
    assert in_open_part("medications", [], "anticoagulant")
    assert mark_answered("medications", ["age"]) == ["age", "medications"]


def test_values_belong_to_their_part() -> None:
    assert in_open_part("conditions", [], "keloid_history")
    assert not in_open_part("conditions", [], "diabetes")
    assert in_open_part("conditions", ["conditions_skin"], "diabetes")
