"""Contact details and the person's words encrypted at rest, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, datetime, timezone

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text

from needlecheck.screening import assess
from needlecheck.store import activity, encryption, privacy, queue, repository
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.encryption import DataKeyError, UnreadableRecord, load_keys, rotate_all
from needlecheck.store.migrate import alembic_config, upgrade
from tests.conftest import TEST_DATA_KEY

NAME, PHONE, EMAIL = "Philippa Thistlewood", "+44 20 7946 0555", "philippa.t@example.org"
WORDS = "my grandmother's damson jam"


@pytest.fixture(autouse=True)
def own_keys():
    yield
    encryption.use_keys(None)


def add_person(sessions, conversation: str = "c-enc") -> int:
    with sessions.begin() as session:
        screening = repository.save_screening(
            session,
            conversation_id=conversation,
            channel="rest",
            assessment=assess({"age": 30}, date(2026, 12, 1)),
            consent_text_version="sha256:test",
            evidence={"age": [WORDS]},
            transcript=[{"who": "person", "text": WORDS}],
        )
        details = repository.normalise_contact(NAME, PHONE, EMAIL, "after six")
        repository.add_contact_request(
            session,
            conversation_id=conversation,
            details=details,
            consent_given=True,
            consent_text_version="sha256:contact",
            screening_id=screening.id,
        )
        return screening.id


def raw_rows(sessions) -> str:
    with sessions() as session:
        rows = [
            *session.execute(
                text("SELECT name, phone, email, preferred_time FROM contact_requests")
            ),
            *session.execute(text("SELECT evidence, transcript FROM screenings")),
        ]
    return "\n".join(str(value) for row in rows for value in row)


def test_a_stolen_database_shows_no_contact_details_or_words(sessions) -> None:
    add_person(sessions)
    stored = raw_rows(sessions)
    for plain in ("Philippa", "Thistlewood", "7946", "example.org", "after six", "damson"):
        assert plain not in stored
    assert stored.count("gAAAA") == 6  # a Fernet token per value
    with sessions() as session:
        contact = queue.related(session, "c-enc")["contacts"][0]
        assert (contact.name, contact.phone, contact.email) == (NAME, "+442079460555", EMAIL)
        assert contact.preferred_time == "after six"
        screening = repository.latest_screening(session, "c-enc")
        assert screening.evidence == {"age": [WORDS]}
        assert screening.transcript == [{"who": "person", "text": WORDS}]


def test_screening_notes_and_a_handoffs_transcript_are_encrypted_at_rest(sessions) -> None:
    notes = {"medications": ["Philippa's damson tonic"]}
    lines = [
        {"at": "2026-12-01T10:00:00+00:00", "speaker": "assistant", "text": "How old are you?"},
        {"at": "2026-12-01T10:00:09+00:00", "speaker": "person", "text": WORDS},
    ]
    with sessions.begin() as session:
        screening = repository.save_screening(
            session,
            conversation_id="c-notes",
            channel="rest",
            assessment=assess({"age": 30}, date(2026, 12, 1)),
            consent_text_version="sha256:test",
            notes=notes,
        )
        repository.add_handoff_request(
            session,
            conversation_id="c-notes",
            reason="needs a person: 3 answers to the age question were unclear",
            screening_id=screening.id,
            transcript=lines,
        )
    with sessions() as session:
        stored = [
            *session.execute(text("SELECT notes FROM screenings")).scalars(),
            *session.execute(text("SELECT transcript FROM handoff_requests")).scalars(),
        ]
    assert all(value.startswith("gAAAA") for value in stored)
    assert "damson" not in "".join(stored) and "How old" not in "".join(stored)
    with sessions() as session:
        assert repository.latest_screening(session, "c-notes").notes == notes
        (handoff,) = queue.related(session, "c-notes")["handoffs"]
        assert handoff.transcript == lines
    # Both are re-encrypted when the keys rotate.
    new = Fernet.generate_key()
    encryption.use_keys([new, TEST_DATA_KEY.encode()])
    with sessions.begin() as session:
        assert rotate_all(session) == 4  # notes, transcript, facts, reason
    encryption.use_keys([new])
    with sessions() as session:
        assert repository.latest_screening(session, "c-notes").notes == notes
        assert queue.related(session, "c-notes")["handoffs"][0].transcript == lines
    # Empty notes and no transcript are stored as nothing, not as encrypted emptiness.
    with sessions.begin() as session:
        repository.add_handoff_request(session, conversation_id="c-plain", reason="a person")
        bare = repository.save_screening(
            session,
            conversation_id="c-plain",
            channel="rest",
            assessment=assess({"age": 30}, date(2026, 12, 1)),
            consent_text_version="sha256:test",
            notes={},
        )
        assert bare.notes is None
    with sessions() as session:
        rows = session.execute(
            text("SELECT transcript FROM handoff_requests WHERE conversation_id = 'c-plain'")
        ).scalars()
        assert list(rows) == [None]


def test_search_and_erasure_find_encrypted_details(sessions) -> None:
    add_person(sessions)
    add_person(sessions, "c-other")
    with sessions() as session:
        found = {item.conversation_id for item in queue.queue(session, search="thistle")}
        assert found == {"c-enc", "c-other"}
        assert {i.conversation_id for i in queue.queue(session, search="7946 055")} == found
        assert queue.queue(session, search="nobody") == []
    with sessions.begin() as session:
        deleted = privacy.erase(session, phone="020 7946 0555")
    assert deleted["contact"] == 2 and deleted["screening"] == 2


def test_a_missing_key_is_a_clear_error_not_garbage(sessions) -> None:
    add_person(sessions)
    encryption.use_keys([Fernet.generate_key()])
    with sessions() as session, pytest.raises(UnreadableRecord, match="NEEDLECHECK_DATA_KEYS"):
        queue.related(session, "c-enc")


def test_keys_rotate_to_the_newest(sessions) -> None:
    old, new = TEST_DATA_KEY.encode(), Fernet.generate_key()
    encryption.use_keys([old])
    add_person(sessions)
    with sessions.begin() as session:
        # Rasa's conversation events in the same database: one plain, one encrypted.
        session.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)"))
        session.execute(text('INSERT INTO events (id, data) VALUES (1, \'{"event": "user"}\')'))
        session.execute(
            text("INSERT INTO events (id, data) VALUES (2, :d)"),
            {"d": encryption.keyring().encrypt('{"event": "bot"}')},
        )
    encryption.use_keys([new, old])
    with sessions.begin() as session:
        assert rotate_all(session) == 9
    encryption.use_keys([new])
    with sessions() as session:
        assert queue.related(session, "c-enc")["contacts"][0].name == NAME
        events = session.execute(text("SELECT data FROM events ORDER BY id")).scalars().all()
    ring = encryption.keyring()
    assert [ring.decrypt(data) for data in events] == ['{"event": "user"}', '{"event": "bot"}']


def test_the_migration_encrypts_what_was_stored_before_and_decrypts_on_the_way_back(
    database_url,
) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0005")
    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contact_requests (conversation_id, name, phone, email, "
                "consent_given, consent_at, consent_text_version, status, created_at, "
                "updated_at) VALUES ('c-old', :name, '+442079460555', NULL, true, "
                "CURRENT_TIMESTAMP, 'v', 'new', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"name": NAME},
        )
    upgrade(database_url)
    sessions = session_factory(engine)
    assert NAME not in raw_rows(sessions)
    with sessions() as session:
        assert queue.related(session, "c-old")["contacts"][0].name == NAME
    command.downgrade(config, "0005")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM contact_requests")).scalar() == NAME
    engine.dispose()


def test_keys_come_from_the_environment_or_development_s_var(tmp_path) -> None:
    key = Fernet.generate_key().decode()
    assert load_keys(tmp_path, {"NEEDLECHECK_DATA_KEYS": f"{key}, {TEST_DATA_KEY}"}) == [
        key.encode(),
        TEST_DATA_KEY.encode(),
    ]
    generated = load_keys(tmp_path, {})
    assert load_keys(tmp_path, {}) == generated
    path = tmp_path / "data.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(DataKeyError, match="production"):
        load_keys(tmp_path, {"NEEDLECHECK_PROFILE": "production"})
    with pytest.raises(DataKeyError, match="key 2 is not a Fernet key"):
        load_keys(tmp_path, {"NEEDLECHECK_DATA_KEYS": f"{key},not-a-key"})


# Issue 19, item 6: the rest of the person's words, and phone numbers used as
# conversation IDs by SMS and WhatsApp.
SMS_SENDER = "whatsapp:+447700900123"
REASON = "call me on 07700 900777 about my herpes outbreak"


def add_phone_conversation(sessions, conversation: str = SMS_SENDER, key: str = "k") -> int:
    with sessions.begin() as session:
        screening = repository.save_screening(
            session,
            conversation_id=conversation,
            channel="whatsapp",
            assessment=assess({"age": 30, "medications": ["anticoagulant"]}, date(2026, 12, 1)),
            consent_text_version="sha256:test",
            idempotency_key=f"{conversation}@1.5#0",
        )
        repository.add_handoff_request(
            session, conversation_id=conversation, reason=REASON, screening_id=screening.id
        )
        repository.add_contact_request(
            session,
            conversation_id=conversation,
            details=repository.normalise_contact(NAME, PHONE, None, None),
            consent_given=True,
            consent_text_version="sha256:contact",
            screening_id=screening.id,
        )
        activity.record_event(
            session,
            {"sender_id": conversation, "event": "user", "timestamp": 1.0e9, "input_channel": key},
        )
        return screening.id


def retry_screening(sessions) -> int:
    """The screening stored again, as a retried write does: the row stored first."""
    with sessions.begin() as session:
        return repository.save_screening(
            session,
            conversation_id=SMS_SENDER,
            channel="whatsapp",
            assessment=assess({"age": 30}, date(2026, 12, 1)),
            consent_text_version="sha256:test",
            idempotency_key=f"{SMS_SENDER}@1.5#0",
        ).id


def every_stored_value(sessions) -> str:
    """What a stolen copy of the screening database shows: every column of every row."""
    tables = ("screenings", "contact_requests", "handoff_requests", "conversation_activity")
    with sessions() as session:
        return "\n".join(
            str(value)
            for table in tables
            for row in session.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )


def test_facts_reasons_and_phone_shaped_conversation_ids_are_not_stored_in_the_clear(
    sessions,
) -> None:
    screening_id = add_phone_conversation(sessions)
    stored = every_stored_value(sessions)
    for plain in ("7700900123", "447700900123", "herpes", "07700 900777", "anticoagulant"):
        assert plain not in stored
    with sessions() as session:
        facts, reason = session.execute(
            text("SELECT s.facts, h.reason FROM screenings s JOIN handoff_requests h ON 1 = 1")
        ).one()
        assert facts.startswith("gAAAA") and reason.startswith("gAAAA")
        keys = set(session.execute(text("SELECT conversation_id FROM contact_requests")).scalars())
        assert len(keys) == 1 and keys.pop().startswith("hmac:")
    # The application reads all of it, and finds the conversation by the ID the channel
    # gives (the messaging DELETE keyword, the front desk's related records).
    with sessions() as session:
        screening = repository.latest_screening(session, SMS_SENDER)
        assert screening.id == screening_id
        assert screening.facts["medications"] == ["anticoagulant"]
        assert screening.conversation == SMS_SENDER
        found = queue.related(session, SMS_SENDER)
        assert [h.reason for h in found["handoffs"]] == [REASON]
        assert len(found["contacts"]) == 1 and len(found["screenings"]) == 1
        # What staff read: the queue shows the number, not its digest.
        items = queue.queue(session)
        assert {item.conversation_id for item in items} == {SMS_SENDER}
        assert REASON in {item.summary for item in items}
        assert [
            a.conversation_id
            for a in activity.in_progress(session, datetime(2001, 9, 9, 2, tzinfo=timezone.utc))
        ] == [SMS_SENDER]
    # A retried write of the same screening finds the row by its digested key.
    assert retry_screening(sessions) == screening_id
    with sessions.begin() as session:
        assert len(session.execute(text("SELECT id FROM screenings")).all()) == 1
        # The same number as another conversation shape is another conversation.
        assert repository.latest_screening(session, "+447700900123") is None


def test_erasure_finds_phone_shaped_conversations_and_names_them_to_the_tracker_store(
    sessions,
) -> None:
    add_phone_conversation(sessions)
    add_phone_conversation(sessions, "+447700900999")
    erased: list[set[str]] = []
    with sessions.begin() as session:
        deleted = privacy.erase(
            session,
            conversation_id=SMS_SENDER,
            tracker_events=lambda conversations: erased.append(set(conversations)) or 0,
        )
    assert (deleted["screening"], deleted["handoff"], deleted["contact"]) == (1, 1, 1)
    assert deleted["conversation activity"] == 1
    with sessions.begin() as session:
        # By phone: Rasa's tracker store is told the conversation as the channel named it.
        deleted = privacy.erase(
            session,
            phone="020 7946 0555",
            tracker_events=lambda conversations: erased.append(set(conversations)) or 0,
        )
    assert deleted["screening"] == 1 and deleted["conversation activity"] == 1
    assert erased == [{SMS_SENDER}, {"+447700900999"}]
    assert every_stored_value(sessions) == ""


def test_phone_shaped_conversations_are_found_across_a_key_rotation(sessions) -> None:
    old, new = TEST_DATA_KEY.encode(), Fernet.generate_key()
    encryption.use_keys([old])
    screening_id = add_phone_conversation(sessions)
    before = every_stored_value(sessions)
    # The new key first: rows digested with the old key are still found.
    encryption.use_keys([new, old])
    with sessions() as session:
        assert repository.latest_screening(session, SMS_SENDER).id == screening_id
    assert retry_screening(sessions) == screening_id
    with sessions.begin() as session:
        rotate_all(session)
    # The old key dropped: lookups use digests made with the new key only.
    encryption.use_keys([new])
    with sessions() as session:
        assert repository.latest_screening(session, SMS_SENDER).id == screening_id
        assert len(queue.related(session, SMS_SENDER)["handoffs"]) == 1
        assert queue.related(session, SMS_SENDER)["handoffs"][0].reason == REASON
    with sessions.begin() as session:
        activity.record_event(
            session, {"sender_id": SMS_SENDER, "event": "user", "timestamp": 1.0e9 + 5}
        )
    with sessions() as session:
        rows = session.execute(text("SELECT messages FROM conversation_activity")).scalars()
        assert list(rows) == [2]  # the rotated row, not a second one
    after = every_stored_value(sessions)
    digest = encryption.keyring().digest(SMS_SENDER)
    assert digest in after and digest not in before
    with sessions.begin() as session:
        deleted = privacy.erase(session, conversation_id=SMS_SENDER)
    assert deleted["screening"] == 1 and deleted["conversation activity"] == 1


def test_0008_encrypts_facts_reasons_and_phone_ids_stored_before_and_undoes_it(
    database_url,
) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0007")
    engine = create_db_engine(database_url)
    facts = '{"age": 30, "medications": ["anticoagulant"]}'
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO screenings (id, conversation_id, channel, facts, missing, "
                "policy_name, policy_version, assessed_on, status, idempotency_key, "
                "created_at, updated_at) VALUES (1, :c, 'whatsapp', :facts, '[]', 'p', '1', "
                "'2026-12-01', 'new', :key, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"c": SMS_SENDER, "facts": facts, "key": f"{SMS_SENDER}@1.5#0"},
        )
        for conversation in (SMS_SENDER, "widget-abcdefghijklmnopqrstuv"):
            connection.execute(
                text(
                    "INSERT INTO handoff_requests (conversation_id, reason, status, "
                    "created_at, updated_at) VALUES (:c, :reason, 'open', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"c": conversation, "reason": REASON},
            )
        connection.execute(
            text(
                "INSERT INTO conversation_activity (conversation_id, started_at, "
                "last_event_at, messages) VALUES (:c, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 3)"
            ),
            {"c": "+447700900123"},
        )
    upgrade(database_url)
    sessions = session_factory(engine)
    stored = every_stored_value(sessions)
    for plain in ("7700900123", "herpes", "anticoagulant"):
        assert plain not in stored
    assert "widget-abcdefghijklmnopqrstuv" in stored  # not phone-shaped: kept as it is
    with sessions() as session:
        screening = repository.latest_screening(session, SMS_SENDER)
        assert screening.facts == {"age": 30, "medications": ["anticoagulant"]}
        assert [h.reason for h in queue.related(session, SMS_SENDER)["handoffs"]] == [REASON]
    # The idempotency key, digested, still recognises a retried write.
    assert retry_screening(sessions) == 1
    command.downgrade(config, "0007")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT conversation_id, facts FROM screenings")).one()
        reasons = connection.execute(
            text("SELECT conversation_id, reason FROM handoff_requests ORDER BY id")
        ).all()
        active = connection.execute(text("SELECT conversation_id FROM conversation_activity"))
        active = active.scalars().all()
    assert row[0] == SMS_SENDER
    assert (json.loads(row[1]) if isinstance(row[1], str) else row[1]) == json.loads(facts)
    assert [tuple(r) for r in reasons] == [
        (SMS_SENDER, REASON),
        ("widget-abcdefghijklmnopqrstuv", REASON),
    ]
    assert active == ["+447700900123"]
    engine.dispose()


def test_rasas_events_follow_their_phone_shaped_sender_across_a_key_rotation(sessions) -> None:
    old, new = TEST_DATA_KEY.encode(), Fernet.generate_key()
    encryption.use_keys([old])
    add_phone_conversation(sessions)
    with sessions.begin() as session:
        # The production tracker store in the same database: one row from before the
        # digests (the number itself), one under the old key's digest.
        session.execute(
            text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, data TEXT)")
        )
        for number, sender in enumerate((SMS_SENDER, encryption.keyring().digest(SMS_SENDER))):
            session.execute(
                text("INSERT INTO events (id, sender_id, data) VALUES (:i, :s, '{}')"),
                {"i": number + 1, "s": sender},
            )
    encryption.use_keys([new, old])
    with sessions.begin() as session:
        rotate_all(session)
    encryption.use_keys([new])
    with sessions() as session:
        senders = session.execute(text("SELECT sender_id FROM events")).scalars().all()
    assert senders == [encryption.keyring().digest(SMS_SENDER)] * 2
    with sessions.begin() as session:
        deleted = privacy.erase(session, conversation_id=SMS_SENDER)
    assert deleted["conversation event"] == 2
