"""The front desk's side of a live takeover, beside a stand-in for the Rasa server's
takeover channel: taking over (one member at a time), the page, the polled state,
replies, hand-back, refusals and the audit log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from needlecheck.frontdesk.routes import takeover as takeover_routes
from needlecheck.store.models import AuditEntry, HandoffRequest, Takeover
from tests.frontdesk.conftest import csrf_from, sign_in
from tests.frontdesk.support import PASSWORDS, add_handoff

CONVERSATION = "a1b2c3d4e5f6a7b8c9d0e1f2g3"


class FakeChannel:
    """What the Rasa server's takeover channel answers, and what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.paused = False
        self.fail: dict[str, takeover_routes.RelayError] = {}
        self.lines: list[dict[str, Any]] = [
            {"index": 3, "speaker": "person", "staff": None, "text": "I'd like a person", "at": 1.0}
        ]

    def __call__(self, settings, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, body))
        if operation in self.fail:
            raise self.fail[operation]
        if operation == "pause":
            self.paused = True
            return {"paused": True, "channel": "socketio"}
        if operation == "say":
            self.lines.append(
                {
                    "index": len(self.lines) + 10,
                    "speaker": "staff",
                    "staff": body["staff"],
                    "text": body["text"],
                    "at": 2.0,
                }
            )
            return {"delivered": 1, "channel": "socketio"}
        if operation == "resume":
            self.paused = False
            return {
                "resumed": True,
                "asked": "action_ask_age",
                "delivered": 1,
                "channel": "socketio",
            }
        return {
            "paused": self.paused,
            "channel": "socketio",
            "messages": self.lines,
            "outcome": "defer",
            "findings": [
                {"rule": "DF-ISOTRETINOIN", "severity": "defer", "reason": "heals slowly"}
            ],
            "answered": 4,
        }


@pytest.fixture
def channel(monkeypatch) -> FakeChannel:
    fake = FakeChannel()
    monkeypatch.setattr(takeover_routes, "relay", fake)
    return fake


@contextmanager
def client_for(desk, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=desk.url, timeout=20) as client:
        assert sign_in(client, user, PASSWORDS[user]).status_code == 303
        yield client


def test_take_over_talk_and_hand_back(desk, channel) -> None:
    handoff = add_handoff(desk.sessions, CONVERSATION)
    with client_for(desk, "bob") as bob:
        page = bob.get(f"/handoffs/{handoff}")
        assert "Take over" in page.text
        token = csrf_from(page.text)
        taken = bob.post(
            f"/takeover/{CONVERSATION}", data={"csrf_token": token, "handoff_id": handoff}
        )
        assert taken.status_code == 303 and taken.headers["location"] == f"/takeover/{CONVERSATION}"
        assert channel.calls == [("pause", {"sender": CONVERSATION})]
        page = bob.get(f"/takeover/{CONVERSATION}")
        assert "You have taken over" in page.text and "Hand back" in page.text
        state = bob.get(f"/api/takeover/{CONVERSATION}").json()
        assert state["holder"] == "bob" and state["paused"] is True
        assert state["findings"][0]["rule"] == "DF-ISOTRETINOIN"
        sent = bob.post(
            f"/api/takeover/{CONVERSATION}/messages",
            json={"text": "  Hello, this is Bob at the clinic.  "},
            headers={"X-CSRF-Token": token},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"delivered": 1, "channel": "socketio"}
        assert channel.calls[-1] == (
            "say",
            {"sender": CONVERSATION, "staff": "bob", "text": "Hello, this is Bob at the clinic."},
        )
        back = bob.post(
            f"/takeover/{CONVERSATION}/hand-back", data={"csrf_token": token, "ending": "continue"}
        )
        assert back.status_code == 303
        assert channel.calls[-1] == (
            "resume",
            {"sender": CONVERSATION, "staff": "bob", "mode": "continue"},
        )
        # Handed back: nothing more can be sent, and the page offers to take over again.
        again = bob.post(
            f"/api/takeover/{CONVERSATION}/messages",
            json={"text": "still there?"},
            headers={"X-CSRF-Token": token},
        )
        assert again.status_code == 409
        assert "Take over" in bob.get(f"/takeover/{CONVERSATION}").text
    with desk.sessions.begin() as session:
        actions = [
            (e.action, e.staff_username, e.detail)
            for e in session.execute(
                select(AuditEntry)
                .where(AuditEntry.record_type == "takeover")
                .order_by(AuditEntry.id)
            ).scalars()
            if e.action != "view"
        ]
        assert actions == [
            ("takeover", "bob", "channel socketio"),
            ("takeover_message", "bob", "message 1, delivered"),
            ("hand_back", "bob", "continue: action_ask_age"),
        ]
        # The audit never holds the words; the stored words are encrypted.
        assert not any("Hello" in (detail or "") for _, _, detail in actions)
        stored = session.execute(text("SELECT text FROM takeover_messages")).scalar_one()
        assert "Bob" not in stored
        assert session.get(HandoffRequest, handoff).status == "in_progress"
        (ended,) = session.execute(select(Takeover)).scalars()
        assert (ended.ending, ended.handoff_id, ended.channel) == ("continue", handoff, "socketio")


def test_a_second_member_is_told_who_has_it_even_pressing_together(desk, channel) -> None:
    with client_for(desk, "alice") as alice, client_for(desk, "bob") as bob:
        tokens = {
            "alice": csrf_from(alice.get("/").text),
            "bob": csrf_from(bob.get("/").text),
        }
        barrier = threading.Barrier(2)
        answers: dict[str, httpx.Response] = {}

        def press(name: str, client: httpx.Client) -> None:
            barrier.wait()
            answers[name] = client.post(
                f"/takeover/{CONVERSATION}", data={"csrf_token": tokens[name]}
            )

        threads = [
            threading.Thread(target=press, args=("alice", alice)),
            threading.Thread(target=press, args=("bob", bob)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        codes = sorted(answer.status_code for answer in answers.values())
        assert codes == [303, 409], {k: v.text for k, v in answers.items()}
        (winner,) = [name for name, answer in answers.items() if answer.status_code == 303]
        (loser,) = [name for name, answer in answers.items() if answer.status_code == 409]
        assert f"{winner} has already taken over this conversation" in answers[loser].text
        # The one who lost sees who has it and cannot write.
        lost = (alice if loser == "alice" else bob).get(f"/takeover/{CONVERSATION}")
        assert f"<strong>{winner}</strong> has taken over" in lost.text
        refused = (alice if loser == "alice" else bob).post(
            f"/api/takeover/{CONVERSATION}/messages",
            json={"text": "hi"},
            headers={"X-CSRF-Token": tokens[loser]},
        )
        assert refused.status_code == 409


def test_nobody_holds_it_when_the_assistant_cannot_be_paused(desk, channel) -> None:
    channel.fail["pause"] = takeover_routes.RelayError(503, "the assistant is not reachable")
    with client_for(desk, "bob") as bob:
        token = csrf_from(bob.get("/").text)
        answer = bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": token})
        assert answer.status_code == 503
        assert (
            bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": "wrong"}).status_code == 403
        )
    with desk.sessions.begin() as session:
        assert session.execute(select(Takeover)).first() is None
    channel.fail.clear()
    with client_for(desk, "bob") as bob:
        # Never taken over: nothing to show, and the assistant is not asked.
        assert bob.get(f"/api/takeover/{CONVERSATION}").status_code == 404
        assert [op for op, _ in channel.calls] == ["pause"]
        token = csrf_from(bob.get("/").text)
        assert bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": token}).status_code == 303
        channel.fail["messages"] = takeover_routes.RelayError(404, "no such conversation")
        assert bob.get(f"/api/takeover/{CONVERSATION}").status_code == 404
        assert bob.get("/api/takeover/bad%20id").status_code == 404


def test_the_relay_sends_the_shared_secret_and_reads_refusals(desk) -> None:
    # The real relay against the stand-in Rasa server: its POST answer is a list, not
    # what the takeover channel answers, so the front desk says the assistant refused.
    from needlecheck.config import Settings

    desk.rasa.replies = []
    with pytest.raises(takeover_routes.RelayError) as refused:
        takeover_routes.relay(Settings.from_environment(), "messages", {"sender": CONVERSATION})
    assert refused.value.status == 502
    assert "POST /webhooks/takeover/messages" in desk.rasa.asked
    desk.rasa.status["POST"] = 409
    with pytest.raises(takeover_routes.RelayError) as conflict:
        takeover_routes.relay(Settings.from_environment(), "say", {"sender": CONVERSATION})
    assert conflict.value.status == 409


def test_a_failed_hand_back_keeps_the_takeover_held_says_so_and_can_be_retried(
    desk, channel
) -> None:
    with client_for(desk, "bob") as bob:
        token = csrf_from(bob.get("/").text)
        assert bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": token}).status_code == 303
        channel.fail["resume"] = takeover_routes.RelayError(503, "the assistant is not reachable")
        failed = bob.post(
            f"/takeover/{CONVERSATION}/hand-back",
            data={"csrf_token": token, "ending": "continue"},
            headers={"Accept": "text/html"},
        )
        # The staff member is told, on the takeover page, with the button to try again.
        assert failed.status_code == 503
        assert "Not handed back: the assistant is not reachable" in failed.text
        assert "You still hold this conversation" in failed.text
        assert "Hand back to the assistant" in failed.text
        # Still held, and still theirs: replies go on, nobody else can take it.
        with desk.sessions.begin() as session:
            (held,) = session.execute(select(Takeover)).scalars()
            assert held.active_conversation is not None and held.ended_at is None
        assert bob.get(f"/api/takeover/{CONVERSATION}").json()["holder"] == "bob"
        # An answer the Rasa server refused (500): the same, as JSON for a script.
        channel.fail["resume"] = takeover_routes.RelayError(500, "boom")
        scripted = bob.post(
            f"/takeover/{CONVERSATION}/hand-back", data={"csrf_token": token, "ending": "end"}
        )
        assert scripted.status_code == 502
        assert scripted.json()["detail"].startswith("Not handed back: the assistant refused")
        # The retry succeeds and lets go.
        channel.fail.clear()
        back = bob.post(
            f"/takeover/{CONVERSATION}/hand-back", data={"csrf_token": token, "ending": "continue"}
        )
        assert back.status_code == 303
        assert [op for op, _ in channel.calls].count("resume") == 3
    with desk.sessions.begin() as session:
        (ended,) = session.execute(select(Takeover)).scalars()
        assert ended.active_conversation is None and ended.ending == "continue"
        hand_backs = session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "hand_back")
        ).all()
        assert [detail for (detail,) in hand_backs] == ["continue: action_ask_age"]


def test_a_conversation_the_assistant_no_longer_knows_is_let_go(desk, channel) -> None:
    # Rasa's store lost it (404): nothing is paused there, so holding it helps nobody.
    with client_for(desk, "bob") as bob:
        token = csrf_from(bob.get("/").text)
        assert bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": token}).status_code == 303
        channel.fail["resume"] = takeover_routes.RelayError(404, "no such conversation")
        back = bob.post(
            f"/takeover/{CONVERSATION}/hand-back", data={"csrf_token": token, "ending": "continue"}
        )
        assert back.status_code == 303
    with desk.sessions.begin() as session:
        (ended,) = session.execute(select(Takeover)).scalars()
        assert ended.active_conversation is None
        (detail,) = session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "hand_back")
        ).one()
        assert detail == "continue: the assistant does not know the conversation"


def test_a_takeover_erased_while_the_assistant_resumes_is_a_409_not_a_crash(desk, channel) -> None:
    with client_for(desk, "bob") as bob:
        token = csrf_from(bob.get("/").text)
        assert bob.post(f"/takeover/{CONVERSATION}", data={"csrf_token": token}).status_code == 303
        resume = channel.__call__

        def erased_meanwhile(settings, operation: str, body: dict[str, Any]) -> dict[str, Any]:
            if operation == "resume":  # a clinician erases the conversation just then
                with desk.sessions.begin() as session:
                    session.execute(text("DELETE FROM takeover_messages"))
                    session.execute(text("DELETE FROM takeovers"))
            return resume(settings, operation, body)

        takeover_routes.relay = erased_meanwhile
        try:
            back = bob.post(
                f"/takeover/{CONVERSATION}/hand-back",
                data={"csrf_token": token, "ending": "continue"},
            )
        finally:
            takeover_routes.relay = channel
        assert back.status_code == 409
        assert "no longer exists" in back.text
