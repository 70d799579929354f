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

import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels.limits import body_problem, sender_problem
from needlecheck.security.tokens import bearer_matches


def rest_token(environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("NEEDLECHECK_REST_TOKEN") or None


def authorised(header: str | None, token: str | None) -> bool:
    if token is None:
        return True
    # As bytes (needlecheck.security.tokens): a header that is not ASCII is a 401, not a 500.
    return bearer_matches(header, token)


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
