"""Every messaging channel on the running server: the providers' documented inbound
payloads, signed and unsigned, and the replies as the local fake of their send APIs
receives them; a whole screening over each channel is stored with its channel."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, create_engine, text
from twilio.request_validator import RequestValidator

from needlecheck.store.encryption import conversation_keys
from tests.e2e import providers as fake
from tests.e2e.conftest import PORT
from tests.e2e.test_assistant import CLEAR_ANSWERS

pytestmark = pytest.mark.rasa

BASE = f"http://127.0.0.1:{PORT}"
ids = itertools.count(1)


def post(path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(BASE + path, timeout=60, **kwargs)


# --- each provider's inbound requests, as its documentation shows them ------------------


def twilio(sender: str, body: str = "", signed: bool = True, **extra: str) -> httpx.Response:
    path = "/webhooks/twilio/webhook"
    form = {
        "MessageSid": f"SM{next(ids):032d}",
        "AccountSid": fake.TWILIO_SID,
        "From": sender,
        "To": ("whatsapp:" if sender.startswith("whatsapp:") else "") + fake.TWILIO_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    headers = {}
    if signed:
        headers["X-Twilio-Signature"] = RequestValidator(fake.TWILIO_TOKEN).compute_signature(
            BASE + path, form
        )
    return post(path, data=form, headers=headers)


def meta_signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def meta_post(
    path: str, secret: str, payload: dict, signature: str | None = None
) -> httpx.Response:
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature != "":
        headers["X-Hub-Signature-256"] = signature or meta_signature(secret, raw)
    return post(path, content=raw, headers=headers)


def whatsapp(sender: str, message: dict, **kwargs: Any) -> httpx.Response:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA_ID",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": fake.WHATSAPP_PHONE_ID},
                            "contacts": [{"profile": {"name": "Test"}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": f"wamid.{next(ids)}",
                                    "timestamp": str(int(time.time())),
                                    **message,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return meta_post("/webhooks/whatsapp/webhook", fake.WHATSAPP_SECRET, payload, **kwargs)


def messenger(sender: str, event: dict, kind: str = "page", **kwargs: Any) -> httpx.Response:
    payload = {
        "object": kind,
        "entry": [
            {
                "id": "PAGE_ID",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": "PAGE_ID"},
                        "timestamp": int(time.time() * 1000),
                        **event,
                    }
                ],
            }
        ],
    }
    return meta_post("/webhooks/facebook/webhook", fake.META_SECRET, payload, **kwargs)


def telegram(update: dict, secret: str | None = fake.TELEGRAM_SECRET) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return post(
        "/webhooks/telegram/webhook", json={"update_id": next(ids), **update}, headers=headers
    )


def telegram_text(chat: int, words: str) -> dict:
    user = {"id": chat, "is_bot": False, "first_name": "Test"}
    return {
        "message": {
            "message_id": next(ids),
            "from": user,
            "chat": {"id": chat, "type": "private"},
            "date": int(time.time()),
            "text": words,
        }
    }


def telegram_tap(chat: int, data: str) -> dict:
    user = {"id": chat, "is_bot": False, "first_name": "Test"}
    return {
        "callback_query": {
            "id": f"cb{next(ids)}",
            "from": user,
            "message": {"message_id": 1, "chat": {"id": chat, "type": "private"}, "date": 0},
            "chat_instance": "1",
            "data": data,
        }
    }


def stored(assistant: dict, conversation: str) -> list[tuple]:
    engine = create_engine(assistant["db"], future=True)
    # A phone number is stored only as its keyed digest (needlecheck.store.encryption).
    query = text("SELECT outcome, channel FROM screenings WHERE conversation_id IN :c")
    with engine.connect() as connection:
        rows = connection.execute(
            query.bindparams(bindparam("c", expanding=True)),
            {"c": conversation_keys(conversation)},
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def texts(sent: list[fake.Sent]) -> str:
    parts = []
    for item in sent:
        body = item.body
        parts.append(
            body.get("Body")
            or (body.get("text") if isinstance(body.get("text"), str) else "")
            or (body.get("text") or {}).get("body", "")
            or ((body.get("interactive") or {}).get("body") or {}).get("text", "")
            or (body.get("message") or {}).get("text", "")
        )
    return "\n".join(parts)


def screening_answers() -> list[str]:
    return list(CLEAR_ANSWERS.values())[1:]  # red flags are answered with a button


# --- signatures --------------------------------------------------------------------------


def test_unsigned_and_forged_requests_are_refused_with_403(assistant, provider) -> None:
    before = len(provider.sent)
    assert twilio("+15557770001", "hi", signed=False).status_code == 403
    forged = post(
        "/webhooks/twilio/webhook",
        data={"From": "+15557770001", "Body": "hi", "MessageSid": "SMforged"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert forged.status_code == 403
    message = {"type": "text", "text": {"body": "hi"}}
    assert whatsapp("15557770002", message, signature="").status_code == 403
    assert whatsapp("15557770002", message, signature="sha256=" + "0" * 64).status_code == 403
    event = {"message": {"mid": "m_forged", "text": "hi"}}
    assert messenger("7770003", event, signature="").status_code == 403
    # Rasa's stock connector checked only the SHA-1 header: that alone is not enough.
    raw = json.dumps({"object": "page", "entry": []}).encode()
    sha1 = "sha1=" + hmac.new(fake.META_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    assert (
        post(
            "/webhooks/facebook/webhook", content=raw, headers={"X-Hub-Signature": sha1}
        ).status_code
        == 403
    )
    assert telegram(telegram_text(7770004, "hi"), secret=None).status_code == 403
    assert telegram(telegram_text(7770004, "hi"), secret="wrong").status_code == 403
    assert len(provider.sent) == before
    assert stored(assistant, "+15557770001") == []


def test_meta_subscription_handshakes(assistant) -> None:
    for path, token in (
        ("/webhooks/facebook/webhook", fake.META_VERIFY),
        ("/webhooks/whatsapp/webhook", fake.WHATSAPP_VERIFY),
    ):
        query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
        answer = httpx.get(BASE + path + "?" + urllib.parse.urlencode(query))
        assert (answer.status_code, answer.text) == (200, "1158201444")
        query["hub.verify_token"] = "wrong"
        assert httpx.get(BASE + path + "?" + urllib.parse.urlencode(query)).status_code == 403


# --- whole screenings, one per channel ------------------------------------------------


def test_a_whole_screening_by_sms_with_numbered_options(assistant, provider) -> None:
    phone = "+15557771001"
    assert twilio(phone, "hi").status_code == 200
    first = texts(provider.to(phone))
    assert "1. Yes, I agree\n2. No, thank you" in first
    assert "<" not in first  # no markup where none is rendered
    twilio(phone, "1")  # consent, by number
    assert "3. None of these" in texts(provider.to(phone)[-1:])
    twilio(phone, "3")
    for answer in screening_answers():
        assert twilio(phone, answer).status_code == 200
    joined = texts(provider.to(phone))
    assert "nothing in your answers that rules microneedling out" in joined
    assert stored(assistant, phone) == [("eligible", "sms")]
    assert all(s.body["From"] == fake.TWILIO_NUMBER for s in provider.to(phone))


def test_a_whole_screening_on_whatsapp_through_twilio(assistant, provider) -> None:
    phone = "whatsapp:+15557771002"
    twilio(phone, "hi")
    # A quick-reply button of a WhatsApp template arrives with its payload.
    twilio(phone, "Yes, I agree", ButtonText="Yes, I agree", ButtonPayload="/affirm")
    assert "to be safe" in texts(provider.to(phone)[-1:])
    twilio(phone, "2")  # the swelling option: urgent care at once
    assert "call 999 now" in texts(provider.to(phone))
    assert stored(assistant, phone) == [("urgent_care", "whatsapp")]
    assert provider.to(phone)[0].body["From"] == "whatsapp:" + fake.TWILIO_NUMBER


def _tap_whatsapp(phone: str, provider: fake.Provider, title: str) -> httpx.Response:
    last = provider.to(phone)[-1].body
    interactive = last["interactive"]
    if interactive["type"] == "button":
        options = [b["reply"] for b in interactive["action"]["buttons"]]
        chosen = next(o for o in options if o["title"] == title)
        reply = {"type": "button_reply", "button_reply": chosen}
    else:
        rows = [r for s in interactive["action"]["sections"] for r in s["rows"]]
        chosen = next(r for r in rows if title in (r["title"], r.get("description")))
        reply = {"type": "list_reply", "list_reply": {"id": chosen["id"], "title": chosen["title"]}}
    return whatsapp(phone, {"type": "interactive", "interactive": reply})


def test_a_whole_screening_on_whatsapp_cloud_with_buttons_and_lists(assistant, provider) -> None:
    phone = "15557771003"
    whatsapp(phone, {"type": "text", "text": {"body": "hi"}})
    consent = provider.to(phone)[-1].body
    assert consent["type"] == "interactive"
    assert consent["interactive"]["type"] == "button"
    _tap_whatsapp(phone, provider, "Yes, I agree")
    red_flags = provider.to(phone)[-1].body["interactive"]
    assert red_flags["type"] == "list"  # titles longer than a button's 20 characters
    _tap_whatsapp(phone, provider, "None of these")
    for answer in screening_answers():
        assert whatsapp(phone, {"type": "text", "text": {"body": answer}}).status_code == 200
    assert "nothing in your answers that rules microneedling out" in texts(provider.to(phone))
    assert stored(assistant, phone) == [("eligible", "whatsapp")]
    assert not provider.problems


def test_a_whole_screening_on_messenger_with_quick_replies(assistant, provider) -> None:
    psid = "5557771004"
    messenger(psid, {"message": {"mid": f"m_{next(ids)}", "text": "hi"}})
    quick = provider.to(psid)[-1].body["message"]["quick_replies"]
    assert [q["title"] for q in quick] == ["Yes, I agree", "No, thank you"]
    messenger(
        psid,
        {
            "message": {
                "mid": f"m_{next(ids)}",
                "text": quick[0]["title"],
                "quick_reply": {"payload": quick[0]["payload"]},
            }
        },
    )
    red_flags = provider.to(psid)[-1].body["message"]
    # Long option titles are listed in the text; the quick replies carry their numbers.
    assert "3. None of these" in red_flags["text"]
    assert [q["title"] for q in red_flags["quick_replies"]] == ["1", "2", "3"]
    messenger(psid, {"message": {"mid": f"m_{next(ids)}", "text": "3"}})
    for answer in screening_answers():
        messenger(psid, {"message": {"mid": f"m_{next(ids)}", "text": answer}})
    assert "nothing in your answers that rules microneedling out" in texts(provider.to(psid))
    assert stored(assistant, psid) == [("eligible", "messenger")]


def test_a_whole_screening_on_instagram(assistant, provider) -> None:
    igsid = "5557771005"
    event = {"message": {"mid": f"ig_{next(ids)}", "text": "hello"}}
    messenger(igsid, event, kind="instagram")
    messenger(
        igsid,
        {"postback": {"mid": f"ig_{next(ids)}", "title": "Yes", "payload": "/affirm"}},
        kind="instagram",
    )
    for answer in ["none of these", *screening_answers()]:
        messenger(igsid, {"message": {"mid": f"ig_{next(ids)}", "text": answer}}, kind="instagram")
    assert stored(assistant, igsid) == [("eligible", "instagram")]
    assert all(len(s.body["message"]["text"]) <= 1000 for s in provider.to(igsid))


def test_a_whole_screening_on_telegram_with_inline_buttons(assistant, provider) -> None:
    chat = 5557771006
    telegram(telegram_text(chat, "hi"))
    keyboard = provider.to(str(chat))[-1].body["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["Yes, I agree", "No, thank you"]
    before = len([s for s in provider.sent if s.recipient == "callback"])
    telegram(telegram_tap(chat, keyboard[0][0]["callback_data"]))
    assert len([s for s in provider.sent if s.recipient == "callback"]) == before + 1
    keyboard = provider.to(str(chat))[-1].body["reply_markup"]["inline_keyboard"]
    telegram(telegram_tap(chat, keyboard[2][0]["callback_data"]))  # none of these
    for answer in screening_answers():
        telegram(telegram_text(chat, answer))
    assert "nothing in your answers that rules microneedling out" in texts(provider.to(str(chat)))
    assert stored(assistant, str(chat)) == [("eligible", "telegram")]


def test_delete_erases_the_conversation_on_a_messaging_channel(assistant, provider) -> None:
    phone = "+15557779001"
    twilio(phone, "hi")
    twilio(phone, "1")
    twilio(phone, "3")
    for answer in screening_answers():
        twilio(phone, answer)
    assert stored(assistant, phone) == [("eligible", "sms")]
    twilio(phone, "Delete")
    assert "this conversation and everything you told" in texts(provider.to(phone)[-1:])
    assert stored(assistant, phone) == []
    # The assistant has forgotten it too: a greeting starts afresh, with the consent question.
    twilio(phone, "hi")
    again = texts(provider.to(phone)[-2:])
    assert "Before I ask about your health" in again
    assert "Hello again" not in again
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        detail = connection.execute(
            text("SELECT detail FROM audit_log WHERE action = 'erase' ORDER BY id DESC")
        ).first()
    engine.dispose()
    assert detail is not None and detail[0].startswith("twilio keyword: ")
    # Telegram: the same word, the same answer.
    chat = 5557779002
    telegram(telegram_text(chat, "hi"))
    telegram(telegram_text(chat, "delete my data"))
    assert "have been deleted" in texts(provider.to(str(chat))[-1:])


# --- what each channel must ignore, repeat once, or refuse to send -------------------


def test_status_callbacks_and_receipts_are_ignored(assistant, provider) -> None:
    before = len(provider.sent)
    status = {"MessageStatus": "delivered", "SmsStatus": "delivered"}
    assert twilio("+15557772001", "", **status).status_code == 200
    statuses = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "W",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "statuses": [
                                {"id": "wamid.s", "status": "read", "recipient_id": "15557772002"}
                            ]
                        },
                    }
                ],
            }
        ],
    }
    assert (
        meta_post("/webhooks/whatsapp/webhook", fake.WHATSAPP_SECRET, statuses).status_code == 200
    )
    assert (
        messenger("5557772003", {"delivery": {"mids": ["m_1"], "watermark": 1}}).status_code == 200
    )
    assert messenger("5557772003", {"read": {"watermark": 1}}).status_code == 200
    echo = {"message": {"mid": "m_echo", "is_echo": True, "text": "from the page"}}
    assert messenger("5557772003", echo).status_code == 200
    edited = {"edited_message": telegram_text(5557772004, "x")["message"]}
    assert telegram(edited).status_code == 200
    assert len(provider.sent) == before


def test_media_gets_a_request_for_text(assistant, provider) -> None:
    twilio(
        "+15557773001",
        "",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/media/1",
        MediaContentType0="image/jpeg",
    )
    assert "only read text" in texts(provider.to("+15557773001"))
    whatsapp(
        "15557773002", {"type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}}
    )
    assert "only read text" in texts(provider.to("15557773002"))
    attachment = {
        "mid": f"m_{next(ids)}",
        "attachments": [{"type": "image", "payload": {"url": "https://x"}}],
    }
    messenger("5557773003", {"message": attachment})
    assert "only read text" in texts(provider.to("5557773003"))
    photo = telegram_text(5557773004, "")
    del photo["message"]["text"]
    photo["message"]["photo"] = [{"file_id": "f", "width": 90, "height": 90}]
    telegram(photo)
    assert "only read text" in texts(provider.to("5557773004"))


def test_a_provider_retry_of_the_same_message_is_processed_once(assistant, provider) -> None:
    form = {
        "MessageSid": "SMretry0000000000000000000000001",
        "From": "+15557774001",
        "To": fake.TWILIO_NUMBER,
        "Body": "hi",
    }
    path = "/webhooks/twilio/webhook"
    signature = RequestValidator(fake.TWILIO_TOKEN).compute_signature(BASE + path, form)
    for _ in range(3):
        assert post(path, data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    assert len(provider.to("+15557774001")) == 2  # greeting and consent question, once
    payload = {"message": {"mid": "m_retried", "text": "hi"}}
    messenger("5557774002", payload)
    messenger("5557774002", payload)
    assert len(provider.to("5557774002")) == 2


def test_sms_stop_help_and_start(assistant, provider) -> None:
    phone = "+15557775001"
    twilio(phone, "HELP")
    assert "STOP to receive no more messages" in texts(provider.to(phone))
    twilio(phone, "hi")
    count = len(provider.to(phone))
    twilio(phone, "STOP")
    twilio(phone, "I agree")
    twilio(phone, "what is microneedling?")
    assert len(provider.to(phone)) == count  # nothing more is sent
    engine = create_engine(assistant["db"], future=True)
    with engine.connect() as connection:
        from needlecheck.channels.ledger import digest

        rows = connection.execute(
            text("SELECT channel FROM channel_opt_outs WHERE address_digest = :d"),
            {"d": digest(phone)},
        ).all()
    engine.dispose()
    assert [r[0] for r in rows] == ["twilio"]
    twilio(phone, "START")
    assert len(provider.to(phone)) == count + 1
    twilio(phone, "what is microneedling?")
    assert "collagen" in texts(provider.to(phone)[count + 1 :])


def test_send_failures_are_retried_and_logged_without_personal_data(assistant, provider) -> None:
    phone = "+15557776001"
    provider.fail_next(500, 503)
    assert twilio(phone, "hi").status_code == 200
    assert "microneedling assistant" in texts(provider.to(phone))
    # A provider that keeps failing costs the reply, never the server or the conversation.
    provider.fail_next(500, 500, 500, 500)
    assert twilio(phone, "yes").status_code == 200
    twilio(phone, "none of these")
    assert "How old are you?" in texts(provider.to(phone)[-1:])
    log = (assistant["var"] / "run.log").read_text()
    assert "twilio send failed: status 500 (attempt 1 of 4)" in log
    assert "twilio send failed after 4 attempts: status 500" in log
    for secret in (phone, phone[1:], "Hello! I'm the clinic"):
        assert secret not in log


def test_an_overlong_message_gets_a_polite_answer_not_a_turn(assistant, provider) -> None:
    chat = 5557777001
    telegram(telegram_text(chat, "word " * 500))
    assert "too long" in texts(provider.to(str(chat)))
    assert stored(assistant, str(chat)) == []
