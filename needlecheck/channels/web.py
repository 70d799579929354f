"""The website chat widget's channel: Rasa's socket.io channel, made safe to expose.

Changes from Rasa 3.6's `SocketIOInput`, same path (/socket.io) and events:
- `enter_room` is awaited when it is a coroutine (python-socketio >= 5.10): Rasa 3.6 does
  not, so with `session_persistence` no bot message would ever reach the widget;
- only the origins in NEEDLECHECK_ALLOWED_ORIGINS may connect (Rasa allows every one);
- a session is resumed only with the key its ID is derived from, which only the widget
  keeps (`widget_session`): an ID alone, guessable or not, gets a fresh session and key;
- a message is accepted only from a socket that joined that session, and must be text;
- messages are counted per connection and per client address as well as per sender
  (Rasa's guard): one socket could otherwise open new sessions and get each one's full
  sender budget;
- the browser's metadata is dropped;
- a custom payload (the recommendation card) reaches the widget whole, under "custom";
- in production, rooms are shared by the Rasa instances through Redis (`rooms.py`).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from needlecheck.channels.rooms import RoomsUnavailable, rooms_manager
from needlecheck.channels.widget_session import new_session, resumed_session
from needlecheck.config import Settings
from needlecheck.security.ratelimit import (
    RateLimiter,
    address_rate,
    client_address,
    forwarded_for,
    sender_rate,
    trusted_proxies,
)
from needlecheck.text import polite

logger = logging.getLogger(__name__)


def allowed_origins(environ: dict[str, str] | None = None) -> list[str]:
    return Settings.from_environment(environ).widget_origins


def socket_address(environ: dict, proxies: frozenset[str]) -> str:
    """The client address of a socket.io connection. python-socketio's Sanic driver writes
    REMOTE_ADDR as 127.0.0.1 whoever connects, so it comes from Sanic's request."""
    request = environ.get("sanic.request")
    if request is None:
        return "unknown"
    return client_address(request.ip, forwarded_for(request.headers), proxies)


class SocketBudgets:
    """The message budgets of socket.io connections: each connection gets a sender's
    budget (NEEDLECHECK_SENDER_RATE) whatever sessions it opens, and each client address
    an address's (NEEDLECHECK_ADDRESS_RATE) across all its connections."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.per_connection = RateLimiter(sender_rate(environ))
        self.per_address = RateLimiter(address_rate(environ))
        self.proxies = trusted_proxies(environ)
        self.addresses: dict[str, str] = {}

    def connected(self, sid: str, environ: dict) -> None:
        self.addresses[sid] = socket_address(environ, self.proxies)

    def disconnected(self, sid: str) -> None:
        self.addresses.pop(sid, None)

    def allow(self, sid: str) -> bool:
        if not self.per_connection.allow(sid)[0]:
            return False
        return self.per_address.allow(self.addresses.get(sid, "unknown"))[0]


async def join(sio: Any, sid: str, room: str, namespace: str | None) -> None:
    """Join a room on every python-socketio: `enter_room` became a coroutine in 5.10."""
    joined = sio.enter_room(sid, room, namespace=namespace)
    if inspect.isawaitable(joined):
        await joined


class WebChatOutput(SocketIOOutput):
    """`strict`: a message the shared rooms could not hand over raises RoomsUnavailable
    (a staff reply, which must say it was not delivered). Otherwise it is logged
    (rooms.py) and the turn goes on: raised inside Rasa's turn, it would lose the
    person's message and the conversation's state with it."""

    def __init__(self, sio: Any, bot_message_evt: str, strict: bool = False) -> None:
        super().__init__(sio, bot_message_evt)
        self.strict = strict

    async def _send_message(self, socket_id: str, response: Any) -> None:
        try:
            await super()._send_message(socket_id, response)
        except RoomsUnavailable:
            if self.strict:
                raise

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        # Rasa spreads a custom payload into emit()'s arguments (so a "room" key would
        # choose the recipient); the widget gets it whole, under "custom".
        await self._send_message(recipient_id, {"custom": json_message})


class WebChatInput(SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Production shares the rooms through Redis, so any instance reaches any socket
        # (a takeover's staff reply); one instance keeps them in memory (rooms.py).
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=allowed_origins(),
            client_manager=rooms_manager(os.environ),
        )
        hook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace
        budgets = SocketBudgets()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            budgets.connected(sid, environ)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str) -> None:
            budgets.disconnected(sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            # A session is resumed only with its key; an ID alone (a staff member, a log
            # or a database may have seen it) gets a new session (widget_session).
            key = data.get("session_key") if isinstance(data, dict) else None
            session_id = resumed_session(key)
            if session_id is None:
                session_id, key = new_session()
                await sio.emit(
                    "session_key",
                    {"session_id": session_id, "session_key": key},
                    room=sid,
                    namespace=namespace,
                )
            if self.session_persistence:
                await join(sio, sid, session_id, namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                logger.warning("socket.io: a message without text was ignored")
                return
            if self.session_persistence:
                session_id = data.get("session_id")
                if not isinstance(session_id, str) or session_id not in sio.rooms(
                    sid, namespace=namespace
                ):
                    logger.warning("socket.io: a message for a session not joined was ignored")
                    return
            else:
                session_id = sid
            output = WebChatOutput(sio, self.bot_message_evt)
            text = data["message"]
            if not text.strip():
                return
            if not budgets.allow(sid):
                logger.warning("socket.io: a message was refused: over the connection's rate")
                await output.send_text_message(session_id, polite("too_fast"))
                return
            # The browser's metadata is not passed on: nothing a visitor sends may pose as
            # what a server-side channel vouches for (the front desk's staff member).
            await on_new_message(UserMessage(text, output, session_id, input_channel=self.name()))

        return hook
