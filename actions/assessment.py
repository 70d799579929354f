"""Run the screening engine on the form's facts, store the screening and explain the result."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.names import (
    ACTION_ASSESS_SCREENING,
    CONSENT_DECLINED,
    CONSENT_GIVEN,
    FACT_SLOTS,
    SLOT_CONSENT,
    SLOT_CONSENT_AT,
    SLOT_CONSENT_VERSION,
    SLOT_CONTACT_NAME,
    SLOT_FACT_NOTES,
    SLOT_SCREENING_ID,
    SLOT_SCREENING_OUTCOME,
    SLOT_SCREENING_RULES,
    UTTER_BOOKING_BUTTON,
    UTTER_BOOKING_LINK,
    UTTER_CALENDAR_BUTTON,
    UTTER_CALENDAR_LINK,
    UTTER_CARD_TITLE_PREFIX,
    UTTER_CONSENT_DECLINED,
    UTTER_NOT_A_DIAGNOSIS,
    UTTER_NOTE_PREFIX,
    UTTER_OFFER_NEXT_STEP,
    UTTER_PREFIX,
    UTTER_REASONS,
    UTTER_SCREENING_ERROR,
    UTTER_STORAGE_UNAVAILABLE,
)
from needlecheck import booking
from needlecheck.config import shared_secret
from needlecheck.responses import render, response_values
from needlecheck.runtime import clinic as clinic_details
from needlecheck.runtime import services
from needlecheck.screening import Assessment, FactError, assess
from needlecheck.screening.explanation import Explanation
from needlecheck.screening.explanation import explain as explanation
from needlecheck.store.database import transient
from needlecheck.store.repository import save_screening
from needlecheck.transcript import evidence, transcript

logger = logging.getLogger(__name__)


class ActionAssessScreening(Action):
    def name(self) -> str:
        return ACTION_ASSESS_SCREENING

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if tracker.get_slot(SLOT_CONSENT) == CONSENT_DECLINED and not tracker.get_slot("red_flags"):
            # The questions ended at a "no" to consent: no health answers, no result; what
            # microneedling is, and the offer of a contact request instead.
            dispatcher.utter_message(response=UTTER_CONSENT_DECLINED)
            return []
        facts = facts_from_slots(tracker)
        runtime = services()
        try:
            assessment = assess(facts, runtime.settings.today(), runtime.policy)
        except FactError as error:
            logger.error("screening facts failed validation at %s", error.field)
            dispatcher.utter_message(response=UTTER_SCREENING_ERROR)
            return []
        channel, taken_by = channel_of(tracker)
        screening_id: int | None = None
        # Health answers are kept only with consent; urgent advice is given regardless.
        if tracker.get_slot(SLOT_CONSENT) == CONSENT_GIVEN:
            try:
                screening_id = await _store_with_retry(
                    runtime.sessions,
                    screening_key(tracker),
                    tracker.sender_id,
                    channel,
                    assessment,
                    tracker.get_slot(SLOT_CONSENT_VERSION) or "unknown",
                    _parse_time(tracker.get_slot(SLOT_CONSENT_AT)),
                    evidence(tracker.events, facts_from_slots(tracker)),
                    transcript(tracker.events),
                    taken_by,
                    tracker.get_slot(SLOT_FACT_NOTES) or None,
                )
            except SQLAlchemyError as error:
                # The person still gets their result; the clinic sees the gap in the logs.
                logger.error("could not store a screening: %s", error.__class__.__name__)
                dispatcher.utter_message(response=UTTER_STORAGE_UNAVAILABLE)
        hand_off = booking_hand_off(assessment, tracker, channel)
        if channel in CARD_CHANNELS:
            card = recommendation_card(assessment, domain)
            card.update(booking_buttons(hand_off, domain))
            dispatcher.utter_message(json_message=card)
        else:
            explain(assessment, dispatcher, domain)
            if hand_off.get("booking_url"):
                dispatcher.utter_message(
                    response=UTTER_BOOKING_LINK, booking_url=hand_off["booking_url"]
                )
            frontdesk = runtime.settings.frontdesk_url
            if hand_off.get("calendar_path") and frontdesk:
                dispatcher.utter_message(
                    response=UTTER_CALENDAR_LINK,
                    calendar_url=frontdesk + hand_off["calendar_path"],
                )
        if assessment.outcome != "urgent_care":
            dispatcher.utter_message(response=UTTER_OFFER_NEXT_STEP)
        return [
            SlotSet(SLOT_SCREENING_OUTCOME, assessment.outcome),
            SlotSet(SLOT_SCREENING_RULES, assessment.rules),
            SlotSet(SLOT_SCREENING_ID, screening_id),
        ]


# No booking hand-off in caller mode: the receptionist books on the phone.
NO_BOOKING_CHANNELS = ("frontdesk",)


def booking_hand_off(assessment: Assessment, tracker: Tracker, channel: str) -> dict[str, str]:
    """The clinic's booking link with the person's name (when the contact form already
    has it) and the suggested consultation, and for a deferral with a date the signed
    path of its calendar file (served by the front desk). Empty when booking is not
    offered: urgent advice, "not recommended", caller mode, or no booking link and no
    date."""
    consultation = booking.consultation(assessment.outcome)
    if consultation is None or channel in NO_BOOKING_CHANNELS:
        return {}
    offered: dict[str, str] = {}
    name = tracker.get_slot(SLOT_CONTACT_NAME)
    link = clinic_details().booking_link(name if isinstance(name, str) else None, consultation)
    if link:
        offered["booking_url"] = link
    if assessment.outcome == "defer" and assessment.earliest_date:
        try:
            # NEEDLECHECK_FRONTDESK_SECRET, or the one `make run` keeps in var/.
            secret = shared_secret(services().settings.var_dir)
        except OSError as error:
            # No secret to sign with (a read-only var/ and none set): the result goes
            # out without the calendar file rather than not at all.
            logger.warning(
                "no calendar link: front desk secret unavailable (%s)", type(error).__name__
            )
        else:
            offered["calendar_path"] = booking.ics_path(assessment.earliest_date, secret)
    return offered


def booking_buttons(hand_off: dict[str, str], domain: DomainDict) -> dict[str, Any]:
    """The card's booking button and calendar link, labelled in the clinic's words."""
    responses = domain.get("responses") or {}

    def label(name: str) -> str:
        return str(((responses.get(name) or [{}])[0]).get("text") or "")

    buttons: dict[str, Any] = {}
    if hand_off.get("booking_url"):
        buttons["booking"] = {"url": hand_off["booking_url"], "label": label(UTTER_BOOKING_BUTTON)}
    if hand_off.get("calendar_path"):
        buttons["calendar"] = {
            "path": hand_off["calendar_path"],
            "label": label(UTTER_CALENDAR_BUTTON),
        }
    return buttons


def facts_from_slots(tracker: Tracker) -> dict[str, Any]:
    """The facts the form has collected; an unset slot is a fact not given, never a 'no'."""
    slots = {name: tracker.get_slot(name) for name in FACT_SLOTS}
    return {name: value for name, value in slots.items() if value is not None}


# Channels that show the result as one card (the website widget); the others get it as
# messages.
CARD_CHANNELS = ("web",)
# Rasa's name for a channel, where it differs from the one the clinic sees.
CHANNEL_NAMES = {"socketio": "web"}


def channel_of(tracker: Tracker) -> tuple[str, str | None]:
    """The channel of the person's latest message and, for the front desk's caller mode,
    the staff member running it (vouched for by the caller channel, never by a visitor)."""
    channel = tracker.get_latest_input_channel() or "unknown"
    taken_by = None
    if channel == "frontdesk":
        metadata = tracker.latest_message.get("metadata") or {}
        staff = metadata.get("staff")
        taken_by = staff if isinstance(staff, str) else None
    return CHANNEL_NAMES.get(channel, channel), taken_by


def screening_key(tracker: Tracker) -> str | None:
    """The same for every attempt to store this screening, different for any other one.

    The conversation, where its current run began (its first event since a restart or
    since the tracker store's session began) and how many results it has had: a result
    redone after a failure (its turn taken back and sent again) counts the same, a
    corrected answer's new result does not.
    """
    events = tracker.applied_events()
    if not events or events[0].get("timestamp") is None:
        return None
    earlier = sum(
        1
        for event in events
        if event.get("event") == "action" and event.get("name") == ACTION_ASSESS_SCREENING
    )
    return f"{tracker.sender_id}@{events[0]['timestamp']!r}#{earlier}"


# Seconds before each retry of a write that lost its connection (a database restart);
# within the Rasa server's wait for an action (NEEDLECHECK_ACTION_TIMEOUT, 20 s).
STORE_RETRY_DELAYS = (0.5, 1.0, 2.0)


async def _store_with_retry(sessions, key: str | None, *args: Any) -> int:
    for delay in (*STORE_RETRY_DELAYS, None):
        try:
            return await asyncio.to_thread(_store, sessions, key, *args)
        except SQLAlchemyError as error:
            if delay is None or not transient(error):
                raise
            logger.warning("storing a screening failed (%s); retrying", error.__class__.__name__)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _store(
    sessions,
    key: str | None,
    conversation_id: str,
    channel: str,
    assessment: Assessment,
    consent_version: str,
    consent_at: datetime | None,
    words: dict[str, list[str]],
    lines: list[dict[str, str]],
    taken_by: str | None = None,
    notes: dict[str, list[str]] | None = None,
) -> int:
    with sessions.begin() as session:
        screening = save_screening(
            session,
            conversation_id=conversation_id,
            channel=channel,
            assessment=assessment,
            consent_text_version=consent_version,
            consent_at=consent_at,
            evidence=words,
            transcript=lines,
            taken_by=taken_by,
            idempotency_key=key,
            notes=notes,
        )
        return screening.id


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def explain(assessment: Assessment, dispatcher: CollectingDispatcher, domain: DomainDict) -> None:
    """Outcome and recommendation, then every reason, then what to do first."""
    told = explanation(assessment)
    dispatcher.utter_message(response=UTTER_PREFIX + told.headline, **told.values)
    if told.reasons:
        dispatcher.utter_message(response=UTTER_REASONS, reasons=_bullets(told.reasons))
    if told.preparation:
        dispatcher.utter_message(
            response=UTTER_PREFIX + told.preparation, steps=_bullets(told.steps)
        )
    for note in person_notes(told, domain):
        dispatcher.utter_message(response=note)
    if told.disclaimer:
        dispatcher.utter_message(response=UTTER_NOT_A_DIAGNOSIS)


def person_notes(told: Explanation, domain: DomainDict) -> list[str]:
    """Responses for staff notes the person should hear too (`utter_note_<rule ID>`, for
    example that dark marks after injuries make new ones more likely): a clinic adds one
    to tell people about any other note."""
    responses = domain.get("responses") or {}
    names = [UTTER_NOTE_PREFIX + rule.lower().replace("-", "_") for rule in told.note_rules]
    return [name for name in names if name in responses]


def recommendation_card(assessment: Assessment, domain: DomainDict) -> dict[str, Any]:
    """The result as one card for the website widget, in the same words as `explain`."""
    responses = domain.get("responses") or {}
    clinic = response_values(clinic_details(), services().settings)

    def words(name: str, **values: str) -> str:
        return render(
            str(((responses.get(name) or [{}])[0]).get("text") or ""), {**clinic, **values}
        )

    told = explanation(assessment)
    return {
        "type": "recommendation",
        "outcome": told.outcome,
        "title": words(UTTER_CARD_TITLE_PREFIX + told.outcome),
        "summary": words(UTTER_PREFIX + told.headline, **told.values),
        "reasons": list(told.reasons),
        "earliest_date": told.earliest_date,
        # The heading the steps go under ("If the consultation goes ahead, ...").
        "next_steps_title": words(UTTER_PREFIX + told.preparation).split("\n")[0]
        if told.preparation
        else "",
        "next_steps": list(told.steps),
        "notes": [words(name) for name in person_notes(told, domain)],
        "disclaimer": words(UTTER_NOT_A_DIAGNOSIS) if told.disclaimer else "",
    }


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)
