"""Passing contact details to the clinic, and asking for a person now."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.consent import consent_version
from actions.names import (
    ACTION_REQUEST_HANDOFF,
    ACTION_SUBMIT_CONTACT,
    ACTION_VALIDATE_CONTACT_FORM,
    CONTACT_SLOTS,
    FORM_CONTACT,
    SLOT_CONTACT_CONSENT,
    SLOT_CONTACT_DETAILS,
    SLOT_CONTACT_NAME,
    SLOT_CONTACT_TIME,
    SLOT_SCREENING_ID,
    UTTER_ASK_CONTACT_CONSENT,
    UTTER_CONTACT_INVALID,
    UTTER_CONTACT_NOT_SAVED,
    UTTER_CONTACT_SAVED,
    UTTER_CONTACT_UNAVAILABLE,
    UTTER_HANDOFF_CLOSED,
    UTTER_HANDOFF_REQUESTED,
    UTTER_HANDOFF_UNAVAILABLE,
)
from needlecheck.runtime import clinic_open_now, services
from needlecheck.store.repository import (
    InvalidRecord,
    add_contact_request,
    add_handoff_request,
    find_contact,
    normalise_contact,
    normalise_reach,
)

logger = logging.getLogger(__name__)


class ValidateContactForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_CONTACT_FORM

    def validate_contact_name(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        name = (value or "").strip() if isinstance(value, str) else ""
        if not name or len(name) > 200:
            return {SLOT_CONTACT_NAME: None}
        return {SLOT_CONTACT_NAME: name}

    def validate_contact_details(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        try:
            reach = normalise_reach(*find_contact(value if isinstance(value, str) else ""))
        except InvalidRecord as error:
            dispatcher.utter_message(response=UTTER_CONTACT_INVALID, problem=str(error))
            return {SLOT_CONTACT_DETAILS: None}
        shown = " and ".join(x for x in reach if x)
        return {SLOT_CONTACT_DETAILS: shown}

    def validate_contact_time(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        text = (value or "").strip() if isinstance(value, str) else ""
        return {SLOT_CONTACT_TIME: text[:200] or None}


class ActionSubmitContact(Action):
    """Stores the contact request, only with the person's explicit consent."""

    def name(self) -> str:
        return ACTION_SUBMIT_CONTACT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        cleared = [SlotSet(slot, None) for slot in CONTACT_SLOTS]
        if tracker.get_slot(SLOT_CONTACT_CONSENT) is not True:
            dispatcher.utter_message(response=UTTER_CONTACT_NOT_SAVED)
            return cleared
        phone, email = find_contact(tracker.get_slot(SLOT_CONTACT_DETAILS) or "")
        try:
            details = normalise_contact(
                tracker.get_slot(SLOT_CONTACT_NAME) or "",
                phone,
                email,
                tracker.get_slot(SLOT_CONTACT_TIME),
            )
            await asyncio.to_thread(
                _store_contact,
                tracker.sender_id,
                details,
                consent_version(domain, UTTER_ASK_CONTACT_CONSENT),
                _screening_id(tracker),
            )
        except InvalidRecord as error:
            logger.info("contact request not stored: %s", str(error).split(":")[0])
            dispatcher.utter_message(response=UTTER_CONTACT_UNAVAILABLE)
            return cleared
        except SQLAlchemyError as error:
            logger.error("could not store a contact request: %s", error.__class__.__name__)
            dispatcher.utter_message(response=UTTER_CONTACT_UNAVAILABLE)
            return cleared
        dispatcher.utter_message(response=UTTER_CONTACT_SAVED)
        return cleared


class ActionRequestHandoff(Action):
    """Leaves a handoff request for the front desk, linked to the latest screening, and
    says honestly what happens next: during the clinic's opening hours (clinic.yml
    `hours`) staff are told and may take over; if nobody answers within
    `handoff_wait_minutes`, the clinic calls back. Outside them nobody can answer, so
    the request becomes a callback request: the contact form (name, phone or email)."""

    def name(self) -> str:
        return ACTION_REQUEST_HANDOFF

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if not clinic_open_now():
            dispatcher.utter_message(response=UTTER_HANDOFF_CLOSED)
            return [FollowupAction(FORM_CONTACT)]
        reason = (
            f"asked to talk to a person: {(tracker.latest_message.get('text') or '').strip()[:300]}"
        )
        try:
            await asyncio.to_thread(
                _store_handoff, tracker.sender_id, reason, _screening_id(tracker)
            )
        except SQLAlchemyError as error:
            logger.error("could not store a handoff request: %s", error.__class__.__name__)
            dispatcher.utter_message(response=UTTER_HANDOFF_UNAVAILABLE)
            return []
        dispatcher.utter_message(response=UTTER_HANDOFF_REQUESTED)
        return []


def _screening_id(tracker: Tracker) -> int | None:
    value = tracker.get_slot(SLOT_SCREENING_ID)
    return int(value) if isinstance(value, (int, float)) else None


def _store_contact(conversation_id: str, details, version: str, screening_id: int | None) -> None:
    with services().sessions.begin() as session:
        add_contact_request(
            session,
            conversation_id=conversation_id,
            details=details,
            consent_given=True,
            consent_text_version=version,
            screening_id=screening_id,
        )


def _store_handoff(conversation_id: str, reason: str, screening_id: int | None) -> None:
    with services().sessions.begin() as session:
        add_handoff_request(
            session, conversation_id=conversation_id, reason=reason, screening_id=screening_id
        )
