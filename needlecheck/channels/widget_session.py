"""The widget's session: an ID and the key it is derived from.

The session ID is the conversation's sender ID, so it is seen outside the person's
browser: by staff in the front desk, in the tracker store and the screening database,
and in anything copied from them. Holding it must not let anyone resume the
conversation. So the ID is a digest of a random key that only the widget keeps (in
localStorage, beside the ID): to resume a session, a socket sends the key, and the
session is the one the key derives. The server stores nothing, so every instance
agrees, and an ID alone resumes nothing. No Rasa import: the front desk may check a key
too.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from needlecheck.channels.limits import WIDGET_SESSION_ID

# Keys are 24 random bytes, URL-safe base64; anything shorter could be guessed.
_DOMAIN = b"needlecheck widget session\x00"


def session_id_for(key: str) -> str:
    """The session ID a key opens: 43 URL-safe characters, the shape of a widget ID."""
    digest = hashlib.sha256(_DOMAIN + key.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_session() -> tuple[str, str]:
    """(session ID, key) for a new session."""
    key = secrets.token_urlsafe(24)
    return session_id_for(key), key


def resumed_session(key: object) -> str | None:
    """The session a socket's key opens, or None when it is no key at all."""
    if not isinstance(key, str) or not WIDGET_SESSION_ID.match(key):
        return None
    return session_id_for(key)
