"""Slot, action and response names used in code exist in domain.yml, defined once."""

from __future__ import annotations

import actions.names as names
from needlecheck.nlu.parts import QUESTION_PARTS
from needlecheck.screening import FACT_NAMES, OUTCOMES
from needlecheck.screening.explanation import MESSAGES
from needlecheck.screening.facts import FACTS, BooleanFact, ListFact, ProcedureListFact


def test_fact_slots_are_the_engines_fact_names(domain) -> None:
    assert set(FACT_NAMES) <= set(domain["slots"])
    required = domain["forms"][names.FORM_SCREENING]["required_slots"]
    assert [slot for slot in required if slot in FACT_NAMES] == list(FACT_NAMES)
    assert set(required) - set(FACT_NAMES) == {names.SLOT_CONSENT, *names.FOLLOW_UP_SLOTS}
    assert required[0] == names.SLOT_CONSENT


def test_every_question_has_a_question_and_a_reason(domain) -> None:
    for slot in names.QUESTIONS:
        # A question asked in parts is asked, and put another way, as each part.
        for asked in [p.name for p in QUESTION_PARTS.get(slot, ())] or [slot]:
            assert f"utter_ask_{asked}" in domain["responses"]
            assert f"utter_rephrase_{asked}" in domain["responses"]
        assert f"utter_why_{slot}" in domain["responses"]
    for parts in QUESTION_PARTS.values():
        assert not {part.name for part in parts} & set(domain["slots"])


def test_a_question_in_parts_has_no_whole_question_left(domain) -> None:
    for question in QUESTION_PARTS:
        assert f"utter_ask_{question}" not in domain["responses"]
        assert f"utter_rephrase_{question}" not in domain["responses"]


def test_every_faq_intent_has_an_answer(domain) -> None:
    faq = [i for i in domain["intents"] if i.startswith(names.FAQ_INTENT_PREFIX)]
    assert len(faq) == 18
    for intent in faq:
        assert (
            names.UTTER_FAQ_PREFIX + intent.removeprefix(names.FAQ_INTENT_PREFIX)
            in domain["responses"]
        )


def test_custom_actions_and_slots_are_declared(domain) -> None:
    actions = {
        value
        for key, value in vars(names).items()
        if key.startswith("ACTION_") and not key.endswith("_PREFIX")
    }
    # One action_ask_<question> per question, follow-ups included (actions/questions.py).
    actions |= {names.ACTION_ASK_PREFIX + question for question in names.QUESTIONS}
    assert actions == set(domain["actions"])
    slots = {value for key, value in vars(names).items() if key.startswith("SLOT_")}
    assert slots <= set(domain["slots"])


def test_every_response_the_actions_use_exists(domain) -> None:
    used = {
        value
        for key, value in vars(names).items()
        if key.startswith("UTTER_") and not key.endswith("_PREFIX")
    }
    used |= {names.UTTER_PREFIX + message for message in MESSAGES}
    used |= {names.UTTER_CARD_TITLE_PREFIX + outcome for outcome in (*OUTCOMES, "incomplete")}
    assert used <= set(domain["responses"])


# What the fact reader keeps beside the facts (actions/reading.py).
BOOKKEEPING = (
    names.SLOT_ANSWERED_FACTS,
    names.SLOT_DATES_UNKNOWN,
    names.SLOT_FACT_NOTES,
    names.SLOT_PENDING_CHECK,
)


def test_every_fact_slot_is_read_by_the_fact_reader_and_nothing_else(domain) -> None:
    # Rasa runs a custom mapping's action on every user message: only the fact reader
    # may be named there (never the assessment, which would store a screening each turn).
    for name, slot in domain["slots"].items():
        mappings = slot.get("mappings", [])
        named = {m["action"] for m in mappings if m["type"] == "custom" and "action" in m}
        assert named <= {names.ACTION_READ_FACTS}, name
        if name in FACT_NAMES:
            assert mappings == [READ_OUTSIDE_THE_FORM], name
    # The reader's bookkeeping slots are its own too.
    for name in BOOKKEEPING:
        assert domain["slots"][name]["mappings"] == [READ_OUTSIDE_THE_FORM]


# Outside the form only: while it runs, its validation reads the message with the same
# function (one call to the action server per message, not two).
READ_OUTSIDE_THE_FORM = {
    "type": "custom",
    "action": names.ACTION_READ_FACTS,
    "conditions": [{"active_loop": None}],
}


def test_the_domains_fact_slots_are_the_engines_facts(domain) -> None:
    """One source of truth: the engine's fact table decides the slots and their types."""
    fact_slots = {
        name
        for name, slot in domain["slots"].items()
        if READ_OUTSIDE_THE_FORM in slot.get("mappings", []) and name not in BOOKKEEPING
    }
    assert fact_slots == set(FACTS)
    assert tuple(FACTS) == names.FACT_SLOTS
    for name, kind in FACTS.items():
        if isinstance(kind, ListFact | ProcedureListFact):
            expected = "list"
        elif isinstance(kind, BooleanFact):
            expected = "bool"
        else:
            expected = "any"
        assert domain["slots"][name]["type"] == expected, name
        assert domain["slots"][name]["influence_conversation"] is False, name
