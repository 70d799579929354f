"""Names of the slots, actions and responses the actions use, defined once.

tests/actions/test_names.py checks each of them against domain.yml.
"""

from needlecheck.screening import FACT_NAMES
from needlecheck.screening.facts import DATE_FOLLOW_UPS

FORM_SCREENING = "screening_form"
FORM_CONTACT = "contact_form"
ACTION_VALIDATE_SCREENING_FORM = "validate_screening_form"
ACTION_VALIDATE_CONTACT_FORM = "validate_contact_form"
ACTION_ASSESS_SCREENING = "action_assess_screening"
ACTION_EXPLAIN_QUESTION = "action_explain_question"
ACTION_ANSWER_FAQ = "action_answer_faq"
ACTION_START_OVER = "action_start_over"
ACTION_READ_FACTS = "action_read_facts"
ACTION_ASK_PREFIX = "action_ask_"
ACTION_TAKE_OFFER = "action_take_offer"
ACTION_HANDLE_UNCLEAR = "action_handle_unclear"
ACTION_SUBMIT_CONTACT = "action_submit_contact"
ACTION_REQUEST_HANDOFF = "action_request_handoff"

FACT_SLOTS: tuple[str, ...] = FACT_NAMES
FOLLOW_UP_SLOTS: tuple[str, ...] = tuple(DATE_FOLLOW_UPS)
SLOT_ANSWERED_FACTS = "answered_facts"
SLOT_DATES_UNKNOWN = "dates_unknown"
SLOT_FACT_NOTES = "fact_notes"
SLOT_PENDING_CHECK = "pending_check"
SLOT_QUESTION_STATE = "question_state"
SLOT_CONSENT = "health_data_consent"
# The form's questions: consent to the health questions first, then the facts.
QUESTIONS: tuple[str, ...] = (SLOT_CONSENT, *FACT_SLOTS, *FOLLOW_UP_SLOTS)
SLOT_CONSENT_VERSION = "consent_version"
# Consent given again, involving a parent or guardian, by someone under the clinic's adult age.
SLOT_CONSENT_MINOR = "consent_for_minor"
# The consent question as put to someone under the clinic's adult age.
CONSENT_MINOR_QUESTION = SLOT_CONSENT + "_minor"
SLOT_CONSENT_AT = "consent_at"
SLOT_SCREENING_OUTCOME = "screening_outcome"
SLOT_SCREENING_RULES = "screening_rules"
SLOT_SCREENING_ID = "screening_id"
SLOT_CONTACT_NAME = "contact_name"
SLOT_CONTACT_DETAILS = "contact_details"
SLOT_CONTACT_TIME = "contact_time"
SLOT_CONTACT_CONSENT = "contact_consent"
CONTACT_SLOTS = (SLOT_CONTACT_NAME, SLOT_CONTACT_DETAILS, SLOT_CONTACT_TIME, SLOT_CONTACT_CONSENT)
CONSENT_GIVEN = "given"
CONSENT_DECLINED = "declined"

INTENT_AFFIRM = "affirm"
INTENT_DENY = "deny"
FAQ_INTENT_PREFIX = "faq_"
ENTITY_TIME = "time"

UTTER_ASK_CONSENT = "utter_ask_health_data_consent"
UTTER_ASK_CONSENT_MINOR = "utter_ask_" + CONSENT_MINOR_QUESTION
UTTER_CONSENT_DECLINED = "utter_consent_declined"
UTTER_ASK_CONTACT_CONSENT = "utter_ask_contact_consent"
UTTER_INVALID_ANSWER = "utter_invalid_answer"
UTTER_FACT_UPDATED = "utter_fact_updated"
UTTER_WHICH_ONES = "utter_which_ones"
UTTER_WHICH_RED_FLAG = "utter_which_red_flag"
UTTER_DATE_NOT_UNDERSTOOD = "utter_date_not_understood"
UTTER_ASK_PROCEDURE_DATE = "utter_ask_recent_procedures_date"
UTTER_WHY_PREFIX = "utter_why_"
UTTER_WHY_GENERAL = "utter_why_general"
UTTER_FAQ_PREFIX = "utter_faq_"
UTTER_STARTING_OVER = "utter_starting_over"
# The result's headline and steps are named by needlecheck.screening.explanation (its
# MESSAGES); the response is that name after this prefix.
UTTER_PREFIX = "utter_"
UTTER_CARD_TITLE_PREFIX = "utter_card_title_"
UTTER_REASONS = "utter_reasons"
UTTER_NOT_A_DIAGNOSIS = "utter_not_a_diagnosis"
UTTER_NOTE_PREFIX = "utter_note_"
UTTER_OFFER_NEXT_STEP = "utter_offer_next_step"
# The hand-off to booking (needlecheck.booking): the clinic's booking link, and a deferred
# person's earliest date as a calendar file; each as a text, and as the card's button.
UTTER_BOOKING_LINK = "utter_booking_link"
UTTER_BOOKING_BUTTON = "utter_booking_button"
UTTER_CALENDAR_LINK = "utter_calendar_link"
UTTER_CALENDAR_BUTTON = "utter_calendar_button"
UTTER_STORAGE_UNAVAILABLE = "utter_storage_unavailable"
UTTER_SCREENING_ERROR = "utter_screening_error"
UTTER_CONTACT_INVALID = "utter_contact_invalid"
UTTER_CONTACT_SAVED = "utter_contact_saved"
UTTER_CONTACT_NOT_SAVED = "utter_contact_not_saved"
UTTER_CONTACT_UNAVAILABLE = "utter_contact_unavailable"
UTTER_HANDOFF_REQUESTED = "utter_handoff_requested"
UTTER_HANDOFF_UNAVAILABLE = "utter_handoff_unavailable"
UTTER_HANDOFF_CLOSED = "utter_handoff_closed"
UTTER_DEFAULT = "utter_default"
UTTER_ASK_PREFIX = "utter_ask_"
UTTER_REPHRASE_PREFIX = "utter_rephrase_"
UTTER_OPTIONS = "utter_options"
UTTER_OPTIONS_TYPED = "utter_options_typed"
UTTER_OFFER_PERSON = "utter_offer_person"
UTTER_OFFER_PERSON_CLOSED = "utter_offer_person_closed"
UTTER_CHECK_CONTRADICTION = "utter_check_contradiction"
UTTER_CHECK_MEDICINE = "utter_check_medicine"
UTTER_CHECK_VOLUNTEERED = "utter_check_volunteered"
UTTER_OFFER_SCREENING = "utter_offer_screening"
UTTER_OFFER_CONTACT = "utter_offer_contact"
UTTER_ANYTHING_ELSE = "utter_anything_else"
INTENT_START_SCREENING = "start_screening"
CLINIC_INTENT_PREFIX = "clinic_"
