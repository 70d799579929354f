"""The clinic's values in every response the Rasa server fills (needlecheck/responses.py)."""

from __future__ import annotations

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator as TemplatedNLG

from needlecheck import responses
from needlecheck.clinic import Clinic
from needlecheck.production.resilience import response_text


def test_render_fills_known_placeholders_and_leaves_the_rest() -> None:
    text = 'Call {emergency_number}. {unknown} /inform{{"a": 1}}'
    assert responses.render(text, {"emergency_number": "112"}) == (
        'Call 112. {unknown} /inform{{"a": 1}}'
    )


def test_the_server_fills_clinic_values_in_every_response(monkeypatch) -> None:
    # Installed as needlecheck.patches would, with a clinic of the test's; undone after it.
    filled_by = responses.clinic_values(
        TemplatedNLG._response_variables,
        Clinic(details={"emergency_number": "112", "phone": "01 234"}),
    )
    monkeypatch.setattr(TemplatedNLG, "_response_variables", staticmethod(filled_by))
    nlg = TemplatedNLG(
        {
            "utter_urgent": [{"text": "Call {emergency_number} now; or {call_the_clinic}."}],
            "utter_named": [{"text": "Hello {name}, {call_the_clinic}."}],
        }
    )
    filled = nlg.generate_from_slots("utter_urgent", {"requested_slot": None}, "rest")
    assert filled["text"] == "Call 112 now; or call the clinic on 01 234."
    # An action's own values still win over the clinic's.
    filled = nlg.generate_from_slots(
        "utter_named", {}, "rest", name="Ana", call_the_clinic="ring us"
    )
    assert filled["text"] == "Hello Ana, ring us."
    # The apology the server sends by itself when a store is down.

    class Domain:
        responses = {"utter_service_unavailable": [{"text": "Urgent? Call {emergency_number}."}]}

    assert response_text(Domain(), "utter_service_unavailable") == "Urgent? Call 112."
