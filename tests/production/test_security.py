"""The production profile closed by default, against the running topology: the model
cannot be replaced through the HTTP API, the REST channel needs its token, the API token
is on no command line, and contact details, handoff reasons and screenings' facts are
encrypted in PostgreSQL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.production.conftest import BALANCER, RASA, TOKEN
from tests.production.support import REST_TOKEN, say

pytestmark = [pytest.mark.production, pytest.mark.postgres]


def status(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/model"), ("DELETE", "/model"), ("POST", "/model/train")]
)
def test_the_model_cannot_be_changed_through_the_api(healthy, method: str, path: str) -> None:
    for port in (BALANCER, *RASA):
        url = f"http://127.0.0.1:{port}{path}?token={TOKEN}"
        assert status(method, url, b'{"model_file": "/tmp/x.tar.gz"}') == 403


def test_the_rest_channel_needs_its_token(healthy) -> None:
    body = json.dumps({"sender": f"rest-{uuid.uuid4().hex[:8]}", "message": "hi"}).encode()
    url = f"http://127.0.0.1:{BALANCER}/webhooks/rest/webhook"
    json_type = {"Content-Type": "application/json"}
    assert status("POST", url, body, json_type) == 401
    wrong = {**json_type, "Authorization": "Bearer wrong"}
    assert status("POST", url, body, wrong) == 401
    assert say(BALANCER, f"rest-{uuid.uuid4().hex[:8]}", "hi")  # with REST_TOKEN


def test_no_secret_is_on_a_command_line(healthy) -> None:
    secrets = [TOKEN, REST_TOKEN, healthy["env"]["NEEDLECHECK_DATA_KEYS"]]
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        assert not any(secret in line for secret in secrets), line[:200]


def test_contact_details_are_encrypted_in_postgresql(healthy) -> None:
    who = f"enc-{uuid.uuid4().hex[:8]}"
    for message in ("hello", "no thanks", "please call me", "Wilhelmina Pargeter"):
        say(BALANCER, who, message)
    for message in ("+44 20 7946 0777", "evenings", "yes"):
        say(BALANCER, who, message)
    engine = create_engine(healthy["db"])
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT name, phone FROM contact_requests WHERE conversation_id = :c"),
                {"c": who},
            ).one()
    finally:
        engine.dispose()
    assert row[0].startswith("gAAAA") and "Wilhelmina" not in row[0] and "7946" not in row[1]
    # The person's own words in a handoff request's reason, and every screening's facts.
    person = f"enc-{uuid.uuid4().hex[:8]}"
    for message in ("hi", "yes", "no"):
        say(BALANCER, person, message)
    replies = say(BALANCER, person, "can I speak to a human?")
    assert any("A member of the team has been told" in reply for reply in replies)
    engine = create_engine(healthy["db"])
    try:
        with engine.connect() as connection:
            reasons = (
                connection.execute(
                    text("SELECT reason FROM handoff_requests WHERE conversation_id = :c"),
                    {"c": person},
                )
                .scalars()
                .all()
            )
            facts = connection.execute(text("SELECT facts FROM screenings")).scalars().all()
    finally:
        engine.dispose()
    assert len(reasons) == 1 and reasons[0].startswith("gAAAA")
    assert "human" not in reasons[0]
    assert all(value.startswith("gAAAA") for value in facts)
