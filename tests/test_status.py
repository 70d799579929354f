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
