"""Contact details and the person's words encrypted at rest, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from datetime import date

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text

from needlecheck.screening import assess
from needlecheck.store import encryption, privacy, queue, repository
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
