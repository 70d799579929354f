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


class Widgets:
    """The channel's socket.io handlers, driven without a network: sockets connect from an
    address, open sessions and send messages, as a script holding one websocket would."""

    def __init__(self, monkeypatch, **env: str) -> None:
        from needlecheck.channels.web import WebChatInput

        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("NEEDLECHECK_TRUSTED_PROXIES", raising=False)
        self.processed: list[tuple[str, str]] = []
        self.emitted: list[tuple[str, object, object]] = []
        self.joined: dict[str, set[str]] = {}

        async def on_new_message(message) -> None:
            self.processed.append((message.sender_id, message.text))

        channel = WebChatInput(session_persistence=True)
        channel.blueprint(on_new_message)
        sio = channel.sio

        async def emit(event, data=None, room=None, **kwargs) -> None:
            self.emitted.append((event, data, room))

        async def enter_room(sid, room, namespace=None) -> None:
            self.joined.setdefault(sid, set()).add(room)

        monkeypatch.setattr(sio, "emit", emit)
        monkeypatch.setattr(sio, "enter_room", enter_room)
        monkeypatch.setattr(sio, "rooms", lambda sid, namespace=None: self.joined.get(sid, set()))
        self.handlers = sio.handlers["/"]

    def call(self, event: str, *args):
        return asyncio.run(self.handlers[event](*args))

    def connect(self, sid: str, ip: str, forwarded: str | None = None) -> None:
        from types import SimpleNamespace

        from sanic.compat import Header

        headers = Header([("x-forwarded-for", forwarded)] if forwarded else [])
        request = SimpleNamespace(ip=ip, headers=headers)
        assert self.call("connect", sid, {"sanic.request": request, "REMOTE_ADDR": "127.0.0.1"})

    def new_session(self, sid: str, **request: str) -> str:
        self.call("session_request", sid, request)
        event, session, _ = self.emitted[-1]
        assert event == "session_confirm"
        return session

    def key_of(self, session: str) -> str:
        (key,) = [
            data["session_key"]
            for event, data, _ in self.emitted
            if event == "session_key" and data["session_id"] == session
        ]
        return key

    def say(self, sid: str, session: str, text: str) -> None:
        self.call("user_uttered", sid, {"message": text, "session_id": session})


def test_one_connection_cannot_multiply_its_budget_by_opening_sessions(monkeypatch) -> None:
    from needlecheck.text import polite

    widgets = Widgets(monkeypatch, NEEDLECHECK_SENDER_RATE="5/60")
    widgets.connect("socket-1", "203.0.113.5")
    # The probe: 10 new sessions of a few messages each over one websocket.
    for round_ in range(10):
        session = widgets.new_session("socket-1")
        for n in range(3):
            widgets.say("socket-1", session, f"message {round_}.{n}")
    assert len(widgets.processed) == 5
    slowed = [data for event, data, _ in widgets.emitted if event == "bot_uttered"]
    assert len(slowed) == 25 and all(data == {"text": polite("too_fast")} for data in slowed)
    # Another connection has a budget of its own.
    widgets.connect("socket-2", "198.51.100.7")
    widgets.say("socket-2", widgets.new_session("socket-2"), "hello")
    assert widgets.processed[-1] == (widgets.emitted[-1][1], "hello")


def test_connections_from_one_address_share_its_budget(monkeypatch) -> None:
    widgets = Widgets(monkeypatch, NEEDLECHECK_SENDER_RATE="5/60", NEEDLECHECK_ADDRESS_RATE="8/60")
    for n in range(4):
        # The header is not believed: no proxy is configured, as under `make run`.
        widgets.connect(f"socket-{n}", "203.0.113.5", forwarded=f"198.51.100.{n}")
        session = widgets.new_session(f"socket-{n}")
        for m in range(5):
            widgets.say(f"socket-{n}", session, f"message {n}.{m}")
    assert len(widgets.processed) == 8
    widgets.connect("socket-elsewhere", "192.0.2.44")
    widgets.say("socket-elsewhere", widgets.new_session("socket-elsewhere"), "hello")
    assert widgets.processed[-1][1] == "hello"


def test_a_session_is_resumed_with_its_key_and_never_with_its_id_alone(monkeypatch) -> None:
    widgets = Widgets(monkeypatch)
    widgets.connect("person", "203.0.113.5")
    session = widgets.new_session("person")
    key = widgets.key_of(session)
    assert WIDGET_SESSION_ID.match(session) and WIDGET_SESSION_ID.match(key) and key != session
    widgets.say("person", session, "I am 34")
    # Someone who saw the ID (in the front desk, a store, a log) asks for that session.
    widgets.connect("stranger", "198.51.100.7")
    other = widgets.new_session("stranger", session_id=session)
    assert other != session
    widgets.say("stranger", session, "actually I am 5")
    widgets.call("session_request", "stranger", {"session_id": session, "session_key": "x" * 30})
    assert widgets.emitted[-1][1] != session
    widgets.say("stranger", session, "actually I am 5")
    assert widgets.processed == [(session, "I am 34")]
    # The widget, after a reload or in a second tab, sends the key it kept.
    widgets.connect("person-again", "203.0.113.5")
    assert widgets.new_session("person-again", session_id=session, session_key=key) == session
    widgets.say("person-again", session, "and I use retinol")
    assert widgets.processed[-1] == (session, "and I use retinol")
