"""Comparing a secret token with what a request sent, in constant time, without a 500."""

from __future__ import annotations

import hmac


def same_token(expected: str | None, given: str | None) -> bool:
    """True only when `given` is exactly the non-empty `expected` token.

    Compared as UTF-8 bytes: `secrets.compare_digest` raises TypeError on a str with
    non-ASCII characters, which turned a forged "é" token into a server error instead of
    a refusal. A value that is not even encodable (a lone surrogate) is simply wrong."""
    if not expected or not isinstance(given, str):
        return False
    try:
        return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
    except UnicodeEncodeError:
        return False
