"""A stand-in for the Rasa server's HTTP API, and the front desk in this process beside it.

The stand-in is a real HTTP server in a thread. It answers the calls the front desk makes:
a conversation's tracker (read), its events (replaced: the widget's erasure), and the
caller channel's webhook. Each after a delay a test chooses, or with an error status.

The front desk runs under uvicorn in a thread, as `needlecheck frontdesk` runs it, so that
its event loop and thread pool are the real ones; unlike the `frontdesk` fixture's own
process, a test can change its environment (monkeypatch) while it runs.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from needlecheck.config import Settings
from needlecheck.frontdesk.app import create_app
from needlecheck.store import tracker_events
from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from needlecheck.store.models import Screening
from tests.frontdesk.conftest import free_port
from tests.frontdesk.support import add_accounts

# How long the front desk waits for the stand-in (10 s in production).
TIMEOUT = 1.0


@dataclass
class FakeRasa:
    """What the stand-in does, per HTTP method: a delay in seconds and a status."""

    delay: dict[str, float] = field(default_factory=lambda: {"GET": 0.0, "PUT": 0.0, "POST": 0.0})
    status: dict[str, int] = field(default_factory=lambda: {"GET": 200, "PUT": 200, "POST": 200})
    # The channel the conversation's messages came in by, as its tracker shows them.
    channel: str = "socketio"
    # The caller channel's answer.
    replies: list[Any] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    asked: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str) -> Any:
        if method == "POST":
            return self.replies
        return {"events": [{"event": "user", "text": "hi", "input_channel": self.channel}]}


@contextmanager
def fake_rasa() -> Iterator[FakeRasa]:
    rasa = FakeRasa()

    class Handler(http.server.BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            rasa.asked.append(f"{self.command} {self.path.split('?')[0]}")
            rasa.arrived.set()
            rasa.release.wait(rasa.delay[self.command])
            status = rasa.status[self.command]
            body = json.dumps(rasa.answer(self.command) if status == 200 else {"error": "no"})
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the front desk stopped waiting

        do_GET = do_PUT = do_POST = handle_any

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rasa.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield rasa
    finally:
        rasa.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Desk:
    url: str
    sessions: sessionmaker
    rasa: FakeRasa

    def erase(self, session_id: str, timeout: float = 20) -> httpx.Response:
        return httpx.post(
            f"{self.url}/widget/erase",
            json={"session_id": session_id},
            headers={"Origin": self.url},
            timeout=timeout,
        )

    def kept(self, conversation: str) -> int:
        """How many screenings of the conversation are stored."""
        with self.sessions.begin() as session:
            return len(
                session.execute(
                    select(Screening.id).where(Screening.conversation_id == conversation)
                ).all()
            )


@contextmanager
def running_desk(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    database = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    upgrade(database)
    engine = create_db_engine(database)
    sessions = session_factory(engine)
    add_accounts(sessions)
    # No tracker store configured: the erasure goes to the running server's API.
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("action_endpoint:\n  url: http://127.0.0.1:1/webhook\n")
    port = free_port()
    with fake_rasa() as rasa:
        for name, value in {
            "DATABASE_URL": database,
            "NEEDLECHECK_VAR_DIR": str(tmp_path),
            "NEEDLECHECK_ENDPOINTS": str(endpoints),
            "NEEDLECHECK_RASA_URL": rasa.url,
            "NEEDLECHECK_FRONTDESK_PORT": str(port),
            # The widget's chat server: nothing listens there (erasure does not use it).
            "NEEDLECHECK_PUBLIC_URL": "http://127.0.0.1:9",
            "NEEDLECHECK_ADDRESS_RATE": "0/60",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("NEEDLECHECK_API_TOKEN", raising=False)
        monkeypatch.setattr(tracker_events, "RASA_TIMEOUT", TIMEOUT)
        app = create_app(sessions, Settings.from_environment())
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the front desk did not start"
            time.sleep(0.05)
        try:
            yield Desk(f"http://127.0.0.1:{port}", sessions, rasa)
        finally:
            rasa.release.set()
            server.should_exit = True
            thread.join(timeout=20)
            engine.dispose()
