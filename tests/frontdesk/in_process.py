"""The front desk in this process through FastAPI's TestClient: no server, no port.

For tests of pages and routes that need no running assistant (the erasure's tracker store
is a SQLite file of Rasa's `events` table, or a stand-in raising what a store raises)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from needlecheck.config import Settings
from needlecheck.frontdesk.app import create_app
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from tests.frontdesk.conftest import csrf_from
from tests.frontdesk.support import PASSWORDS, add_accounts


@dataclass
class Desk:
    sessions: sessionmaker
    settings: Settings
    tracker_db: Path
    folder: Path

    @contextmanager
    def client(self, user: str | None = None) -> Iterator[TestClient]:
        app = create_app(self.sessions, self.settings)
        with TestClient(app, base_url="http://localhost") as client:
            if user is not None:
                form = client.get("/login")
                answer = client.post(
                    "/login",
                    data={
                        "username": user,
                        "password": PASSWORDS[user],
                        "csrf_token": csrf_from(form.text),
                    },
                    follow_redirects=False,
                )
                assert answer.status_code == 303, answer.text
            yield client

    def tracker_events(self, sender: str) -> int:
        engine = create_engine(f"sqlite:///{self.tracker_db}")
        with engine.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
            ).scalar()
        engine.dispose()
        return int(count)

    def add_tracker_events(self, sender: str, n: int = 2) -> None:
        engine = create_engine(f"sqlite:///{self.tracker_db}")
        with engine.begin() as connection:
            for i in range(n):
                connection.execute(
                    text(
                        "INSERT INTO events (sender_id, type_name, timestamp, data)"
                        " VALUES (:s, 'user', :t, '{}')"
                    ),
                    {"s": sender, "t": 1_700_000_000 + i},
                )
        engine.dispose()


@contextmanager
def desk_in_process(tmp_path: Path, monkeypatch, timezone: str | None = None) -> Iterator[Desk]:
    database = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    upgrade(database)
    engine = create_db_engine(database)
    sessions = session_factory(engine)
    add_accounts(sessions)
    # Rasa's SQL tracker store, in a database of its own.
    tracker_db = tmp_path / "tracker.db"
    tracker = create_engine(f"sqlite:///{tracker_db}")
    with tracker.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT,"
                " timestamp REAL, intent_name TEXT, action_name TEXT, data TEXT)"
            )
        )
    tracker.dispose()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  url: sqlite:///{tracker_db}\n")
    env = {
        "DATABASE_URL": database,
        "NEEDLECHECK_VAR_DIR": str(tmp_path),
        "NEEDLECHECK_ENDPOINTS": str(endpoints),
        "NEEDLECHECK_ADDRESS_RATE": "0/60",
    }
    if timezone:
        env["NEEDLECHECK_TIMEZONE"] = timezone
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NEEDLECHECK_FRONTDESK_HOSTS", raising=False)
    if not timezone:
        monkeypatch.delenv("NEEDLECHECK_TIMEZONE", raising=False)
    try:
        yield Desk(sessions, Settings.from_environment(), tracker_db, tmp_path)
    finally:
        engine.dispose()
