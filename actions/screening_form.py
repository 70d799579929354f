"""Validation of the screening form: one validate_<fact> per fact slot.

Each answer is normalised into SCREENING.md's fact shape and checked by the engine's own
validator, so the form can never hold a value the engine would reject.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.names import ACTION_VALIDATE_SCREENING_FORM, FACT_SLOTS, UTTER_INVALID_ANSWER
from needlecheck.screening import FactError, Facts, validate_fact

logger = logging.getLogger(__name__)

SlotValues = dict[str, Any]


class ValidateScreeningForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_SCREENING_FORM

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # A red flag ends the screening at once: nothing else is asked.
        if tracker.get_slot("red_flags"):
            return ["red_flags"]
        return list(FACT_SLOTS)

    def validate_red_flags(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("red_flags", _as_list(value), dispatcher)

    def validate_age(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("age", _as_age(value), dispatcher)

    def validate_treatment_area(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("treatment_area", _as_list(value), dispatcher)

    def validate_skin_concerns(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("skin_concerns", _as_list(value), dispatcher)

    def validate_topical_products(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("topical_products", _as_list(value), dispatcher)

    def validate_isotretinoin(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("isotretinoin", _as_status(value), dispatcher)

    def validate_pregnant_or_breastfeeding(
        self, value: Any, dispatcher, tracker, domain
    ) -> SlotValues:
        return _checked("pregnant_or_breastfeeding", value, dispatcher)

    def validate_active_skin_issues(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("active_skin_issues", _as_list(value), dispatcher)

    def validate_conditions(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("conditions", _as_list(value), dispatcher)

    def validate_medications(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("medications", _as_list(value), dispatcher)

    def validate_cancer_treatment(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("cancer_treatment", _as_status(value), dispatcher)

    def validate_allergies(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("allergies", _as_list(value), dispatcher)

    def validate_recent_procedures(self, value: Any, dispatcher, tracker, domain) -> SlotValues:
        return _checked("recent_procedures", _as_procedures(value), dispatcher)


def _checked(slot: str, value: Any, dispatcher: CollectingDispatcher) -> SlotValues:
    """The slot set to the engine's normalised fact, or cleared (so the form asks again)."""
    try:
        normalised = validate_fact(slot, value)
    except FactError as error:
        # The field name only: the value may be personal data.
        logger.info("rejected an answer for %s: %s", slot, error.field)
        dispatcher.utter_message(response=UTTER_INVALID_ANSWER)
        return {slot: None}
    return {slot: Facts({slot: normalised}).to_json()[slot]}


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        # Rasa wraps a mapping's `value: []` into a list slot as `[[]]`, and a payload
        # may nest lists too: flatten one level.
        flat: list[Any] = []
        for item in value:
            flat.extend(item if isinstance(item, list) else [item])
        return flat
    return value


def _as_age(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,3}\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _as_status(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return {"status": value}
    return value


def _as_procedures(value: Any) -> Any:
    items = _as_list(value)
    if not isinstance(items, list):
        return items
    # A procedure named without a date counts as recent until the date is known.
    return [{"type": item} if isinstance(item, str) else item for item in items]
