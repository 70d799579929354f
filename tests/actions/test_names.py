"""Slot, action and response names used in code exist in domain.yml, defined once."""

from __future__ import annotations

import actions.names as names
from needlecheck.screening import FACT_NAMES, OUTCOMES


def test_fact_slots_are_the_engines_fact_names(domain) -> None:
    assert set(FACT_NAMES) <= set(domain["slots"])
    assert domain["forms"][names.FORM_SCREENING]["required_slots"] == list(FACT_NAMES)


def test_every_fact_has_a_question(domain) -> None:
    for fact in FACT_NAMES:
        assert f"utter_ask_{fact}" in domain["responses"]


def test_custom_actions_and_slots_are_declared(domain) -> None:
    assert {names.ACTION_VALIDATE_SCREENING_FORM, names.ACTION_ASSESS_SCREENING} <= set(
        domain["actions"]
    )
    assert {names.SLOT_SCREENING_OUTCOME, names.SLOT_SCREENING_RULES} <= set(domain["slots"])


def test_every_response_the_actions_use_exists(domain) -> None:
    used = {
        value
        for key, value in vars(names).items()
        if key.startswith("UTTER_") and not key.endswith("_PREFIX")
    }
    used |= {names.UTTER_OUTCOME_PREFIX + outcome for outcome in OUTCOMES}
    assert used <= set(domain["responses"])


def test_no_slot_mapping_runs_the_assessment_on_every_message(domain) -> None:
    # A custom mapping naming an action makes Rasa run it while extracting slots each turn.
    for slot in domain["slots"].values():
        for mapping in slot.get("mappings", []):
            assert not (mapping["type"] == "custom" and "action" in mapping)
