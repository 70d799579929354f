"""Run the screening engine on the form's facts, store the screening and explain the result."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
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
    SLOT_FACT_NOTES,
    SLOT_SCREENING_ID,
    SLOT_SCREENING_OUTCOME,
    SLOT_SCREENING_RULES,
    UTTER_CARD_TITLE_PREFIX,
    UTTER_CONSENT_DECLINED,
    UTTER_NOT_A_DIAGNOSIS,
    UTTER_NOTE_PREFIX,
    UTTER_OFFER_NEXT_STEP,
    UTTER_OUTCOME_DEFER_DATED,
    UTTER_OUTCOME_INCOMPLETE,
    UTTER_OUTCOME_PREFIX,
    UTTER_PREPARATION,
    UTTER_PREPARATION_IF_TREATED,
    UTTER_REASONS,
    UTTER_SCREENING_ERROR,
    UTTER_STORAGE_UNAVAILABLE,
)
from needlecheck.responses import render, response_values
from needlecheck.runtime import clinic as clinic_details
from needlecheck.runtime import services
from needlecheck.screening import Assessment, FactError, assess
from needlecheck.store.database import transient
from needlecheck.store.repository import save_screening
from needlecheck.transcript import evidence, transcript

logger = logging.getLogger(__name__)

# Severities whose reasons explain the outcome to the person; `note` is for staff only.
EXPLAINED = ("urgent", "exclude", "defer", "review")
PREPARATION_BY_OUTCOME = {
    "eligible": UTTER_PREPARATION,
    "clinician_review": UTTER_PREPARATION_IF_TREATED,
    "defer": UTTER_PREPARATION_IF_TREATED,
}


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
        if channel in CARD_CHANNELS:
            dispatcher.utter_message(json_message=recommendation_card(assessment, domain))
        else:
            explain(assessment, dispatcher, domain)
        if assessment.outcome != "urgent_care":
            dispatcher.utter_message(response=UTTER_OFFER_NEXT_STEP)
        return [
            SlotSet(SLOT_SCREENING_OUTCOME, assessment.outcome),
            SlotSet(SLOT_SCREENING_RULES, assessment.rules),
            SlotSet(SLOT_SCREENING_ID, screening_id),
        ]


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
    if assessment.outcome is None:
        dispatcher.utter_message(response=UTTER_OUTCOME_INCOMPLETE)
    elif assessment.outcome == "defer" and assessment.earliest_date:
        dispatcher.utter_message(
            response=UTTER_OUTCOME_DEFER_DATED,
            earliest_date=human_date(assessment.earliest_date),
        )
    else:
        dispatcher.utter_message(response=UTTER_OUTCOME_PREFIX + assessment.outcome)
    reasons = reason_lines(assessment)
    if reasons:
        dispatcher.utter_message(response=UTTER_REASONS, reasons=_bullets(reasons))
    steps = preparation(assessment)
    if steps:
        dispatcher.utter_message(response=steps[0], steps=_bullets(steps[1]))
    for note in person_notes(assessment, domain):
        dispatcher.utter_message(response=note)
    # After urgent advice, "this does not clear you for treatment" would only dilute it.
    if assessment.outcome != "urgent_care":
        dispatcher.utter_message(response=UTTER_NOT_A_DIAGNOSIS)


def reason_lines(assessment: Assessment) -> list[str]:
    """The reasons the person reads, each deferral with its own date where it has one
    (an undated one says its own condition: "until the sunburn has healed")."""
    lines = []
    for finding in assessment.findings:
        if finding.severity not in EXPLAINED:
            continue
        if finding.severity == "defer" and finding.until:
            lines.append(
                f"{finding.reason} For this, the earliest date is {human_date(finding.until)}."
            )
        else:
            lines.append(finding.reason)
    return lines


def person_notes(assessment: Assessment, domain: DomainDict) -> list[str]:
    """Responses for staff notes the person should hear too (`utter_note_<rule ID>`, for
    example that dark marks after injuries make new ones more likely): a clinic adds one
    to tell people about any other note. None under urgent advice."""
    if assessment.outcome == "urgent_care":
        return []
    responses = domain.get("responses") or {}
    names = [
        UTTER_NOTE_PREFIX + f.rule.lower().replace("-", "_")
        for f in assessment.findings
        if f.severity == "note"
    ]
    return [name for name in names if name in responses]


def preparation(assessment: Assessment) -> tuple[str, list[str]] | None:
    """What to do before treatment, and the response that introduces it: plainly after a
    yes, "if the consultation goes ahead" while the answer is not yet a yes, and never
    under a no or urgent advice, which it would contradict."""
    steps = [f.reason for f in assessment.findings if f.severity == "prepare"]
    if not steps or assessment.outcome not in PREPARATION_BY_OUTCOME:
        return None
    return PREPARATION_BY_OUTCOME[assessment.outcome], steps


def recommendation_card(assessment: Assessment, domain: DomainDict) -> dict[str, Any]:
    """The result as one card for the website widget, in the same words as `explain`."""
    responses = domain.get("responses") or {}
    clinic = response_values(clinic_details(), services().settings)

    def words(name: str, **values: str) -> str:
        return render(
            str(((responses.get(name) or [{}])[0]).get("text") or ""), {**clinic, **values}
        )

    earliest = human_date(assessment.earliest_date) if assessment.earliest_date else None
    if assessment.outcome is None:
        summary = words(UTTER_OUTCOME_INCOMPLETE)
    elif assessment.outcome == "defer" and earliest:
        summary = words(UTTER_OUTCOME_DEFER_DATED, earliest_date=earliest)
    else:
        summary = words(UTTER_OUTCOME_PREFIX + assessment.outcome)
    steps = preparation(assessment)
    return {
        "type": "recommendation",
        "outcome": assessment.outcome or "incomplete",
        "title": words(UTTER_CARD_TITLE_PREFIX + (assessment.outcome or "incomplete")),
        "summary": summary,
        "reasons": reason_lines(assessment),
        "earliest_date": earliest,
        # The heading the steps go under ("If the consultation goes ahead, ...").
        "next_steps_title": words(steps[0]).split("\n")[0] if steps else "",
        "next_steps": steps[1] if steps else [],
        "notes": [words(name) for name in person_notes(assessment, domain)],
        "disclaimer": "" if assessment.outcome == "urgent_care" else words(UTTER_NOT_A_DIAGNOSIS),
    }


def human_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)
