"""Which channels a conversation came in by, from what the servers themselves stored.

The widget's "Delete my conversation" sends only a session ID. Any ID of the right shape
used to be erased: a REST conversation, or a caller screening's `frontdesk-...` ID. The
widget may now erase only a conversation that the records show the widget started: the
screening's channel, the front desk's activity row, and the input channel of every
message in Rasa's tracker store. No Rasa import: the front desk uses this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from needlecheck.store.encryption import conversation_keys
from needlecheck.store.models import (
    ContactRequest,
    ConversationActivity,
    HandoffRequest,
    Screening,
)
from needlecheck.store.tracker_events import events_input_channels

# Rasa's name for the widget's channel, and the name screenings are stored under
# (actions.assessment.CHANNEL_NAMES).
WIDGET_CHANNELS = frozenset({"socketio", "web"})


@dataclass(frozen=True)
class Provenance:
    channels: frozenset[str]
    # Whether the screening database holds any record of the conversation.
    stored: bool

    @property
    def nothing_stored(self) -> bool:
        return not self.channels and not self.stored

    @property
    def widget_only(self) -> bool:
        """Started in the widget, and never continued on another channel. A record with
        no channel at all proves nothing, so it does not count as the widget's."""
        return bool(self.channels) and self.channels <= WIDGET_CHANNELS


def provenance(
    session: Session,
    conversation_id: str,
    tracker_channels: Callable[[str], set[str]] | None = None,
) -> Provenance:
    """What the records say of the conversation; `tracker_channels` reads a tracker store
    outside this database (needlecheck.store.tracker_events.input_channels)."""
    # A phone-shaped ID is stored as a keyed digest (needlecheck.store.encryption).
    keys = conversation_keys(conversation_id)
    channels = set(
        session.execute(
            select(Screening.channel).where(Screening.conversation_id.in_(keys))
        ).scalars()
    )
    activities = [a for a in (session.get(ConversationActivity, k) for k in keys) if a]
    activity = activities[0] if activities else None
    channels |= {a.channel for a in activities if a.channel}
    channels |= events_input_channels(session.connection(), conversation_id)
    if tracker_channels is not None:
        channels |= tracker_channels(conversation_id)
    stored = activity is not None or any(
        session.execute(select(model.id).where(model.conversation_id.in_(keys)).limit(1)).first()
        for model in (Screening, ContactRequest, HandoffRequest)
    )
    return Provenance(frozenset(channels), stored)
