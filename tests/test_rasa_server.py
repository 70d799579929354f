"""needlecheck.rasa_server: Rasa's repeated work is remembered, its behaviour unchanged."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from needlecheck import rasa_server


@pytest.fixture(scope="module", autouse=True)
def installed():
    originals = (
        RemoteAction._validate_action_result,
        Event.resolve_by_type,
        FormAction._create_unique_entity_mappings,
        Domain.states_for_tracker_history,
        EndpointConfig.session,
    )
    rasa_server.install()
    yield
    (
        RemoteAction._validate_action_result,
        Event.resolve_by_type,
        FormAction._create_unique_entity_mappings,
        Domain.states_for_tracker_history,
        EndpointConfig.session,
    ) = (originals[0], staticmethod(originals[1]), *originals[2:])


def test_action_responses_are_still_validated() -> None:
    action = RemoteAction("action_x", None)
    assert action._validate_action_result(
        {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": []}
    )
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": "no_such_event"}], "responses": []})


def test_event_classes_resolve_as_before() -> None:
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")


def test_unique_entity_mappings_are_kept_per_form_and_domain() -> None:
    domain = Domain.from_yaml(
        """
entities: [city]
slots:
  departure:
    type: text
    mappings: [{type: from_entity, entity: city, role: from}]
  arrival:
    type: text
    mappings: [{type: from_entity, entity: city}]
  other:
    type: text
    mappings: [{type: from_entity, entity: city}]
forms:
  trip:
    required_slots: [departure, arrival, other]
"""
    )
    form = FormAction("trip", None)
    first = form._create_unique_entity_mappings(domain)
    assert first == {'{"entity": "city", "role": "from", "type": "from_entity"}'}
    assert FormAction("trip", None)._create_unique_entity_mappings(domain) is first


STATES_DOMAIN = """
intents: [greet, inform]
slots:
  age:
    type: float
    influence_conversation: true
    mappings: [{type: custom}]
responses:
  utter_hi: [{text: hi}]
"""


def test_states_are_reused_only_for_the_same_tracker_and_events() -> None:
    domain = Domain.from_yaml(STATES_DOMAIN)

    def fresh(tracker: DialogueStateTracker) -> list:
        # Another tracker object with the same events is never served from the memory.
        twin = DialogueStateTracker.from_events("twin", list(tracker.events), domain.slots)
        return domain.states_for_tracker_history(twin)

    tracker = DialogueStateTracker.from_events(
        "s", [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"})], domain.slots
    )
    first = domain.states_for_tracker_history(tracker)
    # The policy deletes keys of the last state; the next caller must not see that.
    first[-1]["user"].clear()
    again = domain.states_for_tracker_history(tracker)
    assert again == fresh(tracker)
    assert again[-1]["user"]["intent"] == "greet"

    tracker.update(ActionExecuted("utter_hi"))
    tracker.update(SlotSet("age", 34))
    after = domain.states_for_tracker_history(tracker)
    assert after == fresh(tracker)
    assert len(after) == len(again) + 1
    assert after[-1]["prev_action"] == {"action_name": "utter_hi"}
    assert domain.states_for_tracker_history(tracker, ignore_rule_only_turns=True) == (
        domain.states_for_tracker_history(
            DialogueStateTracker.from_events("x", list(tracker.events), domain.slots),
            ignore_rule_only_turns=True,
        )
    )


def test_action_server_requests_are_json_encoded_with_ujson() -> None:
    import asyncio

    import ujson

    async def encoder() -> object:
        async with EndpointConfig("http://localhost:5055/webhook").session() as session:
            return session.json_serialize

    assert asyncio.run(encoder()) is ujson.dumps


@pytest.mark.parametrize(
    "reply",
    [
        {"events": [], "responses": []},
        {"responses": [{"text": "hi"}]},
        {"events": [{"event": "slot", "name": "a", "value": None, "timestamp": None}]},
        {"events": [{"event": "active_loop", "name": None}, {"event": "followup", "name": "x"}]},
        {"events": [{"event": "reset_slots"}, {"event": "restart", "timestamp": 1.5}]},
        {"events": [{"event": "bot", "text": "hi", "data": {"buttons": []}}]},
        {"events": [{"event": "slot"}]},
        {"events": [{"event": "slot", "name": 3}]},
        {"events": [{"event": "followup"}]},
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"name": "a"}]},
        {"events": [{"event": "slot", "name": "a", "timestamp": "noon"}]},
        {"events": {"event": "slot"}},
        {"events": [], "responses": [3]},
        {"events": ["slot"]},
        [],
    ],
)
def test_action_replies_are_judged_as_by_the_whole_schema(reply: object) -> None:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    expected = validator_for(schema)(schema).is_valid(reply)
    action = RemoteAction("action_x", None)
    if expected:
        assert action._validate_action_result(reply)
    else:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(reply)


def test_the_heap_is_frozen_once_the_model_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import gc

    import rasa.core.run

    loaded = object()

    async def load(*_: object) -> object:
        return loaded

    monkeypatch.setattr(rasa.core.run, "load_agent_on_start", load)
    rasa_server.install_frozen_heap_after_load()
    try:
        assert asyncio.run(rasa.core.run.load_agent_on_start("model", None)) is loaded
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
