"""A JSON webhook for text-only front ends: replies carry no buttons, only numbered options.

POST /webhooks/text/webhook {"sender": "...", "message": "..."} answers
[{"recipient_id": ..., "text": ...}, ...]. A reply "2" picks the second option of the
assistant's previous message. SMS and messaging gateways build on this channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels import numbered
from needlecheck.channels.limits import body_problem, sender_problem
from needlecheck.channels.messaging import previous_buttons

logger = logging.getLogger(__name__)


class NumberedOutputChannel(CollectingOutputChannel):
    @classmethod
    def name(cls) -> str:
        return TextInput.name()

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_message(recipient_id, numbered.render(text, buttons))

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)


class TextInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "text"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("needlecheck_text_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.json if request.content_type.startswith("application/json") else None
            problem = body_problem(body) or sender_problem(body["sender"])
            if problem:
                return response.json({"error": problem}, status=400)
            sender, text = body["sender"], body["message"]
            text = numbered.resolve(text, await previous_buttons(request, sender))
            collector = NumberedOutputChannel()
            await on_new_message(UserMessage(text, collector, sender, input_channel=self.name()))
            return response.json(collector.messages)

        return hook
