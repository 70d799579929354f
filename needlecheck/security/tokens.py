"""Secrets compared as bytes, so that no value a request sends can raise: bearer tokens in
headers and the front desk's form tokens; and the request that carries the action
server's secret to its /health.

Sanic decodes header bytes that are not UTF-8 with "surrogateescape" (`Bearer \\xff\\xfe`
arrives as lone surrogates, which `str.encode()` refuses), and `hmac.compare_digest`
raises TypeError on a str that is not ASCII (`Bearer é`): either was a 500 whose body
could show the codec error. Here the header's own bytes are compared in constant time,
and whatever they hold is only ever a match or not.
"""

from __future__ import annotations

import hmac
import urllib.request


def header_bytes(value: str) -> bytes:
    """The bytes a header value arrived as (Sanic kept undecodable ones as surrogates)."""
    return value.encode("utf-8", "surrogateescape")


def same_token(expected: str | None, given: object) -> bool:
    """True only when `given` is exactly the non-empty `expected` token, compared in
    constant time. `hmac.compare_digest` raises TypeError on a str that is not ASCII,
    which turned a forged "é" token into a server error instead of a refusal."""
    if not expected or not isinstance(given, str):
        return False
    try:
        sent = header_bytes(given)
    except UnicodeError:  # a surrogate that no byte decoded to: not a token we issued
        return False
    return hmac.compare_digest(sent, expected.encode("utf-8"))


def bearer_matches(header: str | None, secret: str | None) -> bool:
    """Whether an Authorization header is exactly `Bearer <secret>`. An empty secret
    matches nothing."""
    return bool(secret) and same_token(f"Bearer {secret}", header)


def health_request(url: str, secret: str | None) -> urllib.request.Request:
    """A request for an action server's /health, which needs the secret like every route
    (`needlecheck.action_server`)."""
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {secret or ''}"})
