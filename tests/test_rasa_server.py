"""needlecheck.rasa_server: Rasa's repeated work is remembered, its behaviour unchanged."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet

from needlecheck import rasa_server


@pytest.fixture(scope="module", autouse=True)
def installed():
    originals = (
        RemoteAction._validate_action_result,
        Event.resolve_by_type,
        FormAction._create_unique_entity_mappings,
    )
    rasa_server.install()
    yield
    (
        RemoteAction._validate_action_result,
        Event.resolve_by_type,
        FormAction._create_unique_entity_mappings,
    ) = (originals[0], staticmethod(originals[1]), originals[2])


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
