"""The widget's socket.io channel: the python-socketio >= 5.10 trap, origins, IDs."""

from __future__ import annotations

import asyncio

from needlecheck.channels.limits import WIDGET_SESSION_ID, new_session_id
from needlecheck.channels.web import WebChatOutput, allowed_origins, join


class CoroutineRooms:
    """enter_room as python-socketio 5.10+ has it: a coroutine that must be awaited."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[str]] = {}

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.rooms.setdefault(sid, set()).add(room)


class PlainRooms(CoroutineRooms):
    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:  # type: ignore[override]
        self.rooms.setdefault(sid, set()).add(room)


def test_join_awaits_enter_room_when_it_is_a_coroutine() -> None:
    # Rasa 3.6 calls enter_room without await: on python-socketio 5.10 the socket never
    # joins its session's room and no reply reaches the widget.
    server = CoroutineRooms()
    asyncio.run(join(server, "sid1", "room1", None))
    assert server.rooms == {"sid1": {"room1"}}


def test_join_works_with_the_pinned_python_socketio_too() -> None:
    # The running server on the pinned release is covered by tests/e2e (socket.io tests).
    server = PlainRooms()
    asyncio.run(join(server, "sid1", "room1", None))
    assert server.rooms == {"sid1": {"room1"}}


def test_allowed_origins_default_to_the_front_desk() -> None:
    assert allowed_origins({}) == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert allowed_origins({"NEEDLECHECK_FRONTDESK_PORT": "8095"})[0] == "http://localhost:8095"
    env = {"NEEDLECHECK_ALLOWED_ORIGINS": "https://clinic.example/, https://www.clinic.example"}
    assert allowed_origins(env) == ["https://clinic.example", "https://www.clinic.example"]


def test_session_ids_are_random_and_guessable_ones_are_refused() -> None:
    first, second = new_session_id(), new_session_id()
    assert first != second and WIDGET_SESSION_ID.match(first)
    for guessable in ("1", "alice", "e2e-socket-session", "../../etc/passwd" + "x" * 20):
        assert not WIDGET_SESSION_ID.match(guessable)


def test_a_custom_payload_reaches_the_widget_whole() -> None:
    sent: list[tuple] = []

    class Server:
        async def emit(self, event, data=None, room=None, **kwargs):
            sent.append((event, data, room))

    output = WebChatOutput(Server(), "bot_uttered")
    asyncio.run(output.send_custom_json("s1", {"type": "recommendation", "room": "elsewhere"}))
    assert sent == [
        ("bot_uttered", {"custom": {"type": "recommendation", "room": "elsewhere"}}, "s1")
    ]
