"""Random input never crashes the parts that read what people send (hypothesis):
the NLU component on any Unicode text, and `assess` on any JSON-shaped facts, which
either assesses them or refuses them with a FactError naming the field."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.shared.nlu.training_data.message import Message

from needlecheck.nlu.component import ScreeningFactExtractor
from needlecheck.screening import FACT_NAMES, FactError, assess

# Any code point, lone surrogates included: JSON carries them, UTF-8 cannot.
# (hypothesis leaves surrogates out unless no category is excluded)
TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=300)
# What people paste: markup, right-to-left and zero-width characters, emoji, SQL.
NASTY = st.sampled_from(
    [
        "<img src=x onerror=alert(1)>",
        "\u202eenilna\u202c I take warfarin",
        "I\u200b use\u200d retinol\ufeff",
        "🧴🙂 I'm 34 👍🏽",
        "'; DROP TABLE screenings; --",
        '{"age": 30, "red_flags": []}',
        "مرحبا أنا عمري ٣٤",
        "\x00\x01\x7f",
        "I use \udcff retinol",
        " " * 50,
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*FACT_NAMES, "status", "last_dose", "x"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


def domain_entities() -> set[str]:
    domain = yaml.safe_load((Path(__file__).parents[2] / "domain.yml").read_text())
    return {next(iter(e)) if isinstance(e, dict) else e for e in domain["entities"]}


@pytest.fixture(scope="module")
def component() -> ScreeningFactExtractor:
    return ScreeningFactExtractor({**ScreeningFactExtractor.get_default_config()})


ENTITIES = domain_entities()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXT | NASTY | st.tuples(NASTY, TEXT).map(" ".join))
def test_the_nlu_component_reads_any_text(component, text: str) -> None:
    message = Message(data={"text": text, "intent": {"name": "inform", "confidence": 0.5}})
    message.set("intent_ranking", [{"name": "inform", "confidence": 0.5}])
    (processed,) = component.process([message])
    for entity in processed.get("entities") or []:
        assert entity["entity"] in ENTITIES
        assert 0 <= entity["start"] <= entity["end"] <= len(text)


@settings(max_examples=500, deadline=None)
@given(facts=st.dictionaries(st.sampled_from([*FACT_NAMES, "unknown"]), JSON, max_size=6) | JSON)
def test_assess_refuses_what_it_cannot_read_and_nothing_else(facts) -> None:
    try:
        result = assess(facts, date(2026, 12, 1))
    except FactError as error:
        # It names what it could not read: the whole input when that is no mapping,
        # otherwise one of the facts given (or a part of it, "isotretinoin.last_dose").
        if not isinstance(facts, dict):
            assert error.field == "(facts)"
        else:
            assert re.split(r"[.\[]", error.field)[0] in facts
        assert error.message
        return
    # Anything accepted is a real assessment: never eligible with questions unanswered.
    assert result.outcome != "eligible" or not result.missing
