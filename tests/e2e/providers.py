"""A local fake of the providers' send APIs (Twilio, WhatsApp Cloud, Messenger, Telegram).

It checks each request's shape the way the real API would (path, authentication, fields,
limits), records it, and answers like the provider; `fail_next` makes it fail on purpose.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "twilio-auth-token"
TWILIO_NUMBER = "+15550001111"
WHATSAPP_TOKEN = "whatsapp-access-token"
WHATSAPP_PHONE_ID = "109876543210"
WHATSAPP_SECRET = "whatsapp-app-secret"
WHATSAPP_VERIFY = "whatsapp-verify-token"
META_TOKEN = "page-access-token"
META_SECRET = "meta-app-secret"
META_VERIFY = "meta-verify-token"
TELEGRAM_TOKEN = "123456:telegram-bot-token"
TELEGRAM_SECRET = "telegram-secret-token"


def channel_environment(base: str, public_url: str) -> dict[str, str]:
    return {
        "NEEDLECHECK_PUBLIC_URL": public_url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_NUMBER": TWILIO_NUMBER,
        "TWILIO_API_BASE": base,
        "WHATSAPP_ACCESS_TOKEN": WHATSAPP_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": WHATSAPP_PHONE_ID,
        "WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY,
        "WHATSAPP_API_BASE": base,
        "META_PAGE_ACCESS_TOKEN": META_TOKEN,
        "META_APP_SECRET": META_SECRET,
        "META_VERIFY_TOKEN": META_VERIFY,
        "META_GRAPH_API_BASE": base,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE": base,
    }


@dataclass
class Sent:
    api: str  # twilio, whatsapp, messenger, telegram
    path: str
    recipient: str
    body: dict[str, Any]


@dataclass
class Provider:
    url: str = ""
    sent: list[Sent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def to(self, recipient: str) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.recipient == recipient]

    def check(
        self, method: str, path: str, headers: Any, raw: bytes
    ) -> tuple[int, Any, Sent | None]:
        """(status, answer, recorded send) for one request, as the provider would answer."""
        authorization = headers.get("Authorization") or ""
        content_type = headers.get("Content-Type") or ""
        if method != "POST":
            return 405, {"error": "method"}, None
        match = re.fullmatch(rf"/2010-04-01/Accounts/{TWILIO_SID}/Messages\.json", path)
        if match:
            expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
            if authorization != expected:
                return 401, {"code": 20003, "message": "Authenticate"}, None
            if "application/x-www-form-urlencoded" not in content_type:
                return 400, {"message": "form expected"}, None
            form = dict(urllib.parse.parse_qsl(raw.decode()))
            missing = {"To", "From", "Body"} - form.keys()
            if missing or len(form["Body"]) > 1600:
                return 400, {"code": 21602, "message": f"bad fields {missing}"}, None
            sent = Sent("twilio", path, form["To"], form)
            return 201, {"sid": f"SM{len(self.sent):032d}", "status": "queued"}, sent
        if path.startswith("/v21.0/"):
            body = json.loads(raw or b"{}")
            if path == f"/v21.0/{WHATSAPP_PHONE_ID}/messages":
                if authorization != f"Bearer {WHATSAPP_TOKEN}":
                    return 401, {"error": {"code": 190}}, None
                problem = _whatsapp_problem(body)
                if problem:
                    return 400, {"error": {"message": problem}}, None
                return (
                    200,
                    {"messages": [{"id": "wamid.x"}]},
                    Sent("whatsapp", path, body["to"], body),
                )
            if path == "/v21.0/me/messages":
                if authorization != f"Bearer {META_TOKEN}":
                    return 401, {"error": {"code": 190}}, None
                problem = _messenger_problem(body)
                if problem:
                    return 400, {"error": {"message": problem}}, None
                recipient = body["recipient"]["id"]
                return (
                    200,
                    {"recipient_id": recipient, "message_id": "m_x"},
                    Sent("messenger", path, recipient, body),
                )
        if path.startswith("/bot"):
            if not path.startswith(f"/bot{TELEGRAM_TOKEN}/"):
                return 401, {"ok": False, "description": "Unauthorized"}, None
            body = json.loads(raw or b"{}")
            method_name = path.rsplit("/", 1)[1]
            if method_name == "answerCallbackQuery":
                ok = bool(body.get("callback_query_id"))
                return (200 if ok else 400), {"ok": ok}, Sent("telegram", path, "callback", body)
            if method_name == "sendMessage":
                problem = _telegram_problem(body)
                if problem:
                    return 400, {"ok": False, "description": problem}, None
                return (
                    200,
                    {"ok": True, "result": {}},
                    Sent("telegram", path, str(body["chat_id"]), body),
                )
        return 404, {"error": f"no such API: {path}"}, None


def _whatsapp_problem(body: dict) -> str | None:
    if body.get("messaging_product") != "whatsapp" or not body.get("to"):
        return "messaging_product and to are required"
    kind = body.get("type")
    if kind == "text":
        text = (body.get("text") or {}).get("body") or ""
        return None if 0 < len(text) <= 4096 else "text.body must be 1-4096 characters"
    if kind == "interactive":
        interactive = body["interactive"]
        if len(interactive["body"]["text"]) > 1024:
            return "interactive body too long"
        if interactive["type"] == "button":
            buttons = interactive["action"]["buttons"]
            if not 1 <= len(buttons) <= 3 or any(len(b["reply"]["title"]) > 20 for b in buttons):
                return "1-3 buttons of at most 20 characters"
            return None
        if interactive["type"] == "list":
            rows = [r for s in interactive["action"]["sections"] for r in s["rows"]]
            if not 1 <= len(rows) <= 10 or any(len(r["title"]) > 24 for r in rows):
                return "1-10 rows with titles of at most 24 characters"
            if any(len(r.get("description", "")) > 72 for r in rows):
                return "row descriptions of at most 72 characters"
            return None
    return f"unsupported type {kind}"


def _messenger_problem(body: dict) -> str | None:
    if not (body.get("recipient") or {}).get("id") or body.get("messaging_type") != "RESPONSE":
        return "recipient.id and messaging_type are required"
    message = body.get("message") or {}
    if not 0 < len(message.get("text") or "") <= 2000:
        return "message.text must be 1-2000 characters"
    quick = message.get("quick_replies") or []
    if len(quick) > 13 or any(len(q["title"]) > 20 for q in quick):
        return "at most 13 quick replies of at most 20 characters"
    return None


def _telegram_problem(body: dict) -> str | None:
    if "chat_id" not in body or not 0 < len(body.get("text") or "") <= 4096:
        return "chat_id and text (1-4096) are required"
    keyboard = (body.get("reply_markup") or {}).get("inline_keyboard") or []
    if any(len(b["callback_data"].encode()) > 64 for row in keyboard for b in row):
        return "callback_data is at most 64 bytes"
    return None


def serve(provider: Provider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with provider.lock:
                provider.attempts += 1
                failure = provider.failures.pop(0) if provider.failures else None
            if failure:
                self._answer(failure, {"error": "injected failure"})
                return
            status, answer, sent = provider.check("POST", self.path, self.headers, raw)
            with provider.lock:
                if sent is not None:
                    provider.sent.append(sent)
                elif status >= 400:
                    provider.problems.append(f"{self.path}: {status} {answer}")
            self._answer(status, answer)

        def _answer(self, status: int, answer: Any) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
