"""The front desk's caller mode: a receptionist runs the screening for someone on the
phone. The front desk server relays what the caller says to this channel
(/webhooks/frontdesk/webhook) with a secret shared by the two servers, and the name of
the staff member, which the screening stores.

The secret is NEEDLECHECK_FRONTDESK_SECRET, or one generated into var/ (config.shared_secret).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels.frontdesk_channel import STAFF, FrontDeskChannel
from needlecheck.channels.limits import CALLER_ID
from needlecheck.text import max_message_length

CHANNEL = "frontdesk"


class CallerInput(FrontDeskChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("needlecheck_frontdesk_webhook", __name__)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.from_front_desk(request):
                return response.json({"error": "not the front desk"}, status=403)
            body = request.json if isinstance(request.json, dict) else {}
            sender, message, staff = body.get("sender"), body.get("message"), body.get("staff")
            if not (isinstance(sender, str) and CALLER_ID.match(sender)):
                return response.json({"error": "sender must be a caller conversation id"}, 400)
            if not (isinstance(staff, str) and STAFF.match(staff)):
                return response.json({"error": "staff must be a staff user name"}, 400)
            if not isinstance(message, str) or not message.strip():
                return response.json({"error": "message must be non-empty text"}, 400)
            if len(message) > max_message_length():
                return response.json({"error": "message is too long"}, 413)
            collector = CollectingOutputChannel()
            await on_new_message(
                UserMessage(
                    message,
                    collector,
                    sender,
                    input_channel=CHANNEL,
                    metadata={"staff": staff},
                )
            )
            return response.json(collector.messages)

        return hook
