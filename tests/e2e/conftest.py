"""The assistant as `make run` starts it, shared by the end-to-end modules: real Rasa
server, action server and front desk, every messaging channel switched on and pointed at
a local fake of the providers' APIs (tests/e2e/providers.py).

Needs the trained model in models/ (`make model`, which `make test` runs first).
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from needlecheck.config import generated_secret
from tests.e2e.providers import Provider, channel_environment, serve

ROOT = Path(__file__).parents[2]
MODEL = ROOT / "models" / "needlecheck.tar.gz"
BIN = Path(sys.executable).with_name("needlecheck")
PORT = 5095
FRONTDESK_PORT = 8095
TOKEN = "e2e-secret-token"
ADDRESS_BUDGET = 3000
SENDER_BUDGET = 60


BOOKING_URL = "https://cal.com/riverside/consultation?notes={consultation}&name={name}"


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The test that stops the shared servers runs after every other one.
    items.sort(key=lambda item: item.get_closest_marker("stops_assistant") is not None)


@pytest.fixture(scope="session")
def provider() -> Iterator[Provider]:
    fake = Provider()
    server = serve(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, provider) -> Iterator[dict]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make model` first")
    for port in (PORT, 5055, FRONTDESK_PORT):
        if port_in_use(port):
            pytest.fail(f"port {port} is in use (is `make run` running?)")
    var = tmp_path_factory.mktemp("var")
    # `make run`'s default: no NEEDLECHECK_API_TOKEN, so the servers use the token kept in
    # var/api.token, as `make run` generates it on its first start and reads it on every
    # later one. Written here first, in the same way, so that the tests can name it.
    generated_secret(var / "api.token", TOKEN)
    # The shipped clinic.yml with a booking page, so that the hand-off to booking is seen
    # in the widget (test_widget.py); everything else as a clinic gets it.
    shipped = (ROOT / "clinic.yml").read_text("utf-8")
    assert "\nbooking_url: null\n" in shipped
    (var / "clinic.yml").write_text(
        shipped.replace("\nbooking_url: null\n", f"\nbooking_url: {BOOKING_URL!r}\n"), "utf-8"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "NEEDLECHECK_API_TOKEN"},
        "NEEDLECHECK_VAR_DIR": str(var),
        "NEEDLECHECK_CLINIC": str(var / "clinic.yml"),
        "NEEDLECHECK_RASA_PORT": str(PORT),
        "NEEDLECHECK_FRONTDESK_PORT": str(FRONTDESK_PORT),
        "DATABASE_URL": "",
        # The date the held-out corpus's labels are relative to (tests/language/README.md):
        # the simulated conversations (test_conversations.py) are checked against them.
        "NEEDLECHECK_TODAY": "2026-12-01",
        # The most verbose level there is: the logs must hold no personal data even here.
        "NEEDLECHECK_LOG_LEVEL": "DEBUG",
        # Every test request comes from 127.0.0.1; the limits' own tests use other
        # addresses (127.0.0.77 and the like: no proxy is trusted) and senders.
        "NEEDLECHECK_ADDRESS_RATE": f"{ADDRESS_BUDGET}/60",
        "NEEDLECHECK_SENDER_RATE": f"{SENDER_BUDGET}/60",
        **channel_environment(provider.url, f"http://127.0.0.1:{PORT}"),
        # Each server writes the modules it imported as it exits (exit_report/).
        "PYTHONPATH": str(Path(__file__).with_name("exit_report")),
        "NEEDLECHECK_TEST_EXIT_REPORT": str(var),
    }
    subprocess.run([str(BIN), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    log = (var / "run.log").open("w")
    process = subprocess.Popen(
        [str(BIN), "run", "--model", str(MODEL)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while "needlecheck is ready" not in (var / "run.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the assistant did not start:\n" + (var / "run.log").read_text()[-3000:])
        time.sleep(1)
    info = {
        "process": process,
        "exit_reports": var,
        "var": var,
        "db": f"sqlite:///{var / 'needlecheck.db'}",
        "log": (var / "run.log").read_text(),
        "env": env,
    }
    yield info
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


@dataclass
class SocketSession:
    client: Any
    received: queue.Queue[dict]
    confirmed: queue.Queue[str]
    session_id: str
    # The secret that resumes the session; the widget keeps it beside the ID.
    session_key: str = ""


@contextmanager
def socket_session() -> Iterator[SocketSession]:
    """A client as the widget is one, joined to a fresh random session; the synchronous
    client over long-polling (the locked engineio's asyncio client needs a newer aiohttp
    than Rasa 3.6 allows)."""
    import socketio

    client = socketio.Client()
    received: queue.Queue[dict] = queue.Queue()
    confirmed: queue.Queue[str] = queue.Queue()
    keys: queue.Queue[dict] = queue.Queue()
    client.on("bot_uttered", received.put)
    client.on("session_confirm", confirmed.put)
    client.on("session_key", keys.put)
    client.connect(f"http://127.0.0.1:{PORT}", socketio_path="/socket.io", transports=["polling"])
    try:
        # As the widget on its first visit: the server gives the session and its key.
        client.emit("session_request", {"session_id": secrets.token_urlsafe(24)})
        issued = keys.get(timeout=10)
        session = SocketSession(client, received, confirmed, issued["session_id"])
        session.session_key = issued["session_key"]
        assert confirmed.get(timeout=10) == session.session_id
        yield session
    finally:
        client.disconnect()


def add_staff(assistant: dict, username: str, role: str, password: str) -> None:
    """A front desk account, made with the command a clinic uses."""
    added = subprocess.run(
        [str(BIN), "staff", "add", username, "--role", role, "--password-stdin"],
        input=password + "\n",
        env=assistant["env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
