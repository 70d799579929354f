"""Names of the slots, actions and responses the actions use, defined once.

tests/actions/test_names.py checks each of them against domain.yml.
"""

from needlecheck.screening import FACT_NAMES

FORM_SCREENING = "screening_form"
ACTION_VALIDATE_SCREENING_FORM = "validate_screening_form"
ACTION_ASSESS_SCREENING = "action_assess_screening"

SLOT_SCREENING_OUTCOME = "screening_outcome"
SLOT_SCREENING_RULES = "screening_rules"
FACT_SLOTS: tuple[str, ...] = FACT_NAMES

UTTER_INVALID_ANSWER = "utter_invalid_answer"
UTTER_OUTCOME_PREFIX = "utter_outcome_"
UTTER_OUTCOME_DEFER_DATED = "utter_outcome_defer_dated"
UTTER_OUTCOME_INCOMPLETE = "utter_outcome_incomplete"
UTTER_REASONS = "utter_reasons"
UTTER_PREPARATION = "utter_preparation"
UTTER_NOT_A_DIAGNOSIS = "utter_not_a_diagnosis"
UTTER_STORAGE_UNAVAILABLE = "utter_storage_unavailable"
UTTER_SCREENING_ERROR = "utter_screening_error"
