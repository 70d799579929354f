"""Facebook Messenger and Instagram messages (Meta's Messenger Platform), on Rasa's
webhook path /webhooks/facebook/webhook.

Unlike Rasa's stock connector, requests must carry `X-Hub-Signature-256` (HMAC-SHA256
of the body with the app secret, compared in constant time), a bad one is answered 403,
and replies go through the Graph API with the token in a header, not in the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from needlecheck.channels.delivery import Outgoing, split_text
from needlecheck.channels.messaging import Inbound, MessagingInput, Rejected, fits, numbered_text
from needlecheck.channels.settings import GRAPH_API_VERSION

# Messenger allows 2,000 characters per message and 13 quick replies of 20 characters;
# Instagram 1,000 characters and the same quick replies.
TEXT_LIMITS = {"messenger": 2000, "instagram": 1000}
QUICK_REPLIES = 13
QUICK_REPLY_TITLE = 20


def check_signature(request: Request, app_secret: str) -> None:
    """Meta's X-Hub-Signature-256 over the raw body, compared in constant time."""
    header = request.headers.get("X-Hub-Signature-256") or ""
    if not header.startswith("sha256="):
        raise Rejected(403, "X-Hub-Signature-256 is missing")
    expected = hmac.new(app_secret.encode(), request.body or b"", hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header[len("sha256=") :], expected):
        raise Rejected(403, "X-Hub-Signature-256 does not match")


def subscription_answer(request: Request, verify_token: str) -> HTTPResponse:
    """Meta's webhook handshake: echo hub.challenge when hub.verify_token matches."""
    args = request.args
    if args.get("hub.mode") == "subscribe" and hmac.compare_digest(
        args.get("hub.verify_token") or "", verify_token
    ):
        return response.text(args.get("hub.challenge") or "")
    return response.json({"error": "hub.verify_token does not match"}, status=403)


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Rejected(400, "the body is not a JSON object")
    return body


class MetaWebhookInput(MessagingInput):
    """A webhook of Meta's: signed with the app secret, subscribed with a verify token."""

    secret_variable: str
    verify_variable: str

    def verify(self, request: Request) -> None:
        check_signature(request, self.settings[self.secret_variable])

    def verification(self, request: Request) -> HTTPResponse:
        return subscription_answer(request, self.settings[self.verify_variable])


class MessengerInput(MetaWebhookInput):
    secret_variable = "META_APP_SECRET"
    verify_variable = "META_VERIFY_TOKEN"

    @classmethod
    def name(cls) -> str:
        return "facebook"

    def parse(self, request: Request) -> list[Inbound]:
        body = json_body(request)
        kind = {"page": "messenger", "instagram": "instagram"}.get(body.get("object"))
        if kind is None:
            raise Rejected(400, "object must be 'page' or 'instagram'")
        found = []
        for entry in body.get("entry") or []:
            for event in (entry or {}).get("messaging") or []:
                inbound = _inbound(kind, event)
                if inbound is not None:
                    found.append(inbound)
        return found

    def outgoing(self, inbound: Inbound, message: dict[str, Any]) -> list[Outgoing]:
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies") or []
        quick: list[dict[str, str]] = []
        if buttons and len(buttons) <= QUICK_REPLIES:
            short = fits(buttons, QUICK_REPLIES, QUICK_REPLY_TITLE)
            if not short:
                # Long titles would be cut: the text lists them, the buttons carry numbers.
                text = numbered_text(text, buttons)
            quick = [
                {
                    "content_type": "text",
                    "title": str(b.get("title")) if short else str(i),
                    "payload": str(b.get("payload") or b.get("title")),
                }
                for i, b in enumerate(buttons, start=1)
            ]
        elif buttons:
            text = numbered_text(text, buttons)
        pieces = split_text(text, TEXT_LIMITS[inbound.channel]) if text else []
        if message.get("image"):
            pieces.append(message["image"])
        url = f"{self.settings.api_base}/{GRAPH_API_VERSION}/me/messages"
        headers = {"Authorization": f"Bearer {self.settings['META_PAGE_ACCESS_TOKEN']}"}
        requests = []
        for position, piece in enumerate(pieces):
            body: dict[str, Any] = {"text": piece}
            # Quick replies belong on the last piece, the one the person answers.
            if quick and position == len(pieces) - 1:
                body["quick_replies"] = quick
            requests.append(
                Outgoing(
                    url=url,
                    headers=headers,
                    json={
                        "recipient": {"id": inbound.sender},
                        "messaging_type": "RESPONSE",
                        "message": body,
                    },
                )
            )
        return requests


def _inbound(kind: str, event: dict[str, Any]) -> Inbound | None:
    sender = str((event.get("sender") or {}).get("id") or "")
    if not sender:
        return None
    if "postback" in event:
        postback = event["postback"] or {}
        return Inbound(
            sender=sender,
            channel=kind,
            # Older API versions send postbacks without a `mid`; sender and time identify one.
            message_id=postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}",
            payload=str(postback.get("payload") or postback.get("title") or ""),
        )
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None  # delivery and read receipts, reactions, the page's own echoes
    quick = (message.get("quick_reply") or {}).get("payload")
    return Inbound(
        sender=sender,
        channel=kind,
        message_id=message.get("mid"),
        text=message.get("text"),
        payload=str(quick) if quick else None,
    )
