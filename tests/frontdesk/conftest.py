"""The front desk as it runs: `needlecheck frontdesk` in its own process, over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade
from tests.frontdesk.support import PASSWORDS, add_accounts

BIN = Path(sys.executable).with_name("needlecheck")


@dataclass
class FrontDesk:
    url: str
    sessions: sessionmaker
    log: Path

    @contextmanager
    def client(self, user: str | None = None, **options) -> Iterator[httpx.Client]:
        """A browser-like client; signed in as `user` when one is given."""
        with httpx.Client(base_url=self.url, timeout=20, **options) as client:
            if user is not None:
                response = sign_in(client, user, PASSWORDS[user])
                assert response.status_code == 303, response.text
            yield client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(client: httpx.Client, user: str, password: str, **headers: str) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": csrf_from(form.text)},
        headers=headers,
    )


@pytest.fixture(scope="module")
def frontdesk(request, tmp_path_factory) -> Iterator[FrontDesk]:
    folder = tmp_path_factory.mktemp("frontdesk")
    database = f"sqlite:///{folder / 'needlecheck.db'}"
    upgrade(database)
    engine = create_db_engine(database)
    sessions = session_factory(engine)
    add_accounts(sessions)
    port = free_port()
    log = folder / "frontdesk.log"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "NEEDLECHECK_FRONTDESK_PORT": str(port),
        "NEEDLECHECK_VAR_DIR": str(folder),
        # No assistant runs beside this front desk: the caller relay must find nothing.
        "NEEDLECHECK_RASA_URL": "http://127.0.0.1:9",
        # Every test request comes from 127.0.0.1; the budget has its own tests.
        "NEEDLECHECK_ADDRESS_RATE": "0/60",
        # As behind the clinic's TLS proxy on this host: the tests choose their address
        # and scheme with X-Forwarded-For and -Proto. A module's FRONTDESK_ENV (a value of
        # None unsets the variable) runs it as configured otherwise.
        "NEEDLECHECK_TRUSTED_PROXIES": "127.0.0.1",
    }
    for name, value in getattr(request.module, "FRONTDESK_ENV", {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN), "frontdesk"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the front desk did not start:\n{log.read_text()}")
        time.sleep(0.2)
    try:
        yield FrontDesk(url, sessions, log)
    finally:
        process.terminate()
        process.wait(timeout=20)
        engine.dispose()


@pytest.fixture
def desk(tmp_path, monkeypatch):
    """The front desk in this process, beside a stand-in Rasa server (tests/frontdesk/stand_in.py)."""
    from tests.frontdesk.stand_in import running_desk

    with running_desk(tmp_path, monkeypatch) as running:
        yield running
