"""Bearer tokens that are not ASCII, or not even UTF-8, are a 403 and never a 500: the
caller channel and the action server (issue 19, item 7)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from needlecheck.security.tokens import bearer_matches, same_token

SECRET = "the-shared-secret"
# As Sanic hands them over: it decodes header bytes that are not UTF-8 with
# "surrogateescape", so b"Bearer \xff\xfe" arrives as lone surrogates.
HOSTILE = ["Bearer é", "Bearer \udcff\udcfe", "Bearer \ud800", "Bearer", "", f"bearer {SECRET}"]


@pytest.mark.parametrize("header", HOSTILE)
def test_a_header_that_is_not_the_secret_is_only_a_mismatch(header: str) -> None:
    assert bearer_matches(header, SECRET) is False


def test_the_secret_matches_and_an_empty_secret_matches_nothing() -> None:
    assert bearer_matches(f"Bearer {SECRET}", SECRET) is True
    assert bearer_matches(f"Bearer {SECRET}x", SECRET) is False
    assert bearer_matches(None, SECRET) is False
    assert bearer_matches("Bearer ", "") is False
    # A secret that is not ASCII is compared as its UTF-8 bytes.
    assert bearer_matches("Bearer clé", "clé") is True


@pytest.mark.parametrize("given", ["é", "\udcff", "\ud800", "", None, 42, SECRET + " "])
def test_a_form_token_that_is_not_the_one_issued_is_only_a_mismatch(given: object) -> None:
    assert same_token(SECRET, given) is False
    assert same_token(SECRET, SECRET) is True
    assert same_token("", "") is False and same_token(None, SECRET) is False


@pytest.mark.parametrize("header", HOSTILE)
def test_the_caller_channel_refuses_a_hostile_token_with_403(header: str) -> None:
    from needlecheck.channels.caller import CallerInput

    async def never(message: object) -> None:
        raise AssertionError("a message was processed without the secret")

    blueprint = CallerInput(SECRET).blueprint(never)
    (route,) = [r for r in blueprint._future_routes if r.uri.endswith("/webhook")]
    request = SimpleNamespace(headers={"Authorization": header}, json={})
    answer = asyncio.run(route.handler(request))
    assert answer.status == 403
    assert json.loads(answer.body) == {"error": "not the front desk"}


@pytest.fixture(scope="module")
def action_guard():
    from needlecheck.action_server import build_app

    app = build_app(SECRET)
    (guard,) = [m for m in app.request_middleware if m.__name__ == "require_secret"]
    return guard


@pytest.mark.parametrize("header", HOSTILE)
def test_the_action_server_refuses_a_hostile_token_with_403_and_no_details(
    action_guard, header: str
) -> None:
    answer = asyncio.run(action_guard(SimpleNamespace(headers={"authorization": header})))
    assert answer.status == 403
    # Nothing about codecs or the secret: the same short body for every wrong value.
    assert json.loads(answer.body) == {"error": "wrong action server secret"}


def test_the_action_server_asks_for_a_missing_secret_and_lets_the_right_one_through(
    action_guard,
) -> None:
    missing = asyncio.run(action_guard(SimpleNamespace(headers={})))
    assert missing.status == 401
    passed = asyncio.run(
        action_guard(SimpleNamespace(headers={"authorization": f"Bearer {SECRET}"}))
    )
    assert passed is None
