"""Telegram, on Rasa's webhook path /webhooks/telegram/webhook.

Unlike Rasa's stock connector, every update must carry the secret token the webhook was
registered with (`X-Telegram-Bot-Api-Secret-Token`, compared in constant time), and
start-up calls nothing: the webhook is registered once by the clinic (docs/channels.md).
"""

from __future__ import annotations

import hmac
from typing import Any

from sanic.request import Request

from needlecheck.channels.delivery import Outgoing, split_text
from needlecheck.channels.messaging import Inbound, MessagingInput, Rejected
from needlecheck.channels.meta import json_body

TEXT_LIMIT = 4096
CALLBACK_DATA = 64  # bytes


class TelegramInput(MessagingInput):
    @classmethod
    def name(cls) -> str:
        return "telegram"

    @property
    def api(self) -> str:
        return f"{self.settings.api_base}/bot{self.settings['TELEGRAM_BOT_TOKEN']}"

    def verify(self, request: Request) -> None:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
        if not hmac.compare_digest(token, self.settings["TELEGRAM_SECRET_TOKEN"]):
            raise Rejected(403, "X-Telegram-Bot-Api-Secret-Token does not match")

    def parse(self, request: Request) -> list[Inbound]:
        update = json_body(request)
        update_id = update.get("update_id")
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            chat = ((callback.get("message") or {}).get("chat") or {}).get("id")
            sender = chat or (callback.get("from") or {}).get("id")
            if sender is None:
                return []
            data = str(callback.get("data") or "")
            base = {
                "sender": str(sender),
                "channel": "telegram",
                "message_id": str(update_id),
                "reply": {"callback_query_id": callback.get("id")},
            }
            if data.startswith("#") and data[1:].isdigit():
                return [Inbound(**base, option=int(data[1:]))]
            return [Inbound(**base, payload=data)]
        message = update.get("message")
        if not isinstance(message, dict):
            return []  # edited messages, channel posts, member updates: not a turn
        chat = (message.get("chat") or {}).get("id")
        if chat is None:
            return []
        return [
            Inbound(
                sender=str(chat),
                channel="telegram",
                message_id=str(update_id),
                text=message.get("text"),
            )
        ]

    async def after_parse(self, request: Request, inbound: Inbound) -> None:
        query = inbound.reply.get("callback_query_id")
        if query:
            # Stops the tapped button's spinner; a failure only leaves it spinning.
            await self.send(
                [
                    Outgoing(
                        url=f"{self.api}/answerCallbackQuery", json={"callback_query_id": query}
                    )
                ],
                backoff=(),
            )

    def outgoing(self, inbound: Inbound, message: dict[str, Any]) -> list[Outgoing]:
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies") or []
        pieces = split_text(text, TEXT_LIMIT) if text else []
        requests = [
            Outgoing(url=f"{self.api}/sendMessage", json={"chat_id": inbound.sender, "text": p})
            for p in pieces
        ]
        if buttons and requests:
            # Buttons go on the last piece: one per row, so long titles stay readable.
            requests[-1].json["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": str(b.get("title")), "callback_data": _callback_data(b, i)}]
                    for i, b in enumerate(buttons, start=1)
                ]
            }
        if message.get("image"):
            requests.append(
                Outgoing(
                    url=f"{self.api}/sendPhoto",
                    json={"chat_id": inbound.sender, "photo": message["image"]},
                )
            )
        return requests


def _callback_data(button: dict[str, Any], position: int) -> str:
    payload = str(button.get("payload") or "")
    if payload and len(payload.encode()) <= CALLBACK_DATA and not payload.startswith("#"):
        return payload
    return f"#{position}"
