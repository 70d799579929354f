"""What the channels and the front desk agree on: the longest message a person may send,
and the shapes of the conversation IDs they make. No Rasa import, so the front desk can
use it too."""

from __future__ import annotations

import re
import secrets

MAX_MESSAGE_LENGTH = 2000

# The widget's session IDs: 24 random bytes, URL-safe base64; shorter ones are guessable.
WIDGET_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
# A caller screening run by the front desk.
CALLER_ID = re.compile(r"^frontdesk-[A-Za-z0-9_-]{16,64}$")


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def new_caller_id() -> str:
    return f"frontdesk-{secrets.token_urlsafe(18)}"
