"""Live takeover of a widget conversation across the two Rasa instances behind HAProxy:
the person's socket.io connection is pinned to one instance, the front desk's calls are
balanced over both, and the rooms are shared through Redis (needlecheck/channels/rooms.py).

A real socket.io client (the widget's transport, long-polling, through HAProxy), a real
front desk and a member of staff signed in to it."""

from __future__ import annotations

import csv
import io
import json
import queue
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import socketio

from needlecheck.config import shared_secret
from tests.conftest import ARTIFACTS
from tests.frontdesk.conftest import csrf_from, sign_in
from tests.production import services
from tests.production.conftest import BALANCER, BIN, FRONTDESK, RASA, ROOT, STATS, wait_until

pytestmark = [pytest.mark.production, pytest.mark.postgres, pytest.mark.redis]

DESK = f"http://127.0.0.1:{FRONTDESK}"
AGE_QUESTION = "How old are you?"
QUIET = 1.5  # seconds without a message: nothing more is coming


@dataclass
class Widget:
    client: socketio.Client
    received: queue.Queue[dict]
    session_id: str
    # Whether the latest connection has joined the session's room (session_confirm).
    state: dict[str, bool]

    def joined(self) -> bool:
        return self.client.connected and self.state["joined"]

    def say(self, text: str) -> None:
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def replies(self, until: str | None = None, timeout: float = 30) -> list[str]:
        """The assistant's answer: messages until one holds `until` (or the first, without
        it), then until a quiet moment, so that a duplicate would be caught too."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while not got or (until is not None and not any(until in t for t in got)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {until or 'reply'} within {timeout} s: {got}")
            try:
                got.append(text_of(self.received.get(timeout=left)))
            except queue.Empty:
                continue
        return got + self.nothing_more()

    def nothing_more(self, quiet: float = QUIET) -> list[str]:
        """Whatever arrives before `quiet` seconds pass without a message."""
        got: list[str] = []
        while True:
            try:
                got.append(text_of(self.received.get(timeout=quiet)))
            except queue.Empty:
                return got


def text_of(message: dict) -> str:
    return message.get("text") or json.dumps(message)


@contextmanager
def widget() -> Iterator[Widget]:
    """A socket.io client as the widget is one: long-polling through HAProxy, and on every
    (re)connection the session asked for again with its key, which joins its room."""
    client = socketio.Client(reconnection_delay=0.5, reconnection_delay_max=2)
    received: queue.Queue[dict] = queue.Queue()
    keys: queue.Queue[dict] = queue.Queue()
    key: dict[str, str] = {}

    state = {"joined": False}

    def connected() -> None:
        state["joined"] = False
        client.emit("session_request", {"session_key": key.get("session_key")})

    def confirmed(_: str) -> None:
        state["joined"] = True

    def issued(data: dict) -> None:
        key.update(data)
        keys.put(data)

    client.on("connect", connected)
    client.on("bot_uttered", received.put)
    client.on("session_key", issued)
    client.on("session_confirm", confirmed)
    client.connect(f"http://127.0.0.1:{BALANCER}", transports=["polling"])
    try:
        yield Widget(client, received, keys.get(timeout=10)["session_id"], state)
    finally:
        client.disconnect()


def served() -> dict[tuple[str, str], int]:
    """HAProxy's count of sessions per backend and server."""
    with urllib.request.urlopen(f"http://127.0.0.1:{STATS}/stats;csv", timeout=5) as reply:
        rows = list(csv.DictReader(io.StringIO(reply.read().decode().lstrip("# "))))
    return {
        (row["pxname"], row["svname"]): int(row["stot"] or 0)
        for row in rows
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }


def add_staff(env: dict, username: str, password: str) -> None:
    added = subprocess.run(
        [str(BIN), "staff", "add", username, "--role", "front_desk", "--password-stdin"],
        input=password + "\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr


def say_directly(port: int, secret: str, sender: str, text: str) -> dict:
    """The takeover channel's `say` on one instance, past the load balancer."""
    with httpx.Client(timeout=30) as client:
        return say_with(client, port, secret, sender, text)


def say_with(client: httpx.Client, port: int, secret: str, sender: str, text: str) -> dict:
    reply = client.post(
        f"http://127.0.0.1:{port}/webhooks/takeover/say",
        json={"sender": sender, "staff": "tess", "text": text},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_staff_reply_to_a_widget_from_either_instance_and_hand_back(healthy) -> None:
    add_staff(healthy["env"], "tess", "takeover passphrase 21")
    secret = shared_secret(healthy["var"], healthy["env"])
    timings: dict[str, list[float]] = {
        "front_desk_reply": [],
        "direct_reply_socket_instance": [],
        "direct_reply_other_instance": [],
    }
    pinned_before = served()
    with (
        widget() as person,
        httpx.Client(base_url=DESK, timeout=30) as desk,
        httpx.Client(timeout=30) as direct,
    ):
        conversation = person.session_id
        person.say("hi")
        assert person.replies()
        person.say("yes")
        assert person.replies()
        person.say("none of these")
        assert person.replies(until=AGE_QUESTION)
        # The instance holding the socket: the one HAProxy's pinned backend sent it to.
        pinned_after = served()
        (socket_instance,) = [
            server
            for server in ("rasa1", "rasa2")
            if pinned_after[("rasa_pinned", server)] > pinned_before[("rasa_pinned", server)]
        ]

        assert sign_in(desk, "tess", "takeover passphrase 21").status_code == 303
        token = csrf_from(desk.get("/").text)
        taken = desk.post(f"/takeover/{conversation}", data={"csrf_token": token})
        assert taken.status_code == 303, taken.text

        # The person's message during the takeover reaches the front desk, and the
        # assistant stays silent.
        person.say("I have a question about numbing cream first")
        assert person.nothing_more(3.0) == []

        def seen() -> dict | None:
            state = desk.get(f"/api/takeover/{conversation}").json()
            said = [m["text"] for m in state["messages"] if m["speaker"] == "person"]
            return state if any("numbing cream" in t for t in said) else None

        wait_until(seen, "the person's message at the front desk", 20)
        state = seen()
        assert state["paused"] is True and state["channel"] == "socketio"

        # Staff reply through the front desk, which the load balancer sends to either
        # instance: every reply arrives once, in order.
        before = served()
        sent_texts = []
        for number in range(8):
            text = f"Tess here ({number}): numbing cream is applied at the clinic."
            started = time.perf_counter()
            reply = desk.post(
                f"/api/takeover/{conversation}/messages",
                json={"text": text},
                headers={"X-CSRF-Token": token},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json() == {"delivered": 1, "channel": "socketio"}
            assert person.received.get(timeout=10)["text"] == text
            timings["front_desk_reply"].append(time.perf_counter() - started)
            sent_texts.append(text)
        after = served()
        # Both instances answered some of the front desk's calls.
        for server in ("rasa1", "rasa2"):
            assert after[("rasa", server)] > before[("rasa", server)], (before, after)
        # ... and each instance's takeover channel, called directly, reaches the socket.
        for number, port in enumerate(RASA, start=1):
            where = "socket" if f"rasa{number}" == socket_instance else "other"
            for attempt in range(5):
                text = f"From :{port}, message {attempt}."
                started = time.perf_counter()
                assert say_with(direct, port, secret, conversation, text) == {
                    "delivered": 1,
                    "channel": "socketio",
                }
                assert person.received.get(timeout=10)["text"] == text
                timings[f"direct_reply_{where}_instance"].append(time.perf_counter() - started)
                sent_texts.append(text)
        # Exactly once: nothing more arrives, no duplicate.
        assert person.nothing_more(3.0) == []
        state = desk.get(f"/api/takeover/{conversation}").json()
        staff_lines = [m["text"] for m in state["messages"] if m["speaker"] == "staff"]
        assert staff_lines == sent_texts

        # Handed back: the assistant asks its open question again, on the widget, and
        # answers the person's next message.
        back = desk.post(
            f"/takeover/{conversation}/hand-back",
            data={"csrf_token": token, "ending": "continue"},
        )
        assert back.status_code == 303, back.text
        # In its own words: the person talked with staff, and was not misunderstood.
        assert person.replies(until=AGE_QUESTION)
        person.say("I am 29")
        assert person.replies(until="area")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "takeover-production-timings.json").write_text(
        json.dumps(
            {
                name: {
                    "n": len(values),
                    "median_ms": round(statistics.median(values) * 1000, 1),
                    "max_ms": round(max(values) * 1000, 1),
                }
                for name, values in timings.items()
            }
            | {"socket_instance": socket_instance}
        )
    )


@pytest.mark.faults
def test_with_redis_down_a_widget_reply_fails_loudly_and_works_again_after(healthy) -> None:
    add_staff(healthy["env"], "rhea", "takeover passphrase 22")
    secret = shared_secret(healthy["var"], healthy["env"])
    with widget() as person, httpx.Client(base_url=DESK, timeout=40) as desk:
        conversation = person.session_id
        person.say("hi")
        assert person.replies()
        assert sign_in(desk, "rhea", "takeover passphrase 22").status_code == 303
        token = csrf_from(desk.get("/").text)
        assert desk.post(f"/takeover/{conversation}", data={"csrf_token": token}).status_code == 303
        with services.redis_down():
            reply = desk.post(
                f"/api/takeover/{conversation}/messages",
                json={"text": "Are you still there?"},
                headers={"X-CSRF-Token": token},
            )
            # Refused with a reason (Redis holds the lock store too: the instance says so,
            # or the load balancer when no instance is ready), not stored as sent.
            assert reply.status_code == 503, reply.text
            assert any(
                reason in reply.json()["detail"]
                for reason in ("lock store is not answering", "assistant is unavailable")
            ), reply.text
        wait_until(lambda: all(_ready(port) for port in RASA), "instances ready again", 60)
        # The widget reconnects (its polls failed while no instance was ready) and joins
        # its room again.
        wait_until(person.joined, "the widget back in its room", 60)
        # Back: the instances' listeners have subscribed again; a reply from each arrives.
        for port in RASA:
            text = f"Back from :{port}."
            answered = wait_until(
                lambda port=port, text=text: (
                    say_directly(port, secret, conversation, text)["delivered"] == 1
                ),
                f"a reply through :{port} after Redis came back",
                10,
            )
            assert answered < 10
            got = [person.received.get(timeout=10)["text"]]
            assert got[-1] == text
        # Only delivered replies arrived, once: nothing is left over.
        assert person.nothing_more(3.0) == []
        state = desk.get(f"/api/takeover/{conversation}").json()
        assert "Are you still there?" not in [m["text"] for m in state["messages"]]
        back = desk.post(
            f"/takeover/{conversation}/hand-back", data={"csrf_token": token, "ending": "end"}
        )
        assert back.status_code == 303
        assert person.replies(until="closed")


def _ready(port: int) -> bool:
    from tests.production.conftest import ready

    return ready(port)
