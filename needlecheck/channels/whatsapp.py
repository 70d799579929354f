"""WhatsApp Business through Meta's Cloud API, on /webhooks/whatsapp/webhook (Rasa 3.6
has no connector for it).

Requests must carry `X-Hub-Signature-256` made with the app secret. Up to three options
with short titles become reply buttons, up to ten a list; more become numbered text.
"""

from __future__ import annotations

from typing import Any

from sanic.request import Request

from needlecheck.channels.delivery import Outgoing, split_text
from needlecheck.channels.messaging import Inbound, fits, numbered_text
from needlecheck.channels.meta import MetaWebhookInput, json_body
from needlecheck.channels.settings import GRAPH_API_VERSION

TEXT_LIMIT = 4096
INTERACTIVE_BODY = 1024
BUTTONS, BUTTON_TITLE = 3, 20
ROWS, ROW_TITLE, ROW_DESCRIPTION = 10, 24, 72
REPLY_ID = 256


class WhatsAppCloudInput(MetaWebhookInput):
    secret_variable = "WHATSAPP_APP_SECRET"
    verify_variable = "WHATSAPP_VERIFY_TOKEN"

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def parse(self, request: Request) -> list[Inbound]:
        body = json_body(request)
        found = []
        for entry in body.get("entry") or []:
            for change in (entry or {}).get("changes") or []:
                value = (change or {}).get("value") or {}
                # `statuses` (sent, delivered, read, failed) carry no message: ignored.
                for message in value.get("messages") or []:
                    inbound = _inbound(message)
                    if inbound is not None:
                        found.append(inbound)
        return found

    def outgoing(self, inbound: Inbound, message: dict[str, Any]) -> list[Outgoing]:
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies") or []
        bodies: list[dict[str, Any]] = []
        interactive = _interactive(text, buttons) if buttons else None
        if interactive is not None:
            bodies.append({"type": "interactive", "interactive": interactive})
        else:
            if buttons:
                text = numbered_text(text, buttons)
            bodies += [{"type": "text", "text": {"body": p}} for p in split_text(text, TEXT_LIMIT)]
        if message.get("image"):
            bodies.append({"type": "image", "image": {"link": message["image"]}})
        url = f"{self.settings.api_base}/{GRAPH_API_VERSION}/{self.settings['WHATSAPP_PHONE_NUMBER_ID']}/messages"
        headers = {"Authorization": f"Bearer {self.settings['WHATSAPP_ACCESS_TOKEN']}"}
        return [
            Outgoing(
                url=url,
                headers=headers,
                json={
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": inbound.sender,
                    **body,
                },
            )
            for body in bodies
        ]


def _reply_id(button: dict[str, Any], position: int) -> str:
    payload = str(button.get("payload") or "")
    # A payload that does not fit travels as its position, resolved like a typed number.
    return payload if payload and len(payload) <= REPLY_ID else f"#{position}"


def _interactive(text: str, buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not text or len(text) > INTERACTIVE_BODY:
        return None
    if fits(buttons, BUTTONS, BUTTON_TITLE):
        return {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": _reply_id(b, i), "title": str(b["title"])}}
                    for i, b in enumerate(buttons, start=1)
                ]
            },
        }
    if fits(buttons, ROWS, ROW_DESCRIPTION):
        rows = []
        for i, b in enumerate(buttons, start=1):
            title = str(b.get("title"))
            row = {"id": _reply_id(b, i), "title": title}
            if len(title) > ROW_TITLE:
                # The row shows a short title; the description holds all of it.
                row = {"id": row["id"], "title": f"Option {i}", "description": title}
            rows.append(row)
        return {
            "type": "list",
            "body": {"text": text},
            "action": {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]},
        }
    return None


def _inbound(message: dict[str, Any]) -> Inbound | None:
    sender = str(message.get("from") or "")
    if not sender:
        return None
    base = {"sender": sender, "channel": "whatsapp", "message_id": message.get("id")}
    kind = message.get("type")
    if kind == "text":
        return Inbound(**base, text=str((message.get("text") or {}).get("body") or ""))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return _chosen(base, str(reply.get("id") or ""), reply.get("title"))
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        return _chosen(base, str(button.get("payload") or ""), button.get("text"))
    return Inbound(**base)  # image, audio, location, ...: not read


def _chosen(base: dict[str, Any], reply_id: str, title: Any) -> Inbound:
    if reply_id.startswith("#") and reply_id[1:].isdigit():
        return Inbound(**base, option=int(reply_id[1:]))
    if reply_id:
        return Inbound(**base, payload=reply_id)
    return Inbound(**base, text=str(title or ""))
