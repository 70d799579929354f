"""`needlecheck status` checks that Rasa's HTTP API takes `make run`'s token and no less."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from needlecheck.config import Settings, api_token, kept_api_token
from needlecheck.production.status import _api


@contextmanager
def rasa_api(token: str | None) -> Iterator[str]:
    """A stand-in for Rasa's /status: 401 without `token` (when one is set)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            given = self.path.partition("token=")[2]
            code = 200 if token is None or given == token else 401
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'{"model_file": "m"}')

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_status_reads_make_runs_token_and_reports_an_open_api(tmp_path) -> None:
    token = api_token(tmp_path, {})
    settings = Settings.from_environment({"NEEDLECHECK_VAR_DIR": str(tmp_path)})
    assert kept_api_token(settings) == token
    with rasa_api(token) as base:
        assert _api(base, kept_api_token(settings)).ok
        wrong = _api(base, "not-the-token")
        assert not wrong.ok and "401" in wrong.detail
    with rasa_api(None) as base:
        open_api = _api(base, token)
        assert not open_api.ok and "OPEN" in open_api.detail


def test_status_says_when_staff_alerts_are_not_going_out(tmp_path) -> None:
    from datetime import datetime, timedelta, timezone

    from needlecheck.production.status import _alerts
    from needlecheck.store.database import create_db_engine, session_factory
    from needlecheck.store.migrate import upgrade
    from needlecheck.store.models import StaffAlert

    url = f"sqlite:///{tmp_path / 'needlecheck.db'}"
    assert not _alerts(url).ok  # not migrated: said, not taken for "no alerts"
    upgrade(url)
    healthy = _alerts(url)
    assert healthy.ok and healthy.detail == "0 delivery(ies) due, 0 failed in the last day"
    sessions = session_factory(create_db_engine(url))
    with sessions.begin() as session:
        session.add(
            StaffAlert(
                kind="urgent",
                record_type="screening",
                record_id=1,
                created_at=datetime.now(timezone.utc) - timedelta(minutes=30),
            )
        )
    behind = _alerts(url)
    assert not behind.ok and behind.detail.startswith("BEHIND: 1 alert(s) not queued")
