from __future__ import annotations

from datetime import timedelta

from needlecheck.channels import ledger
from needlecheck.store.database import create_db_engine, session_factory
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
        ledger.opt_in(session, "twilio", "+15550001234")
    with sessions.begin() as session:
        assert not ledger.opted_out(session, "twilio", "+15550001234")
    engine.dispose()
