"""Where the sign-in form sends a member afterwards: the page they asked for (`next`),
only ever a path on this front desk.

Anything that a browser could read as another site is refused and replaced by the queue
(`/`): a scheme or host (`https://evil.example`, `//evil.example`), a backslash (browsers
read `/\\evil.example` as `//evil.example`), control characters or spaces (browsers drop
tabs and newlines: `/\\t/evil.example`), and the same hidden behind percent-encoding
(`/%2F%2Fevil.example`, `%2F%5Cevil.example`), however many times encoded.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

HOME = "/"
# Long enough for any queue filter; a longer one is not a link staff followed.
LONGEST = 2000
# Pages that would only show the sign-in form again (or sign out).
NOT_AFTER_SIGN_IN = ("/login", "/logout")


def safe_next(value: str | None) -> str:
    """`value` when it is a local path (with its query), else the queue."""
    if not value or len(value) > LONGEST or not value.isascii():
        return HOME
    decoded = value
    # Every layer of percent-encoding is checked: a redirect target can be decoded again
    # by a proxy or by the browser.
    for _ in range(5):
        if not _plain_local(decoded):
            return HOME
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return HOME  # encoded more often than anyone types a link
    if urlsplit(value).path in NOT_AFTER_SIGN_IN:
        return HOME
    return value


def _plain_local(text: str) -> bool:
    if not text.startswith("/") or text.startswith(("//", "/\\")):
        return False
    if "\\" in text or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def requested(path: str, query: str) -> str:
    """The page a request asked for, as `next` carries it."""
    return path + ("?" + query if query else "")
