"""SMS and WhatsApp through Twilio, on Rasa's webhook path /webhooks/twilio/webhook.

Unlike Rasa's stock connector, every request must carry a valid `X-Twilio-Signature`
(checked with twilio's own RequestValidator over NEEDLECHECK_PUBLIC_URL + path), replies
are sent without blocking the server, and STOP/START/HELP are honoured.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator

from needlecheck.channels import ledger
from needlecheck.channels.delivery import Outgoing, split_text
from needlecheck.channels.messaging import Inbound, MessagingInput, Rejected, numbered_text

logger = logging.getLogger(__name__)

# Twilio's own limit for one message body; longer ones are split.
BODY_LIMIT = 1600
# Twilio's and the carriers' opt-out keywords (case-insensitive, the whole message).
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
START_WORDS = {"start", "unstop", "yes"}
HELP_WORDS = {"help", "info"}


def form_of(request: Request) -> dict[str, str]:
    """The posted form with its empty fields: Twilio signs them too (Sanic drops them)."""
    try:
        return dict(parse_qsl((request.body or b"").decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise Rejected(400, "the form is not UTF-8") from None


class TwilioInput(MessagingInput):
    @classmethod
    def name(cls) -> str:
        return "twilio"

    def verify(self, request: Request) -> None:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            raise Rejected(403, "X-Twilio-Signature is missing")
        url = self.settings.public_url + request.path
        if request.query_string:
            url += "?" + request.query_string
        params = form_of(request)
        validator = RequestValidator(self.settings["TWILIO_AUTH_TOKEN"])
        if not validator.validate(url, params, signature):
            raise Rejected(403, "X-Twilio-Signature does not match")

    def parse(self, request: Request) -> list[Inbound]:
        form = form_of(request)
        sender = form.get("From")
        if not sender:
            raise Rejected(400, "From is missing")
        if form.get("MessageStatus") and not form.get("Body") and not form.get("NumMedia"):
            return []  # a delivery status callback, not a message
        whatsapp = sender.startswith("whatsapp:")
        body = form.get("ButtonPayload") or form.get("Body") or ""
        media = int(form.get("NumMedia") or 0)
        return [
            Inbound(
                sender=sender,
                channel="whatsapp" if whatsapp else "sms",
                message_id=form.get("MessageSid") or form.get("SmsSid"),
                text=body if body.strip() or not media else None,
                reply={"from": form.get("To") or self.settings["TWILIO_NUMBER"]},
            )
        ]

    def webhook_answer(self) -> HTTPResponse:
        # An empty TwiML answer: replies go through the API, with retries.
        return response.text(
            '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
            content_type="text/xml",
        )

    async def before_turn(self, inbound: Inbound) -> list[dict[str, Any]] | None:
        word = (inbound.text or "").strip().casefold()
        if word in STOP_WORDS:
            try:
                await ledger.set_opt_out(self.sessions, self.name(), inbound.sender, True)
            except SQLAlchemyError as error:  # Twilio's own opt-out still holds
                logger.error("twilio: could not store an opt-out: %s", type(error).__name__)
            return []  # Twilio sends the carrier-required confirmation itself
        if word in START_WORDS and await ledger.is_opted_out(
            self.sessions, self.name(), inbound.sender
        ):
            await ledger.set_opt_out(self.sessions, self.name(), inbound.sender, False)
            return [{"text": self.text("help")}]
        if await ledger.is_opted_out(self.sessions, self.name(), inbound.sender):
            return []
        if word in HELP_WORDS:
            return [{"text": self.text("help")}]
        return None

    def outgoing(self, inbound: Inbound, message: dict[str, Any]) -> list[Outgoing]:
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            text = numbered_text(text, buttons)
        if message.get("image"):
            text = f"{text}\n{message['image']}".strip()
        sid = self.settings["TWILIO_ACCOUNT_SID"]
        url = f"{self.settings.api_base}/2010-04-01/Accounts/{sid}/Messages.json"
        return [
            Outgoing(
                url=url,
                form={"To": inbound.sender, "From": inbound.reply["from"], "Body": piece},
                auth=(sid, self.settings["TWILIO_AUTH_TOKEN"]),
            )
            for piece in split_text(text, BODY_LIMIT)
        ]
