"""How each connector shapes the assistant's messages for its provider."""

from __future__ import annotations

from needlecheck.channels.delivery import split_text
from needlecheck.channels.messaging import Inbound
from needlecheck.channels.meta import MessengerInput
from needlecheck.channels.settings import channel_settings
from needlecheck.channels.telegram import TelegramInput
from needlecheck.channels.twilio import TwilioInput
from needlecheck.channels.whatsapp import WhatsAppCloudInput
from tests.e2e.providers import channel_environment

ENV = channel_environment("http://fake", "http://127.0.0.1:5005")
SHORT = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
LONG = [
    {"title": "Fever, spreading redness, pus or severe pain", "payload": "/a"},
    {"title": "Swelling of lips, tongue or throat / trouble breathing", "payload": "/b"},
    {"title": "None of these", "payload": "/deny"},
]
MANY = [{"title": f"Option number {i}", "payload": f"/o{i}"} for i in range(1, 15)]


def connector(cls):
    return cls(channel_settings(cls.name(), ENV))


def inbound(channel: str, sender: str = "s1", **reply) -> Inbound:
    return Inbound(sender=sender, channel=channel, message_id="m", reply=reply)


def test_split_text_cuts_at_words_and_keeps_every_character() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    pieces = split_text(text, 160)
    assert all(len(p) <= 160 for p in pieces)
    assert " ".join(pieces) == text
    assert split_text("x" * 350, 100) == ["x" * 100, "x" * 100, "x" * 100, "x" * 50]
    assert split_text("short", 100) == ["short"]


def test_twilio_numbers_the_options_and_splits_at_1600() -> None:
    twilio = connector(TwilioInput)
    [request] = twilio.outgoing(
        inbound("sms", "+1555", **{"from": "+1000"}), {"text": "Pick", "buttons": SHORT}
    )
    assert request.form == {
        "To": "+1555",
        "From": "+1000",
        "Body": "Pick\n1. Yes\n2. No\nReply with a number, or type your answer.",
    }
    assert (
        request.url
        == "http://fake/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json"
    )
    assert request.auth == ("AC00000000000000000000000000000001", "twilio-auth-token")
    long = twilio.outgoing(inbound("sms", **{"from": "+1000"}), {"text": "a " * 1700})
    assert len(long) == 3 and all(len(r.form["Body"]) <= 1600 for r in long)


def test_whatsapp_uses_buttons_then_lists_then_numbered_text() -> None:
    whatsapp = connector(WhatsAppCloudInput)
    [buttons] = whatsapp.outgoing(inbound("whatsapp"), {"text": "Agree?", "buttons": SHORT})
    assert buttons.json["interactive"]["type"] == "button"
    assert [b["reply"] for b in buttons.json["interactive"]["action"]["buttons"]] == [
        {"id": "/affirm", "title": "Yes"},
        {"id": "/deny", "title": "No"},
    ]
    assert buttons.headers == {"Authorization": "Bearer whatsapp-access-token"}
    [listed] = whatsapp.outgoing(inbound("whatsapp"), {"text": "Any?", "buttons": LONG})
    rows = listed.json["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0] == {"id": "/a", "title": "Option 1", "description": LONG[0]["title"]}
    assert rows[2] == {"id": "/deny", "title": "None of these"}
    [numbered] = whatsapp.outgoing(inbound("whatsapp"), {"text": "Which?", "buttons": MANY})
    assert numbered.json["type"] == "text"
    assert "14. Option number 14" in numbered.json["text"]["body"]


def test_messenger_quick_replies_carry_numbers_when_titles_are_long() -> None:
    messenger = connector(MessengerInput)
    [short] = messenger.outgoing(inbound("messenger"), {"text": "Agree?", "buttons": SHORT})
    assert short.json["message"]["quick_replies"][0] == {
        "content_type": "text",
        "title": "Yes",
        "payload": "/affirm",
    }
    assert short.url == "http://fake/v21.0/me/messages"
    [long] = messenger.outgoing(inbound("messenger"), {"text": "Any?", "buttons": LONG})
    assert "1. Fever, spreading redness" in long.json["message"]["text"]
    assert [q["title"] for q in long.json["message"]["quick_replies"]] == ["1", "2", "3"]
    [many] = messenger.outgoing(inbound("messenger"), {"text": "Which?", "buttons": MANY})
    assert "quick_replies" not in many.json["message"]
    pieces = messenger.outgoing(inbound("instagram"), {"text": "b " * 900, "buttons": SHORT})
    assert len(pieces) == 2 and all(len(p.json["message"]["text"]) <= 1000 for p in pieces)
    assert (
        "quick_replies" in pieces[-1].json["message"]
        and "quick_replies" not in pieces[0].json["message"]
    )


def test_telegram_callback_data_fits_64_bytes_or_travels_as_a_position() -> None:
    telegram = connector(TelegramInput)
    payload = '/inform{"recent_procedures": [{"kind": "laser_resurfacing", "x": 1}]}'
    [request] = telegram.outgoing(
        inbound("telegram", "42"),
        {"text": "Pick", "buttons": [*SHORT, {"title": "Long", "payload": payload}]},
    )
    keyboard = request.json["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["/affirm", "/deny", "#3"]
    assert request.url == "http://fake/bot123456:telegram-bot-token/sendMessage"
    assert request.json["chat_id"] == "42"
