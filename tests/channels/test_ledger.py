from __future__ import annotations

import hashlib
from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import text

from needlecheck.channels import ledger
from needlecheck.store import encryption
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.encryption import rotate_all
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import ChannelMessage, ChannelOptOut, utcnow


def test_a_message_id_is_claimed_once_and_forgotten_later(database_url) -> None:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        assert ledger.claim(session, "twilio", "SM1") is True
        assert ledger.claim(session, "twilio", "SM1") is False
        assert ledger.claim(session, "telegram", "SM1") is True
    with sessions.begin() as session:
        assert ledger.forget_messages(session, utcnow() - timedelta(days=1)) == 0
        assert ledger.forget_messages(session, utcnow() + timedelta(seconds=1)) == 2
        assert session.query(ChannelMessage).count() == 0
    engine.dispose()


def test_opt_outs_are_kept_as_digests(database_url) -> None:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ledger.opt_out(session, "twilio", "+15550001234")
        ledger.opt_out(session, "twilio", "+15550001234")
    with sessions.begin() as session:
        assert ledger.opted_out(session, "twilio", "+15550001234")
        assert not ledger.opted_out(session, "twilio", "+15550009999")
        stored = [row.address_digest for row in session.query(ChannelOptOut)]
        assert stored == [ledger.digest("+15550001234")] and "5550001234" not in stored[0]
        # Keyed: the plain SHA-256 of a guessed number does not match it.
        assert stored[0].startswith("hmac:")
        assert hashlib.sha256(b"+15550001234").hexdigest() not in stored
        ledger.opt_in(session, "twilio", "+15550001234")
    with sessions.begin() as session:
        assert not ledger.opted_out(session, "twilio", "+15550001234")
    engine.dispose()


def test_an_opt_out_stays_across_a_key_rotation_and_an_older_one_is_still_found(
    database_url,
) -> None:
    from tests.conftest import TEST_DATA_KEY

    upgrade(database_url)
    engine = create_db_engine(database_url)
    sessions = session_factory(engine)
    old, new = TEST_DATA_KEY.encode(), Fernet.generate_key()
    try:
        encryption.use_keys([old])
        with sessions.begin() as session:
            ledger.opt_out(session, "twilio", "+15550002222")
            # A row from before migration 0009: the plain SHA-256, no encrypted copy.
            session.execute(
                text(
                    "INSERT INTO channel_opt_outs (channel, address_digest, opted_out_at) "
                    "VALUES ('twilio', :d, CURRENT_TIMESTAMP)"
                ),
                {"d": hashlib.sha256(b"+15550003333").hexdigest()},
            )
        encryption.use_keys([new, old])
        with sessions.begin() as session:
            rotate_all(session)
        encryption.use_keys([new])
        with sessions.begin() as session:
            assert ledger.opted_out(session, "twilio", "+15550002222")
            assert ledger.opted_out(session, "twilio", "+15550003333")
            raw = session.execute(text("SELECT encrypted_address FROM channel_opt_outs")).all()
            assert not any("5550002222" in str(row[0]) for row in raw)
            ledger.opt_in(session, "twilio", "+15550003333")
            assert not ledger.opted_out(session, "twilio", "+15550003333")
    finally:
        encryption.use_keys(None)
        engine.dispose()
