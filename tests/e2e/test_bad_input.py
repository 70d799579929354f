"""Bad input, tried on purpose, against the running assistant and its front desk: every
input of the table through the REST and socket.io channels and into the front desk's
forms and JSON endpoints. Each gets a clear answer or a 4xx, never a 500 or a crash, and
nothing wrong is stored."""

from __future__ import annotations

import json
import queue
import urllib.error
import urllib.request
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import FRONTDESK_PORT, PORT, TOKEN, add_staff, socket_session
from tests.e2e.test_assistant import CONSENT, converse, say, screenings
from tests.frontdesk.conftest import csrf_from, sign_in

pytestmark = pytest.mark.rasa

BAD = {
    "empty": "",
    "whitespace": "   \n\t  ",
    "100 kB": "a" * 100_000,
    "lone surrogate (not UTF-8)": "I use \udcff retinol",
    "emoji": "🧴🙂👍🏽 I'm 34 🤷‍♀️",
    "right-to-left": "\u202eI take warfarin\u202c مرحبا، عمري ٣٤",
    "zero-width": "I\u200b use\u200d retinol\ufeff\u2060",
    "HTML and script": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "SQL-like": "'; DROP TABLE screenings; -- OR 1=1",
    "JSON inside text": '{"sender": "someone-else", "message": "hi", "age": 30}',
    "slash, unknown intent": '/no_such_intent{"age": 30}',
    "slash, wrong types": '/inform{"age": "thirty", "red_flags": 5, "isotretinoin": []}',
    "slash, broken JSON": '/inform{"age": ',
    "control characters": "hi\x00\x07\x1b[31m",
}
BAD_SENDERS = ["../../etc/passwd", "a/b", "..\\..\\win", "x\x00y", "%2e%2e%2f", " ", "x" * 300]


def as_json(value: object) -> bytes:
    """JSON as a client sends it: lone surrogates escaped (\\udcff), as JSON allows."""
    return json.dumps(value).encode()


def post(body: bytes) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def slots(sender: str) -> dict:
    url = f"http://127.0.0.1:{PORT}/conversations/{sender}/tracker?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["slots"]


@pytest.mark.parametrize("name", BAD)
def test_rest_answers_every_bad_message_clearly(assistant, name: str) -> None:
    sender = f"bad-rest-{abs(hash(name)) % 10**8}"
    converse(sender, CONSENT)
    status, answer = post(json.dumps({"sender": sender, "message": BAD[name]}).encode())
    assert status in (200, 400, 413), (status, answer)
    if status == 200:
        assert isinstance(answer, list) and answer, "a message is always answered"
        assert all(isinstance(item.get("text", ""), str) for item in answer)
    else:
        assert "error" in answer
    # Nothing wrong was stored: a payload that was not offered was read as words, so a
    # fact is either unset or a value the form's validators accepted.
    now = slots(sender)
    assert now["age"] is None or (isinstance(now["age"], int) and 0 < now["age"] < 120)
    assert now["red_flags"] is None or isinstance(now["red_flags"], list)
    assert now["screening_outcome"] is None
    assert screenings(assistant["db"], sender) == []
    # The server goes on.
    assert say(sender, "why do you ask?")


def test_invalid_utf8_bytes_get_400(assistant) -> None:
    status, _ = post(b'{"sender": "bad-bytes", "message": "\xff\xfe\xfa"}')
    assert status == 400


@pytest.mark.parametrize("sender", BAD_SENDERS)
def test_rest_refuses_sender_ids_with_path_characters(assistant, sender: str) -> None:
    status, answer = post(json.dumps({"sender": sender, "message": "hi"}).encode())
    assert status == 400 and "sender" in answer


def test_the_socketio_channel_survives_every_bad_message(assistant) -> None:
    with socket_session() as socket:
        unanswered = []
        for name, message in BAD.items():
            socket.client.emit(
                "user_uttered", {"message": message, "session_id": socket.session_id}
            )
            if message.strip():
                try:
                    reply = socket.received.get(timeout=15)
                except queue.Empty:
                    unanswered.append(name)
                    continue
                assert isinstance(reply.get("text", ""), str), name
                while not socket.received.empty():  # the rest of the same answer
                    socket.received.get()
        assert unanswered == []
        # Not text at all, or for a session this socket did not join: ignored.
        for data in (None, 5, {"message": 5}, {"message": "hi", "session_id": "someone"}):
            socket.client.emit("user_uttered", data)
        socket.client.emit("user_uttered", {"message": "hello", "session_id": socket.session_id})
        assert socket.received.get(timeout=30).get("text")
        # The bad session requests get a fresh, random session instead.
        for wanted in ("../../etc", "", None, 42):
            socket.client.emit("session_request", {"session_id": wanted})
            assert socket.confirmed.get(timeout=10) != wanted
    assert screenings(assistant["db"], socket.session_id) == []


FIELDS = [*BAD.values(), "x" * 10_000]
# A browser sends forms and URLs as UTF-8, where a lone surrogate cannot be written.
TYPED = [value.encode("utf-8", "replace").decode("utf-8") for value in FIELDS]


def test_the_front_desk_forms_and_json_endpoints_answer_bad_input_without_a_500(
    assistant,
) -> None:
    add_staff(assistant, "bad.input", "clinician", "a long bad-input passphrase")
    converse("bad-desk", [*CONSENT, "none of these"])
    base = f"http://127.0.0.1:{FRONTDESK_PORT}"
    # From an address of their own (all of 127/8 is this machine; `make run` trusts no
    # proxy), so that sign-in throttling does not block this machine's own sign-in below.
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.99")
    with httpx.Client(base_url=base, timeout=60, transport=elsewhere) as client:
        for value in TYPED:
            form = client.get("/login")
            answer = client.post(
                "/login",
                data={"username": value, "password": value, "csrf_token": csrf_from(form.text)},
            )
            assert answer.status_code in (401, 413, 422, 429), answer.status_code
    with httpx.Client(base_url=base, timeout=60) as client:
        assert sign_in(client, "bad.input", "a long bad-input passphrase").status_code == 303
        csrf = csrf_from(client.get("/").text)
        statuses = []
        for value in TYPED:
            short = value[:2000]  # a URL's query has a length limit of its own
            statuses += [
                client.get("/", params={"q": short}).status_code,
                client.get("/api/queue", params={"q": short, "status": short}).status_code,
                client.get("/api/queue", params={"since": short}).status_code,
                client.get("/export/queue.csv", params={"outcome": short}).status_code,
                client.get(f"/screenings/{quote(value[:50], safe='')}").status_code,
                client.post(
                    "/records/screening/1/follow-up",
                    data={"status": value, "note": value, "csrf_token": csrf},
                ).status_code,
                client.post(
                    "/screenings/1/override",
                    data={"outcome": value, "reason": value, "csrf_token": csrf},
                ).status_code,
                httpx.post(
                    f"{base}/widget/erase",
                    content=as_json({"session_id": value}),
                    headers={"Content-Type": "application/json"},
                ).status_code,
                httpx.post(
                    f"{base}/widget/erase",
                    content=value.encode(errors="replace"),
                    headers={"Content-Type": "application/json"},
                ).status_code,
            ]
        caller = client.post("/caller", data={"csrf_token": csrf}, follow_redirects=False)
        conversation = caller.headers["location"].rsplit("/", 1)[1]
        for value in FIELDS:
            statuses.append(
                client.post(
                    f"/api/caller/{conversation}/messages",
                    content=as_json({"message": value}),
                    headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
                ).status_code
            )
        statuses.append(
            client.post(
                f"/api/caller/{conversation}/messages",
                content=b"\xff not json",
                headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
            ).status_code
        )
    assert statuses and all(status < 500 for status in statuses), sorted(set(statuses))
    # The screening those forms pointed at is unchanged.
    assert screenings(assistant["db"], "bad-desk") == []
