"""Rasa's REST channel (POST /webhooks/rest/webhook), closed by default where it matters.

Rasa's own takes the sender ID, the channel name and metadata from the request body and
checks nothing, so whoever reaches it can speak as any conversation. Here:
- with NEEDLECHECK_REST_TOKEN set, a request must carry `Authorization: Bearer <token>`
  (compared in constant time), or it gets 401; in production the channel is off unless
  the token is set (needlecheck.channels.settings);
- a body that is not {"sender": ..., "message": ...} of the right shapes gets 400 with the
  reason, instead of Rasa's 500;
- the channel name is always "rest" and the body's metadata is dropped, so nothing sent
  here can pose as what a server-side channel vouches for (the caller mode's staff member);
- a sender ID shaped like another channel's conversation IDs gets 400: the widget's
  session IDs, the front desk's caller IDs, phone numbers (SMS, WhatsApp) and the numeric
  IDs of Messenger, Instagram and Telegram. Without that, whoever holds (or guesses) such
  an ID could read the next question of that person's conversation and answer it.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels.limits import body_problem

# Every other channel's conversation IDs are made of letters, digits, "_" and "-" only:
# the widget's sessions (22 or more; socket.io's own connection IDs, used without session
# persistence, 20), the caller mode's "frontdesk-...", and phone numbers and numeric IDs
# ("+447700900123", "whatsapp:+44...", "-1001234", "17841400000000000").
OTHER_CHANNEL_IDS = (
    ("a chat widget session", re.compile(r"^[A-Za-z0-9_-]{20,}$")),
    ("a front desk caller", re.compile(r"^frontdesk-", re.IGNORECASE)),
    ("a phone number or a messaging app's user", re.compile(r"^(whatsapp:)?[+-]?[0-9]+$")),
    ("a WhatsApp number", re.compile(r"^whatsapp:", re.IGNORECASE)),
)


def sender_problem(sender: str) -> str | None:
    """Why a REST sender ID may not be used, or None: REST conversations are kept apart
    from every other channel's, so a REST request cannot reach one of theirs."""
    for what, shape in OTHER_CHANNEL_IDS:
        if shape.match(sender):
            return (
                f"'sender' is shaped like {what}'s conversation ID, which the REST channel "
                "does not take: use an ID of under 20 characters, or one with a '.', ':', "
                "'@' or '=' in it, that does not start with 'frontdesk-' or 'whatsapp:' and "
                "is not a number"
            )
    return None


def rest_token(environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("NEEDLECHECK_REST_TOKEN") or None


def authorised(header: str | None, token: str | None) -> bool:
    if token is None:
        return True
    return header is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("needlecheck_rest_webhook", __name__)
        token = rest_token()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not authorised(request.headers.get("authorization"), token):
                return response.json({"error": "missing or wrong REST channel token"}, 401)
            try:
                body = request.json
            except Exception:  # Sanic raises on a body that is not JSON
                body = None
            problem = body_problem(body) or sender_problem(body["sender"])
            if problem:
                return response.json({"error": problem}, status=400)
            collector = CollectingOutputChannel()
            await on_new_message(
                UserMessage(body["message"], collector, body["sender"], input_channel=self.name())
            )
            return response.json(collector.messages)

        return hook
