"""Erasing a conversation everywhere it is kept (the clinic's records and the assistant's
copy): the widget's "Delete my conversation", for a conversation the website widget
started, and a clinician's "Erase" on a record's page (`erase_record_conversation`), the
same erasure as `needlecheck erase --conversation`.

It is all or nothing. The clinic's records are deleted in one transaction, which commits
only once the assistant's copy is gone too (needlecheck.store.privacy.erase); when any
part fails, the transaction is rolled back and `NotErased` says which part, so that the
visitor is told to try again, never that the conversation was deleted. An assistant that
does not answer in time may or may not have deleted its copy: that is a failure too
(needlecheck.store.tracker_events), never "nothing to erase".

Blocking (the database, and with Rasa's in-memory store two requests to the Rasa server,
of up to tracker_events.RASA_TIMEOUT each): the route runs it in a worker thread, never
on the event loop.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from needlecheck.config import Settings
from needlecheck.store import privacy, provenance, tracker_events
from needlecheck.store import queue as queue_store
from needlecheck.store.encryption import UnreadableRecord
from needlecheck.store.staff import SignedIn

logger = logging.getLogger(__name__)

Erasure = Literal["deleted", "nothing stored", "not the widget's"]

DETAILS = {
    ("assistant", "timeout"): "The assistant did not answer in time, so its copy of the "
    "conversation may not be deleted, and the clinic's records of it were kept",
    "assistant": "The assistant could not delete its copy of the conversation, so the "
    "clinic's records of it were kept too",
    ("records", "unreadable"): "The clinic's records of the conversation could not be read, "
    "so nothing was deleted",
    "records": "The clinic's records could not be reached, so nothing was deleted",
}


class NotErased(Exception):
    """The conversation is not (or not certainly) erased: `failed` names the part,
    "assistant" (Rasa's tracker store) or "records" (the clinic's database)."""

    def __init__(self, failed: Literal["assistant", "records"], reason: str) -> None:
        super().__init__(f"{failed}: {reason}")
        self.failed = failed
        self.reason = reason

    @property
    def detail(self) -> str:
        sentence = DETAILS.get((self.failed, self.reason)) or DETAILS[self.failed]
        return f"{sentence}; try again in a minute."


def erase_widget_conversation(
    sessions: sessionmaker, settings: Settings, session_id: str
) -> Erasure:
    """Erase the conversation if the records show the widget started it and no other
    channel continued it. Raises NotErased when a part cannot be erased."""
    with _all_or_nothing(), sessions.begin() as session:
        origin_of = provenance.provenance(
            session,
            session_id,
            tracker_channels=lambda conversation: tracker_events.input_channels(
                conversation, screening_database_url=settings.database_url
            ),
        )
        if origin_of.nothing_stored:
            return "nothing stored"
        if not origin_of.widget_only:
            return "not the widget's"
        privacy.erase_everywhere(
            session,
            privacy.Requester("visitor", where="website widget: "),
            settings.database_url,
            conversation_id=session_id,
        )
    return "deleted"


@contextmanager
def _all_or_nothing() -> Iterator[None]:
    """Turns a failed part into NotErased, naming it (the transaction has rolled back)."""
    try:
        yield
    except tracker_events.TrackerStoreNotErased as error:
        raise _incomplete(error, "assistant", error.reason) from None
    except SQLAlchemyError as error:
        raise _incomplete(error, "records", "unavailable") from None
    except UnreadableRecord as error:
        raise _incomplete(error, "records", "unreadable") from None


def _incomplete(
    error: Exception, failed: Literal["assistant", "records"], reason: str
) -> NotErased:
    logger.error("erase failed: %s (%s, %s)", error.__class__.__name__, failed, reason)
    return NotErased(failed, reason)


def erase_record_conversation(
    sessions: sessionmaker, settings: Settings, kind: str, record_id: int, who: SignedIn
) -> Counter[str]:
    """Erase everything the clinic and the assistant hold about the conversation of one
    record (a screening, contact or handoff request), all or nothing, as `needlecheck
    erase --conversation` does; audited with the staff member and the record's number.
    Returns what went. LookupError for an unknown record; NotErased when a part cannot
    be erased (then nothing was)."""
    with _all_or_nothing(), sessions.begin() as session:
        conversation = queue_store.record(session, kind, record_id).conversation
        return privacy.erase_everywhere(
            session,
            privacy.Requester(
                who.username,
                staff_id=who.staff_id,
                record_type=kind,
                record_id=record_id,
                where="front desk: ",
            ),
            settings.database_url,
            conversation_id=conversation,
        )
