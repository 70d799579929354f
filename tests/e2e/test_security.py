"""The Rasa server's guards against the running assistant (SECURITY.md): typed payloads,
message and body limits, rate limits, the REST channel's checks, the API token kept out
of the command line, telemetry off, and logs without personal data at DEBUG."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ADDRESS_BUDGET, PORT, SENDER_BUDGET, TOKEN, socket_session
from tests.e2e.test_assistant import CONSENT, converse, say

pytestmark = pytest.mark.rasa


def post(body: bytes, headers: dict[str, str] | None = None) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else raw.decode()


def slots(sender: str) -> dict:
    url = f"http://127.0.0.1:{PORT}/conversations/{sender}/tracker?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["slots"]


def test_a_typed_payload_that_was_not_offered_sets_nothing_and_skips_nothing(assistant) -> None:
    converse("e2e-slash", CONSENT)
    assert slots("e2e-slash")["requested_slot"] == "red_flags"
    for payload in (
        '/inform{"isotretinoin": {"status": "never"}, "red_flags": [], "age": 30}',
        '/inform{"screening_outcome": "eligible"}',
        '/inform{"requested_slot": "recent_procedures"}',
        "/affirm",
        "/restart",
    ):
        say("e2e-slash", payload)
    now = slots("e2e-slash")
    assert now["requested_slot"] == "red_flags"
    assert now["isotretinoin"] is None and now["red_flags"] is None and now["age"] is None
    assert now["screening_outcome"] is None
    # The consent is still there: "/restart" was read as a word, not as Rasa's command.
    assert now["health_data_consent"] == "given"


def test_an_offered_payload_counts_as_the_button(assistant) -> None:
    converse("e2e-button", ["hi", "/affirm"])
    assert slots("e2e-button")["health_data_consent"] == "given"
    say("e2e-button", '/inform{"red_flags": ["allergic_reaction"]}')
    assert slots("e2e-button")["screening_outcome"] == "urgent_care"


def test_an_overlong_message_gets_a_polite_answer_and_no_turn(assistant) -> None:
    status, replies = post(json.dumps({"sender": "e2e-long", "message": "a" * 2001}).encode())
    assert status == 200
    assert [r["text"] for r in replies] == [
        "Sorry, that message is too long for me. Could you say it in fewer words?"
    ]
    assert slots("e2e-long")["health_data_consent"] is None


def test_an_oversized_body_is_refused_with_413(assistant) -> None:
    status, _ = post(json.dumps({"sender": "e2e-big", "message": "a" * 200_000}).encode())
    assert status == 413


SLOW_DOWN = (
    "You're sending messages faster than I can read them. Please wait a moment, then "
    "send your answer again."
)


def test_a_sender_over_its_budget_is_asked_to_slow_down(assistant) -> None:
    # The bucket refills while the messages are answered: go on until it is empty.
    answers = []
    while len(answers) < 2 * SENDER_BUDGET:
        answers.append(say("e2e-fast", "what is microneedling?"))
        if answers[-1] == [SLOW_DOWN]:
            break
    assert answers[-1] == [SLOW_DOWN]
    assert len(answers) > SENDER_BUDGET
    assert all("Microneedling" in " ".join(answer) for answer in answers[:SENDER_BUDGET])
    # Another person is not slowed down.
    assert "Microneedling" in " ".join(say("e2e-not-fast", "what is microneedling?"))


def test_an_address_over_its_budget_gets_429(assistant) -> None:
    # From an address of its own (all of 127/8 is this machine): `make run` trusts no
    # proxy, so X-Forwarded-For could not choose one.
    source = ("127.0.0.77", 0)
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10, source_address=source)
    headers: dict[str, str] = {}
    statuses: list[int] = []
    try:
        while len(statuses) < 2 * ADDRESS_BUDGET and 429 not in statuses:
            connection.request("GET", "/webhooks/rest/", headers=headers)
            reply = connection.getresponse()
            reply.read()
            statuses.append(reply.status)
        retry_after = reply.getheader("Retry-After")
    finally:
        connection.close()
    assert statuses[-1] == 429 and retry_after is not None and int(retry_after) >= 1
    assert len(statuses) > ADDRESS_BUDGET and set(statuses[:-1]) == {200}
    # The same address is not refused where it is not counted: a signed webhook (this
    # one unsigned, so refused by its own check) and the readiness route. (Its budget
    # refills at 50 a second, so the counted routes are not tried again here.)
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10, source_address=source)
    try:
        for method, path, expected in (
            ("POST", "/webhooks/twilio/webhook", 403),
            ("GET", "/webhooks/health/ready", 200),
        ):
            connection.request(
                method, path, body=b"" if method == "POST" else None, headers=headers
            )
            reply = connection.getresponse()
            reply.read()
            assert reply.status == expected, path
    finally:
        connection.close()
    # Other addresses are not affected.
    assert say("e2e-other-address", "hello")


def test_a_forged_forwarded_address_does_not_escape_the_address_budget(assistant) -> None:
    # `make run` trusts no proxy, not even loopback: a local client writing a new
    # X-Forwarded-For on every request is still one address. (The probe got 1,000 of
    # 1,000 through.) From 127.0.0.1 itself, which loopback trust used to believe.
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    statuses: list[int] = []
    started = time.monotonic()
    try:
        while len(statuses) < 2 * ADDRESS_BUDGET and 429 not in statuses:
            forged = f"198.51.100.{len(statuses) % 250}, 203.0.113.{len(statuses) % 250}"
            connection.request("GET", "/webhooks/rest/", headers={"X-Forwarded-For": forged})
            reply = connection.getresponse()
            reply.read()
            statuses.append(reply.status)
    finally:
        connection.close()
    refilled = (time.monotonic() - started) * ADDRESS_BUDGET / 60  # budget/60 a second
    assert statuses[-1] == 429
    assert len(statuses) <= ADDRESS_BUDGET + refilled + 1
    # The other tests send from 127.0.0.1 too: let its budget refill for them.
    time.sleep(ADDRESS_BUDGET / 60 * 0.1)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", None),
        (b"[]", "JSON object"),
        (b'{"sender": "", "message": "hi"}', "'sender'"),
        (b'{"sender": "../../etc/passwd", "message": "hi"}', "no spaces or slashes"),
        (b'{"sender": "a b", "message": "hi"}', "no spaces or slashes"),
        (b'{"sender": "x", "message": 5}', "'message'"),
        (b'{"sender": "x", "message": "   "}', "'message'"),
        (b'{"sender": "x"}', "'message'"),
        ('{"sender": "x", "message": "\xff"}'.encode("latin-1"), None),
    ],
)
def test_a_malformed_rest_body_gets_400_with_the_reason(assistant, body, reason) -> None:
    status, answer = post(body)
    assert status == 400
    if reason:
        assert reason in answer["error"]


def test_the_rest_channel_does_not_let_a_visitor_pose_as_another_channel(assistant) -> None:
    body = {"sender": "e2e-pose", "message": "hi", "input_channel": "frontdesk",
            "metadata": {"staff": "dr.lee"}}  # fmt: skip
    status, _ = post(json.dumps(body).encode())
    assert status == 200
    url = f"http://127.0.0.1:{PORT}/conversations/e2e-pose/tracker?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        user = [e for e in json.load(reply)["events"] if e["event"] == "user"]
    assert user[-1]["input_channel"] == "rest"
    assert not (user[-1].get("metadata") or {}).get("staff")


def processes(root: int) -> list[int]:
    """The process and all its descendants."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            children = (
                (task / "children").read_text().split() if (task / "children").exists() else []
            )
            queue.extend(int(child) for child in children)
    return found


def test_the_api_token_is_not_on_any_command_line_and_telemetry_is_off(assistant) -> None:
    pids = processes(assistant["process"].pid)
    lines = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in pids}
    rasa = [pid for pid, line in lines.items() if b"needlecheck.rasa_server" in line]
    assert rasa, lines
    assert not [line for line in lines.values() if TOKEN.encode() in line]
    for pid in rasa:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"RASA_TELEMETRY_ENABLED=false" in environ


PERSON = {
    "name": "Xanthippe Ollerenshaw",
    "email": "xanthippe.o@example.net",
    "phone": "+44 20 7946 0321",
    "birth": "I was born on 1987-03-14",
    "words": "my neighbour's quince orchard",
}


def test_no_personal_data_reaches_any_log_at_debug(assistant) -> None:
    sender = "e2e-private"
    converse(sender, [*CONSENT, "none of these", "I'm 39", "my face", PERSON["words"]])
    converse(sender, [PERSON["birth"], "talk to a person"])
    converse("e2e-private-2", ["hello", "no thanks", "please call me", PERSON["name"]])
    converse("e2e-private-2", [PERSON["email"], PERSON["phone"], "evenings", "yes"])
    slots("e2e-private-2")  # an HTTP API call with the token in its query string
    logs = [path for path in assistant["var"].rglob("*") if path.is_file() and _is_log(path)]
    text = "\n".join(path.read_text(errors="replace") for path in logs)
    # The DEBUG level really is on, and Rasa's own lines are there.
    assert "DEBUG" in text and "rasa.core.processor" in text
    secrets = [
        *PERSON["name"].split(),
        PERSON["email"],
        "7946 0321",
        "79460321",
        "1987-03-14",
        "quince",
        "orchard",
        # Rasa's access log writes the API's query strings, token included.
        TOKEN,
    ]
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in a log"


def _is_log(path: Path) -> bool:
    return path.suffix in (".log", ".txt", ".out", ".err") or "log" in path.name


def test_erasure_empties_the_running_server_s_conversation(assistant) -> None:
    import subprocess

    from tests.e2e.conftest import BIN, ROOT

    converse("e2e-erase-me", [*CONSENT, "none of these"])
    done = subprocess.run(
        [str(BIN), "erase", "--conversation", "e2e-erase-me"],
        env=assistant["env"], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 conversation event(s)" in done.stdout
    url = f"http://127.0.0.1:{PORT}/conversations/e2e-erase-me/tracker?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        events = json.load(reply)["events"]
    assert [e for e in events if e["event"] in ("user", "bot", "slot")] == []


def test_the_action_server_gives_browsers_no_cors_headers(assistant) -> None:
    for method in ("OPTIONS", "GET"):
        request = urllib.request.Request(
            "http://127.0.0.1:5055/health",
            method=method,
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                headers = reply.headers
        except urllib.error.HTTPError as error:
            headers = error.headers
        assert "Access-Control-Allow-Origin" not in headers


def test_the_servers_listen_on_loopback_only(assistant) -> None:
    import psutil

    from tests.e2e.conftest import FRONTDESK_PORT

    pids = set(processes(assistant["process"].pid))
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    }
    ports = {port for _, port in listening}
    assert {PORT, 5055, FRONTDESK_PORT} <= ports, listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_a_widget_session_is_resumed_only_with_its_key(assistant) -> None:
    import queue

    import socketio

    with socket_session() as person:
        person.client.emit("user_uttered", {"message": "hi", "session_id": person.session_id})
        assert person.received.get(timeout=20).get("text")
        stranger = socketio.Client()
        confirmed: queue.Queue[str] = queue.Queue()
        stranger.on("session_confirm", confirmed.put)
        stranger.connect(
            f"http://127.0.0.1:{PORT}", socketio_path="/socket.io", transports=["polling"]
        )
        try:
            # The ID alone (staff see it; the stores hold it) opens a different session.
            stranger.emit("session_request", {"session_id": person.session_id})
            assert confirmed.get(timeout=10) != person.session_id
            # The key the widget keeps beside the ID opens it.
            stranger.emit(
                "session_request",
                {"session_id": person.session_id, "session_key": person.session_key},
            )
            assert confirmed.get(timeout=10) == person.session_id
        finally:
            stranger.disconnect()


def api(
    method: str, path: str, events: object = None, headers: dict[str, str] | None = None
) -> int:
    """The status of a request to Rasa's HTTP API (path with its query string)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=None if events is None else json.dumps(events).encode(),
        method=method,
        headers=headers or {},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


AGE_5 = [{"event": "slot", "name": "age", "value": 5}]
ELIGIBLE = [{"event": "slot", "name": "screening_outcome", "value": "eligible"}]
JSON_BODY = {"Content-Type": "application/json"}


def test_make_run_never_serves_the_http_api_without_a_token(assistant) -> None:
    # make run's defaults: no token in the environment, the one kept in var/ instead.
    assert "NEEDLECHECK_API_TOKEN" not in assistant["env"]
    assert (assistant["var"] / "api.token").read_text() == TOKEN
    sender = "e2e-api-closed"
    converse(sender, [*CONSENT, "Xanthippe, 07700 900777"])
    base = f"/conversations/{sender}"
    assert api("GET", f"{base}/tracker") == 401
    assert api("POST", f"{base}/tracker/events", ELIGIBLE, JSON_BODY) == 401
    assert api("POST", f"{base}/tracker/events", AGE_5, JSON_BODY) == 401
    parsed = {"text": "/inform", "parse_data": {"intent": {"name": "affirm"}, "entities": []}}
    assert api("POST", f"{base}/messages", {"sender": "user", **parsed}, JSON_BODY) == 401
    now = slots(sender)  # with the token
    assert now["screening_outcome"] is None and now["age"] is None


def test_the_http_api_refuses_cross_site_requests_whatever_their_type(assistant) -> None:
    sender = "e2e-api-cross"
    converse(sender, CONSENT)
    path = f"/conversations/{sender}/tracker/events?token={TOKEN}"
    evil = {"Origin": "http://evil.example"}
    for headers in (
        {"Content-Type": "text/plain", **evil},
        {"Content-Type": "text/plain"},  # a browser too old to send Origin
        {"Content-Type": "application/x-www-form-urlencoded"},
        {**JSON_BODY, **evil},
        {**JSON_BODY, "Sec-Fetch-Site": "cross-site"},
    ):
        assert api("POST", path, AGE_5, headers) == 403, headers
    assert api("GET", f"/conversations/{sender}/tracker?token={TOKEN}", None, evil) == 403
    assert slots(sender)["age"] is None
    # The server's own origin, and clients that are not browsers, are served.
    own = {**JSON_BODY, "Origin": f"http://127.0.0.1:{PORT}"}
    assert api("POST", path, AGE_5, own) == 200
    assert slots(sender)["age"] == 5


def test_rest_requests_cannot_reach_another_channels_conversations(assistant) -> None:
    import secrets

    from tests.e2e.conftest import socket_session

    with socket_session() as socket:
        socket.client.emit("user_uttered", {"message": "hi", "session_id": socket.session_id})
        assert socket.received.get(timeout=20).get("text")
        # The greeting ends with the consent question and its buttons.
        while not socket.received.get(timeout=20).get("quick_replies"):
            pass
        status, answer = post(json.dumps({"sender": socket.session_id, "message": "yes"}).encode())
        assert status == 400 and "widget session" in answer["error"]
        url = f"http://127.0.0.1:{PORT}/conversations/{socket.session_id}/tracker?token={TOKEN}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            users = [e for e in json.load(reply)["events"] if e["event"] == "user"]
        assert [(e["text"], e["input_channel"]) for e in users] == [("hi", "socketio")]
        assert socket.received.empty()
    for sender in (
        f"frontdesk-{secrets.token_urlsafe(18)}",
        "+447700900777",
        "whatsapp:+447700900777",
        "447700900777",
        "17841400000000000",
    ):
        status, answer = post(json.dumps({"sender": sender, "message": "hi"}).encode())
        assert status == 400 and "shaped like" in answer["error"], sender
