"""Slot, action and response names used in code exist in domain.yml, defined once."""

from __future__ import annotations

import actions.names as names
from needlecheck.screening import FACT_NAMES, OUTCOMES


def test_fact_slots_are_the_engines_fact_names(domain) -> None:
    assert set(FACT_NAMES) <= set(domain["slots"])
    required = domain["forms"][names.FORM_SCREENING]["required_slots"]
    assert [slot for slot in required if slot in FACT_NAMES] == list(FACT_NAMES)
    assert set(required) - set(FACT_NAMES) == set(names.FOLLOW_UP_SLOTS)


def test_every_question_has_a_question_and_a_reason(domain) -> None:
    for slot in (*FACT_NAMES, *names.FOLLOW_UP_SLOTS):
        assert f"utter_ask_{slot}" in domain["responses"]
        assert f"utter_why_{slot}" in domain["responses"]


def test_every_faq_intent_has_an_answer(domain) -> None:
    faq = [i for i in domain["intents"] if i.startswith(names.FAQ_INTENT_PREFIX)]
    assert len(faq) == 10
    for intent in faq:
        assert (
            names.UTTER_FAQ_PREFIX + intent.removeprefix(names.FAQ_INTENT_PREFIX)
            in domain["responses"]
        )


def test_custom_actions_and_slots_are_declared(domain) -> None:
    actions = {value for key, value in vars(names).items() if key.startswith("ACTION_")}
    assert actions == set(domain["actions"])
    slots = {value for key, value in vars(names).items() if key.startswith("SLOT_")}
    assert slots <= set(domain["slots"])


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
