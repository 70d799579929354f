"""Erasure reaches Rasa's own tracker stores: SQL in another database, and Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.core.tracker_store import RedisTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from needlecheck.store import privacy, repository
from needlecheck.store.tracker_events import (
    TrackerStoreNotErased,
    erase_events,
    sql_url,
    tracker_store_config,
)

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).with_name("needlecheck")
REDIS_DB = 6


def save(store, sender: str, text: str) -> None:
    tracker = DialogueStateTracker.from_events(sender, [UserUttered(text)])
    asyncio.run(store.save(tracker))


def stored(store, sender: str):
    return asyncio.run(store.retrieve(sender))


def endpoints(tmp_path: Path, body: str) -> dict[str, str]:
    path = tmp_path / "endpoints.yml"
    path.write_text(body)
    return {"NEEDLECHECK_ENDPOINTS": str(path)}


def test_the_endpoints_file_is_read_as_rasa_reads_it(tmp_path) -> None:
    env = endpoints(
        tmp_path, "tracker_store:\n  type: SQL\n  url: ${TS_URL}\n  port: 5433\n  db: rasa\n"
    )
    env["TS_URL"] = "db.internal"
    config = tracker_store_config(Path(env["NEEDLECHECK_ENDPOINTS"]), env)
    assert config == {"type": "SQL", "url": "db.internal", "port": 5433, "db": "rasa"}
    url = sql_url({**config, "dialect": "postgresql", "username": "rasa"})
    assert url.render_as_string() == "postgresql://rasa@db.internal:5433/rasa"
    assert sql_url({"url": "postgresql://u@h:1/d"}) == make_url("postgresql://u@h:1/d")
    assert tracker_store_config(tmp_path / "missing.yml", env) is None


@pytest.mark.postgres
def test_a_sql_tracker_store_in_another_database_loses_the_conversation(
    tmp_path, postgres_url
) -> None:
    url = make_url(postgres_url)
    store = SQLTrackerStore(
        Domain.empty(), dialect="postgresql", host=url.host, port=url.port, db=url.database,
        username=url.username,
    )  # fmt: skip
    save(store, "gone", "I am Ana")
    save(store, "kept", "I am Ben")
    env = endpoints(
        tmp_path,
        f"tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: {url.host}\n"
        f"  port: {url.port}\n  db: {url.database}\n  username: {url.username}\n",
    )
    screening_db = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    assert erase_events({"gone"}, screening_database_url=screening_db, environ=env) == 1
    assert stored(store, "gone") is None
    assert stored(store, "kept") is not None
    # The same database as the screenings: privacy.erase deleted them already.
    assert erase_events({"kept"}, screening_database_url=postgres_url, environ=env) == 0


def test_a_redis_tracker_store_loses_the_conversation(tmp_path) -> None:
    store = RedisTrackerStore(
        Domain.empty(), host="127.0.0.1", port=6379, db=REDIS_DB, key_prefix="clinic"
    )
    save(store, "gone", "I am Ana")
    save(store, "kept", "I am Ben")
    env = endpoints(
        tmp_path,
        f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: {REDIS_DB}\n"
        "  key_prefix: clinic\n",
    )
    assert erase_events({"gone"}, screening_database_url="sqlite://", environ=env) == 1
    assert stored(store, "gone") is None
    assert stored(store, "kept") is not None
    store.red.flushdb()


def test_an_unknown_store_is_reported_not_skipped(tmp_path) -> None:
    env = endpoints(tmp_path, "tracker_store:\n  type: mongod\n  url: mongodb://x\n")
    with pytest.raises(TrackerStoreNotErased, match="mongod"):
        erase_events({"c"}, screening_database_url="sqlite://", environ=env)


def test_no_tracker_store_and_no_running_server_is_nothing_to_erase(tmp_path) -> None:
    env = {
        **endpoints(tmp_path, "action_endpoint:\n  url: http://127.0.0.1:1/webhook\n"),
        "NEEDLECHECK_RASA_URL": "http://127.0.0.1:9",
    }
    assert erase_events({"c"}, screening_database_url="sqlite://", environ=env) == 0


def test_needlecheck_erase_by_phone_reaches_the_redis_store(tmp_path) -> None:
    from needlecheck.store.database import create_db_engine, session_factory
    from needlecheck.store.migrate import upgrade

    database = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    upgrade(database)
    sessions = session_factory(create_db_engine(database))
    with sessions.begin() as session:
        repository.add_contact_request(
            session,
            conversation_id="+15550001234",
            details=repository.normalise_contact("Ana", "+1 555 000 1234", None, None),
            consent_given=True,
            consent_text_version="v",
        )
    store = RedisTrackerStore(Domain.empty(), host="127.0.0.1", port=6379, db=REDIS_DB)
    save(store, "+15550001234", "hi")
    env = {
        **os.environ,
        **endpoints(
            tmp_path, f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  db: {REDIS_DB}\n"
        ),
        "DATABASE_URL": database,
        "NEEDLECHECK_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [str(BIN), "erase", "--phone", "+1 555 000 1234"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 conversation event(s)" in done.stdout and "1 contact(s)" in done.stdout
    assert stored(store, "+15550001234") is None
    # A store that fails erases nothing, and says so.
    with sessions.begin() as session:
        repository.add_contact_request(
            session,
            conversation_id="c-2",
            details=repository.normalise_contact("Ben", None, "ben@example.org", None),
            consent_given=True,
            consent_text_version="v",
        )
    env.update(endpoints(tmp_path, "tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: 1\n"))
    done = subprocess.run(
        [str(BIN), "erase", "--email", "ben@example.org"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and "nothing was erased" in done.stderr
    with sessions() as session:
        assert privacy.erase(session, email="ben@example.org")["contact"] == 1


def test_the_tracker_store_tells_which_channel_a_conversation_came_by(tmp_path) -> None:
    from needlecheck.store.tracker_events import input_channels

    # Redis: a database of its own, so that no other test's keys interfere.
    store = RedisTrackerStore(
        Domain.empty(), host="127.0.0.1", port=6379, db=REDIS_DB + 5, key_prefix="chan"
    )
    tracker = DialogueStateTracker.from_events(
        "visitor", [UserUttered("hi", input_channel="socketio")]
    )
    asyncio.run(store.save(tracker))
    env = endpoints(
        tmp_path,
        f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: {REDIS_DB + 5}\n"
        "  key_prefix: chan\n",
    )
    try:
        assert input_channels("visitor", screening_database_url="sqlite://", environ=env) == {
            "socketio"
        }
        assert input_channels("nobody", screening_database_url="sqlite://", environ=env) == set()
    finally:
        store.red.flushdb()


def test_the_running_server_tells_which_channel_a_conversation_came_by(tmp_path) -> None:
    import http.server
    import json
    import threading

    from needlecheck.store.tracker_events import input_channels

    asked: list[str] = []

    class Rasa(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps(
                {
                    "sender_id": "c",
                    "events": [
                        {"event": "user", "text": "hi", "input_channel": "rest"},
                        {"event": "bot", "text": "hello"},
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Rasa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **endpoints(tmp_path, "action_endpoint:\n  url: http://127.0.0.1:1/webhook\n"),
        "NEEDLECHECK_RASA_URL": f"http://127.0.0.1:{server.server_port}",
        "NEEDLECHECK_API_TOKEN": "a-token",
    }
    try:
        assert input_channels("c/1", screening_database_url="sqlite://", environ=env) == {"rest"}
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/conversations/c%2F1/tracker?include_events=ALL&token=a-token"]
    # Not running: an in-memory store holds nothing.
    env["NEEDLECHECK_RASA_URL"] = "http://127.0.0.1:9"
    assert input_channels("c", screening_database_url="sqlite://", environ=env) == set()


def test_a_running_server_that_does_not_answer_in_time_is_not_nothing_to_erase(
    tmp_path, monkeypatch
) -> None:
    """A timeout used to count as "not running" (nothing to erase): the erasure went on
    and reported the conversation deleted while the server still held it."""
    import needlecheck.store.tracker_events as tracker_events
    from needlecheck.store.tracker_events import input_channels
    from tests.frontdesk.stand_in import fake_rasa

    monkeypatch.setattr(tracker_events, "RASA_TIMEOUT", 0.5)
    with fake_rasa() as rasa:
        env = {
            **endpoints(tmp_path, "action_endpoint:\n  url: http://127.0.0.1:1/webhook\n"),
            "NEEDLECHECK_RASA_URL": rasa.url,
            "NEEDLECHECK_VAR_DIR": str(tmp_path),
        }
        rasa.delay.update(GET=2.0, PUT=2.0)
        with pytest.raises(TrackerStoreNotErased, match="did not answer") as slow:
            erase_events({"c"}, screening_database_url="sqlite://", environ=env)
        assert slow.value.reason == "timeout"
        with pytest.raises(TrackerStoreNotErased, match="did not answer") as slow:
            input_channels("c", screening_database_url="sqlite://", environ=env)
        assert slow.value.reason == "timeout"
        rasa.delay.update(GET=0.0, PUT=0.0)
        rasa.status.update(GET=500, PUT=500)
        with pytest.raises(TrackerStoreNotErased, match="HTTP 500") as refused:
            erase_events({"c"}, screening_database_url="sqlite://", environ=env)
        assert refused.value.reason == "refused"
        rasa.status.update(PUT=200)
        assert erase_events({"c"}, screening_database_url="sqlite://", environ=env) == 1
