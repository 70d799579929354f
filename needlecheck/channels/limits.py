"""What the channels and the front desk agree on: the shapes of the conversation IDs they
make and the bodies of the JSON channels (the longest message and body are
`needlecheck.text`'s). No Rasa import, so the front desk can use it too."""

from __future__ import annotations

import re
import secrets

# The widget's session IDs: 24 random bytes, URL-safe base64; shorter ones are guessable.
WIDGET_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
# A caller screening run by the front desk.
CALLER_ID = re.compile(r"^frontdesk-[A-Za-z0-9_-]{16,64}$")


# Sender IDs that JSON channels accept: no spaces, slashes or other path characters.
SENDER_ID = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,255}$")


def body_problem(body: object) -> str | None:
    """What is wrong with a JSON channel's {"sender", "message"} body, or None. A message
    over the longest length is not wrong here: it gets its polite answer as a reply."""
    if not isinstance(body, dict):
        return "the body must be a JSON object with 'sender' and 'message'"
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not SENDER_ID.match(sender):
        return "'sender' must be 1 to 255 letters, digits or _ . : @ + = - (no spaces or slashes)"
    if not isinstance(message, str) or not message.strip():
        return "'message' must be a non-empty string"
    return None


# Every other channel's conversation IDs are made of letters, digits, "_" and "-" only:
# the widget's sessions (22 or more; socket.io's own connection IDs, used without session
# persistence, 20), the caller mode's "frontdesk-...", and phone numbers and numeric IDs
# ("+447700900123", "whatsapp:+44...", "-1001234", "17841400000000000").
OTHER_CHANNEL_IDS = (
    ("a chat widget session", re.compile(r"^[A-Za-z0-9_-]{20,}$")),
    ("a front desk caller", re.compile(r"^frontdesk-", re.IGNORECASE)),
    ("a phone number or a messaging app's user", re.compile(r"^(whatsapp:)?[+-]?[0-9]+$")),
    ("a WhatsApp number", re.compile(r"^whatsapp:", re.IGNORECASE)),
)


def sender_problem(sender: str) -> str | None:
    """Why an anonymous channel (REST, text) may not use this sender ID, or None: their
    conversations are kept apart from every other channel's, so that a request to them
    cannot reach one of theirs."""
    for what, shape in OTHER_CHANNEL_IDS:
        if shape.match(sender):
            return (
                f"'sender' is shaped like {what}'s conversation ID, which this channel does "
                "not take: use an ID of under 20 characters, or one with a '.', ':', "
                "'@' or '=' in it, that does not start with 'frontdesk-' or 'whatsapp:' and "
                "is not a number"
            )
    return None


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def new_caller_id() -> str:
    return f"frontdesk-{secrets.token_urlsafe(18)}"
