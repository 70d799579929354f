"""The assistant as `make run` starts it: real Rasa server, real action server, real database.

Needs the trained model in models/ (`make model`, which `make test` runs first).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).parents[2]
MODEL = ROOT / "models" / "needlecheck.tar.gz"
BIN = Path(sys.executable).with_name("needlecheck")
PORT = 5095
TOKEN = "e2e-secret-token"

pytestmark = pytest.mark.rasa


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def assistant(tmp_path_factory) -> Iterator[dict]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make model` first")
    for port in (PORT, 5055):
        if _port_in_use(port):
            pytest.fail(f"port {port} is in use (is `make run` running?)")
    var = tmp_path_factory.mktemp("var")
    env = {
        **os.environ,
        "NEEDLECHECK_VAR_DIR": str(var),
        "NEEDLECHECK_RASA_PORT": str(PORT),
        "NEEDLECHECK_API_TOKEN": TOKEN,
        "DATABASE_URL": "",
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
        "var": var,
        "db": f"sqlite:///{var / 'needlecheck.db'}",
        "log": (var / "run.log").read_text(),
    }
    yield info
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


def say(sender: str, message: str) -> list[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [m.get("text", "") for m in json.load(response)]


def screenings(db: str, sender: str) -> list[tuple]:
    engine = create_engine(db, future=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.outcome, s.channel, group_concat(f.rule_id) FROM screenings s "
                "LEFT JOIN screening_findings f ON f.screening_id = s.id "
                "WHERE s.conversation_id = :c GROUP BY s.id ORDER BY s.id"
            ),
            {"c": sender},
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_start_up_says_where_to_talk_to_it(assistant) -> None:
    log = assistant["log"]
    assert f"POST http://localhost:{PORT}/webhooks/rest/webhook" in log
    assert f"socket.io channel: http://localhost:{PORT}/socket.io" in log
    assert "needs ?token=$NEEDLECHECK_API_TOKEN" in log
    assert "Press Ctrl-C to stop." in log


def test_a_typed_screening_ends_with_a_recommendation_and_one_stored_record(assistant) -> None:
    answers = [
        "hi",
        "yes",
        "none of these",
        "I am 29",
        "my face and neck",
        "acne scars",
        "I use retinol",
        "never",
        "no",
        "no",
        "I have diabetes",
        "no",
        "no",
        "no",
    ]
    replies: list[str] = []
    for answer in answers:
        replies = say("e2e-typed", answer)
        assert replies, f"no reply to {answer!r}"
    assert screenings(assistant["db"], "e2e-typed") == []
    replies = say("e2e-typed", "no")
    joined = "\n".join(replies)
    assert "medical professional" in joined
    assert "Diabetes can slow wound healing" in joined
    assert "Stop retinoid products" in joined
    assert "does not clear you for treatment" in joined
    assert screenings(assistant["db"], "e2e-typed") == [
        ("clinician_review", "rest", "RV-DIABETES,PR-RETINOID")
    ]


def test_a_red_flag_button_ends_the_screening_with_urgent_care(assistant) -> None:
    say("e2e-urgent", "/start_screening")
    replies = say("e2e-urgent", '/inform{"red_flags": ["allergic_reaction"]}')
    assert "call emergency services" in "\n".join(replies)
    assert screenings(assistant["db"], "e2e-urgent") == [("urgent_care", "rest", "URG-ALLERGY")]


def test_the_http_api_needs_the_token_and_the_channels_do_not(assistant) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/status", timeout=10)
    assert caught.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/status?token={TOKEN}", timeout=10) as ok:
        assert "model_file" in json.load(ok)
    assert say("e2e-open", "hello")


def test_the_socketio_channel_answers_with_session_persistence(assistant) -> None:
    import queue

    import socketio

    # The synchronous client over long-polling: the locked engineio's asyncio client needs
    # a newer aiohttp than Rasa 3.6 allows.
    client = socketio.Client()
    received: queue.Queue[str] = queue.Queue()
    client.on("bot_uttered", lambda data: received.put(data.get("text", "")))
    client.connect(f"http://127.0.0.1:{PORT}", socketio_path="/socket.io", transports=["polling"])
    try:
        client.emit("session_request", {"session_id": "e2e-socket-session"})
        time.sleep(0.5)
        client.emit("user_uttered", {"message": "hi", "session_id": "e2e-socket-session"})
        greeting = received.get(timeout=20)
    finally:
        client.disconnect()
    assert "microneedling assistant" in greeting


def test_ctrl_c_stops_both_servers(assistant) -> None:
    process = assistant["process"]
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    time.sleep(1)
    assert not _port_in_use(PORT) and not _port_in_use(5055)
