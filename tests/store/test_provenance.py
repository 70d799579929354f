"""Which channel a conversation came by, read from the records (the widget's erasure
trusts nothing else), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import text

from needlecheck.store import activity
from needlecheck.store.encryption import keyring
from needlecheck.store.provenance import provenance
from tests.frontdesk.support import add_contact, add_screening


def events_table(sessions) -> None:
    """Rasa's `events` table as the screening database holds it in production; a test
    of the tracker stores may have left one of its own in the shared PostgreSQL."""
    with sessions.begin() as session:
        session.execute(text("DROP TABLE IF EXISTS events"))
        session.execute(
            text(
                "CREATE TABLE events "
                "(id INTEGER PRIMARY KEY, sender_id VARCHAR(255), timestamp FLOAT, data TEXT)"
            )
        )


def add_events(sessions, sender: str, *events: dict, encrypted: bool = True) -> None:
    with sessions.begin() as session:
        first = session.execute(text("SELECT COUNT(*) FROM events")).scalar_one() + 1
        for number, event in enumerate(events, start=first):
            data = json.dumps(event)
            session.execute(
                text(
                    "INSERT INTO events (id, sender_id, timestamp, data) VALUES (:i, :s, 1.0, :d)"
                ),
                {"i": number, "s": sender, "d": keyring().encrypt(data) if encrypted else data},
            )


def test_every_record_names_its_channel_and_nothing_else_counts(sessions) -> None:
    add_screening(sessions, "by-widget", "eligible", channel="web")
    add_screening(sessions, "by-rest", "eligible", channel="rest")
    add_contact(sessions, "contact-only", "Ana Diaz", "+44 20 7946 0001", "ana@example.org")
    with sessions.begin() as session:
        now = datetime.now(timezone.utc).timestamp()
        activity.record_event(
            session,
            {"sender_id": "live", "event": "user", "timestamp": now, "input_channel": "socketio"},
        )
    # Rasa's events in the same database: encrypted (production), or plain JSON.
    events_table(sessions)
    add_events(
        sessions,
        "events-widget",
        {"event": "user", "text": "hi", "input_channel": "socketio"},
        {"event": "bot", "text": "hello"},
    )
    add_events(
        sessions,
        "events-mixed",
        {"event": "user", "text": "hi", "input_channel": "socketio"},
        {"event": "user", "text": "hi", "input_channel": "rest"},
        encrypted=False,
    )
    with sessions.begin() as session:
        found = {
            name: provenance(session, name)
            for name in (
                "by-widget",
                "by-rest",
                "contact-only",
                "live",
                "events-widget",
                "events-mixed",
                "unknown",
            )
        }
        outside = provenance(session, "by-widget", tracker_channels=lambda _: {"frontdesk"})
    assert {name: sorted(p.channels) for name, p in found.items()} == {
        "by-widget": ["web"],
        "by-rest": ["rest"],
        "contact-only": [],
        "live": ["socketio"],
        "events-widget": ["socketio"],
        "events-mixed": ["rest", "socketio"],
        "unknown": [],
    }
    assert [name for name, p in found.items() if p.widget_only] == [
        "by-widget",
        "live",
        "events-widget",
    ]
    # A contact request alone names no channel: stored, but not provably the widget's.
    assert found["contact-only"].stored and not found["contact-only"].widget_only
    assert found["unknown"].nothing_stored
    # A tracker store elsewhere that saw another channel outweighs the widget's screening.
    assert not outside.widget_only


def test_a_phone_shaped_conversation_is_found_under_its_stored_digest(sessions) -> None:
    # SMS and WhatsApp senders are stored as keyed digests: the widget's erasure must still
    # see that the conversation came by SMS, and refuse it.
    add_screening(sessions, "+447700900777", "eligible", channel="sms")
    with sessions.begin() as session:
        found = provenance(session, "+447700900777")
    assert found.channels == frozenset({"sms"})
    assert found.stored and not found.widget_only
