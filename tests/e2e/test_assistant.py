"""The assistant as `make run` starts it: real Rasa server, real action server, real database.

Needs the trained model in models/ (`make model`, which `make test` runs first).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, text

from needlecheck.security.tokens import health_request
from needlecheck.store.encryption import keyring
from tests.e2e.conftest import FRONTDESK_PORT, PORT, TOKEN, add_staff, port_in_use, socket_session

pytestmark = pytest.mark.rasa


def say(sender: str, message: str) -> list[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [m.get("text", "") for m in json.load(response)]


def screenings(db: str, sender: str) -> list[tuple]:
    """Each screening's outcome, channel and rule IDs in the order the engine gave them
    (SQLite's group_concat follows whichever index it reads, so the order is kept here)."""
    engine = create_engine(db, future=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.id, s.outcome, s.channel, f.rule_id FROM screenings s "
                "LEFT JOIN screening_findings f ON f.screening_id = s.id "
                "WHERE s.conversation_id = :c ORDER BY s.id, f.id"
            ),
            {"c": sender},
        ).all()
    engine.dispose()
    found: dict[int, tuple[str, str, list[str]]] = {}
    for screening, outcome, channel, rule in rows:
        found.setdefault(screening, (outcome, channel, []))[2].extend([rule] if rule else [])
    return [(o, c, ",".join(rules) if rules else None) for o, c, rules in found.values()]


def test_start_up_says_where_to_talk_to_it(assistant) -> None:
    log = assistant["log"]
    assert f"POST http://localhost:{PORT}/webhooks/rest/webhook" in log
    assert f"socket.io channel: http://localhost:{PORT}/socket.io" in log
    assert f"needs ?token=$(cat {assistant['var'] / 'api.token'})" in log
    assert f"front desk:        http://localhost:{FRONTDESK_PORT}/" in log
    assert "Press Ctrl-C to stop." in log


def test_the_front_desk_runs_beside_the_assistant_and_queues_its_screenings(assistant) -> None:
    import httpx

    from tests.frontdesk.conftest import sign_in

    add_staff(assistant, "desk", "front_desk", "a long desk passphrase")
    converse("e2e-desk", [*CONSENT, *CLEAR_ANSWERS.values()])
    with httpx.Client(base_url=f"http://127.0.0.1:{FRONTDESK_PORT}") as client:
        assert client.get("/api/queue").status_code == 401
        assert sign_in(client, "desk", "a long desk passphrase").status_code == 303
        rows = client.get("/api/queue").json()["items"]
    mine = [row for row in rows if row["conversation_id"] == "e2e-desk"]
    assert [(row["kind"], row["outcome"]) for row in mine] == [("screening", "eligible")]


CONSENT = ["hi", "yes"]
CLEAR_ANSWERS = {
    "red_flags": "none of these",
    "age": "I am 29",
    "treatment_area": "my face and neck",
    "skin_concerns": "acne scars",
    "topical_products": "no",
    "isotretinoin": "never",
    "pregnant_or_breastfeeding": "no",
    "active_skin_issues": "no",
    "conditions": "no",
    # The conditions question comes in two parts: the skin, then general health.
    "conditions_health": "no",
    "medications": "no",
    "cancer_treatment": "no",
    "allergies": "no",
    "recent_procedures": "no",
}


def converse(sender: str, messages: list[str]) -> str:
    """Send each message in turn; the replies to the last one, joined."""
    replies: list[str] = []
    for message in messages:
        replies = say(sender, message)
        assert replies, f"no reply to {message!r}"
    return "\n".join(replies)


def stored(db: str, sender: str, column: str) -> list:
    engine = create_engine(db, future=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT {column} FROM screenings WHERE conversation_id = :c ORDER BY id"),
            {"c": sender},
        ).all()
    engine.dispose()
    return [row[0] for row in rows]


def test_a_typed_screening_ends_with_a_recommendation_and_one_stored_record(assistant) -> None:
    answers = {
        **CLEAR_ANSWERS,
        "topical_products": "I use retinol",
        "conditions": "I have diabetes",
    }
    *before, last = [*CONSENT, *answers.values()]
    converse("e2e-typed", before)
    assert screenings(assistant["db"], "e2e-typed") == []
    joined = converse("e2e-typed", [last])
    assert "medical professional" in joined
    assert "Diabetes can slow wound healing" in joined
    assert "Stop retinoid products" in joined
    assert "does not clear you for treatment" in joined
    assert "contact you" in joined
    assert screenings(assistant["db"], "e2e-typed") == [
        ("clinician_review", "rest", "RV-DIABETES,PR-RETINOID")
    ]
    (version,) = stored(assistant["db"], "e2e-typed", "consent_text_version")
    assert version.startswith("sha256:")


def test_the_bench_conversation_is_one_whole_screening(assistant) -> None:
    from bench.bench import SCREENING

    # `make bench` times these messages as one screening: if the questions change, it must
    # still reach its outcome at the answer about procedures, and only there.
    at = SCREENING.index("I had botox three weeks ago")
    converse("e2e-bench", SCREENING[:at])
    assert screenings(assistant["db"], "e2e-bench") == []
    converse("e2e-bench", SCREENING[at:])
    assert screenings(assistant["db"], "e2e-bench") == [
        ("clinician_review", "rest", "RV-DIABETES,PR-RETINOID")
    ]


def test_one_message_gives_several_facts_and_only_the_rest_is_asked(assistant) -> None:
    replies = converse(
        "e2e-many", [*CONSENT, "none of these", "I'm 34, on tretinoin, never took Accutane"]
    )
    # Age and isotretinoin are answered; the products question is still asked (others?).
    assert "Which area" in replies
    answers = dict(CLEAR_ANSWERS)
    del answers["red_flags"], answers["age"], answers["isotretinoin"]
    messages = list(answers.values())
    # "no" to the products question after "on tretinoin": kept, and checked with the person.
    checked = converse("e2e-many", messages[:3])
    assert "Earlier you mentioned a retinoid" in checked
    joined = converse("e2e-many", ["yes, that's right", *messages[3:]])
    assert "nothing in your answers that rules microneedling out" in joined
    (facts,) = stored(assistant["db"], "e2e-many", "facts")
    # Encrypted at rest like the words behind them.
    assert "retinoid" not in facts
    facts = json.loads(keyring().decrypt(facts))
    assert facts["age"] == 34
    assert facts["topical_products"] == ["retinoid"]
    assert facts["isotretinoin"] == {"status": "never"}
    # The front desk sees the person's own words behind each fact, and the transcript.
    (words,) = stored(assistant["db"], "e2e-many", "evidence")
    # Encrypted at rest: the stored value is a Fernet token, not the person's words.
    assert "tretinoin" not in words
    words = json.loads(keyring().decrypt(words))
    assert words["age"] == ["I'm 34, on tretinoin, never took Accutane"]
    assert words["isotretinoin"] == ["I'm 34, on tretinoin, never took Accutane"]
    (lines,) = stored(assistant["db"], "e2e-many", "transcript")
    lines = json.loads(keyring().decrypt(lines))
    assert {"person", "assistant"} == {line["speaker"] for line in lines}
    assert lines[-1]["speaker"] == "person"


def test_a_past_isotretinoin_course_is_dated_and_deferred_to_the_exact_day(assistant) -> None:
    from needlecheck.config import Settings
    from needlecheck.screening.dates import add_months

    answers = {**CLEAR_ANSWERS, "isotretinoin": "I took Accutane"}
    *before, last = [*CONSENT, *answers.values()]
    converse("e2e-dose", before[: before.index("I took Accutane") + 1])
    asked = converse("e2e-dose", ["why do you ask?"])
    assert "last dose" in asked
    converse("e2e-dose", ["two months ago"])
    joined = converse("e2e-dose", [*before[before.index("I took Accutane") + 1 :], last])
    # The servers' "today" (conftest pins it for the held-out corpus's dates).
    today = Settings.from_environment(assistant["env"]).today()
    earliest = add_months(add_months(today, -2), 6)
    assert f"{earliest.day} {earliest:%B %Y}" in joined
    assert stored(assistant["db"], "e2e-dose", "outcome") == ["defer"]
    assert stored(assistant["db"], "e2e-dose", "earliest_date") in (
        [earliest],
        [earliest.isoformat()],
    )


def test_questions_corrections_and_a_new_result(assistant) -> None:
    messages = [*CONSENT, "none of these", "what is microneedling?"]
    assert "collagen induction therapy" in converse("e2e-fix", messages)
    answers = list(CLEAR_ANSWERS.values())[1:]
    converse("e2e-fix", answers)
    assert stored(assistant["db"], "e2e-fix", "outcome") == ["eligible"]
    joined = converse("e2e-fix", ["actually I'm on warfarin"])
    assert "Blood thinners" in joined
    assert stored(assistant["db"], "e2e-fix", "outcome") == ["eligible", "clinician_review"]


def test_a_red_flag_in_the_first_message_gets_urgent_advice_and_stores_nothing(assistant) -> None:
    replies = converse("e2e-urgent", ["my throat is swelling and I can't breathe"])
    assert "call 999 now" in replies
    assert "does not clear you for treatment" not in replies
    assert screenings(assistant["db"], "e2e-urgent") == []


def test_a_red_flag_mid_form_ends_the_screening_with_urgent_care(assistant) -> None:
    converse("e2e-urgent-2", [*CONSENT, "no", "I'm 40"])
    replies = say("e2e-urgent-2", "wait, I have a fever and pus in the area")
    assert "get medical help now" in "\n".join(replies)
    assert screenings(assistant["db"], "e2e-urgent-2") == [("urgent_care", "rest", "URG-INFECTION")]


def test_declined_consent_still_lets_the_clinic_call_back(assistant) -> None:
    assert "won't ask health questions" in converse("e2e-decline", ["hello", "no thanks"])
    joined = converse(
        "e2e-decline",
        ["please contact me", "Ana Lima", "ana@example", "+44 20 7946 0958", "mornings", "yes"],
    )
    assert "Thank you, Ana Lima" in joined
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT name, phone, preferred_time, screening_id FROM contact_requests WHERE conversation_id = 'e2e-decline'"
            )
        ).all()
    engine.dispose()
    (row,) = rows
    assert "Ana" not in "".join(row[:3])  # encrypted at rest
    assert (*(keyring().decrypt(v) for v in row[:3]), row[3]) == (
        "Ana Lima",
        "+442079460958",
        "mornings",
        None,
    )
    assert screenings(assistant["db"], "e2e-decline") == []


def test_talk_to_a_person_leaves_a_handoff_request(assistant) -> None:
    converse("e2e-person", [*CONSENT, "no"])
    assert "A member of the team has been told" in converse(
        "e2e-person", ["can I speak to a human?"]
    )
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status FROM handoff_requests WHERE conversation_id = 'e2e-person'")
        ).all()
    engine.dispose()
    assert [r[0] for r in rows] == ["open"]


def test_the_text_channel_numbers_the_options(assistant) -> None:
    def text_say(message: str) -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/webhooks/text/webhook",
            data=json.dumps({"sender": "e2e-sms", "message": message}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return "\n".join(m.get("text", "") for m in json.load(response))

    assert "1. Yes, I agree\n2. No, thank you" in text_say("hi")
    assert "3. None of these" in text_say("1")
    assert "How old are you?" in text_say("3")


def test_the_http_api_needs_the_token_and_the_channels_do_not(assistant) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/status", timeout=10)
    assert caught.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/status?token={TOKEN}", timeout=10) as ok:
        assert "model_file" in json.load(ok)
    assert say("e2e-open", "hello")


def test_the_socketio_channel_answers_with_session_persistence(assistant) -> None:
    with socket_session() as socket:
        socket.client.emit("user_uttered", {"message": "hi", "session_id": socket.session_id})
        greeting = socket.received.get(timeout=20).get("text", "")
        # A guessable session ID is replaced by a random one.
        socket.client.emit("session_request", {"session_id": "e2e-socket"})
        replaced = socket.confirmed.get(timeout=10)
    assert "microneedling assistant" in greeting
    assert replaced != "e2e-socket" and len(replaced) >= 22


def test_the_socketio_channel_refuses_other_origins(assistant) -> None:
    import socketio

    client = socketio.Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            f"http://127.0.0.1:{PORT}",
            socketio_path="/socket.io",
            transports=["polling"],
            headers={"Origin": "http://elsewhere.example"},
        )


def test_no_name_phone_or_email_reaches_the_servers_output(assistant) -> None:
    converse("e2e-quiet", ["hello", "no thanks", "please call me", "Zoe Quinn"])
    saved = converse("e2e-quiet", ["zoe.quinn@example.org +1 415 555 0199", "evenings", "yes"])
    # The details went all the way through the contact form into the database...
    assert "Thank you, Zoe Quinn. The clinic has your request" in saved
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        (phone,) = connection.execute(
            text("SELECT phone FROM contact_requests WHERE conversation_id = 'e2e-quiet'")
        ).one()
    engine.dispose()
    assert keyring().decrypt(phone) == "+14155550199"
    # ...and none of it into what the servers wrote.
    log = (assistant["var"] / "run.log").read_text()
    for secret in ("Zoe", "Quinn", "zoe.quinn@example.org", "4155550199", "555 0199"):
        assert secret not in log


@pytest.mark.stops_assistant
def test_ctrl_c_stops_all_three_servers(assistant) -> None:
    process = assistant["process"]
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    # The servers' sockets close as their processes exit; give the kernel a few seconds.
    deadline = time.monotonic() + 10
    while any(port_in_use(port) for port in (PORT, 5055, FRONTDESK_PORT)):
        assert time.monotonic() < deadline, "a server still listens after Ctrl+C"
        time.sleep(0.1)
    # After every other test's conversations, the Rasa server had still imported no
    # TensorFlow (needlecheck/without_tensorflow.py; docs/performance.md).
    reports = [json.loads(p.read_text()) for p in assistant["exit_reports"].glob("*.json")]
    # needlecheck.rasa_server hands Rasa's command line its own argv.
    (rasa,) = [r for r in reports if r["argv"][:2] == ["rasa", "run"]]
    assert "rasa.core.agent" in rasa["modules"] and "spacy" in rasa["modules"]
    assert [m for m in rasa["modules"] if m.partition(".")[0] == "tensorflow"] == []


def test_the_action_server_runs_actions_only_for_the_rasa_server(assistant) -> None:
    secret = (assistant["var"] / "action.secret").read_text().strip()
    # Its health too: the load balancer and the supervisor send the secret.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen("http://127.0.0.1:5055/health", timeout=5)
    assert refused.value.code == 401
    with urllib.request.urlopen(
        health_request("http://127.0.0.1:5055/health", secret), timeout=5
    ) as reply:
        assert reply.status == 200
    body = json.dumps({"next_action": "action_assess_screening", "tracker": {}}).encode()
    # No secret is 401; a wrong one is 403, whatever its bytes (b"\xff\xfe" was a 500
    # whose body showed the codec error).
    for header, status in (
        (None, 401),
        (b"Bearer wrong", 403),
        (f"Basic {secret}".encode(), 403),
        (b"Bearer \xff\xfe", 403),
        ("Bearer é".encode(), 403),
    ):
        connection = http.client.HTTPConnection("127.0.0.1", 5055, timeout=5)
        try:
            connection.putrequest("POST", "/webhook")
            if header is not None:
                connection.putheader("Authorization", header)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            reply = connection.getresponse()
            answer = reply.read()
        finally:
            connection.close()
        assert reply.status == status, header
        assert b"codec" not in answer and b"Traceback" not in answer
    request = urllib.request.Request(
        "http://127.0.0.1:5055/webhook", data=body, headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as error:
        assert error.code != 401  # past the check; the made-up request itself is refused
