"""The REST and text channels keep their conversations apart from every other channel's."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from engineio.base_server import BaseServer

from needlecheck.channels.limits import (
    WIDGET_SESSION_ID,
    new_caller_id,
    new_session_id,
    sender_problem,
)
from needlecheck.channels.rest import RestInput
from needlecheck.channels.text import TextInput


def receive(body: dict[str, Any], channel: type = RestInput) -> tuple[int, Any, list[Any]]:
    """The channel's webhook as Rasa serves it: (status, answer, messages passed on)."""
    passed: list[Any] = []

    async def on_new_message(message: Any) -> None:
        passed.append(message)

    hook = channel().blueprint(on_new_message)
    (route,) = [r for r in hook._future_routes if r.uri == "/webhook"]
    request = SimpleNamespace(headers={}, json=body, content_type="application/json")
    answer = asyncio.run(route.handler(request))
    return answer.status, json.loads(answer.body), passed


OTHER_CHANNELS = {
    "widget session": new_session_id(),
    "widget session, longest": "a" * 128,
    "socket.io connection (no session persistence)": BaseServer().generate_id(),
    "front desk caller": new_caller_id(),
    "front desk caller, other case": "FrontDesk-abc",
    "SMS": "+447700900777",
    "WhatsApp through Twilio": "whatsapp:+447700900777",
    "WhatsApp Cloud API": "447700900777",
    "Messenger or Instagram": "17841400000000000",
    "Telegram group": "-1001234567890",
}


@pytest.mark.parametrize("channel", [RestInput, TextInput])
@pytest.mark.parametrize("sender", OTHER_CHANNELS.values(), ids=OTHER_CHANNELS.keys())
def test_a_sender_shaped_like_another_channels_id_is_refused(sender: str, channel: type) -> None:
    status, answer, passed = receive({"sender": sender, "message": "yes"}, channel)
    assert status == 400 and passed == []
    assert "shaped like" in answer["error"] and "conversation ID" in answer["error"]


@pytest.mark.parametrize(
    "sender",
    [
        "me",
        "e2e-private-2",
        "bad-rest-12345678",
        "converse-1-a1b2c3.00042",  # bench/converse.py
        "load.0123456789abcdef",  # bench/load/locustfile.py
        "bench.900000001",  # bench/channels.py
        "alternate.0123456789",  # tests/production
        "someone@example.org",
    ],
)
def test_rest_senders_of_its_own_shape_are_passed_on(sender: str) -> None:
    status, _, passed = receive({"sender": sender, "message": "hi"})
    assert status == 200
    assert [(m.sender_id, m.input_channel) for m in passed] == [(sender, "rest")]


def test_every_widget_id_the_socket_channel_accepts_is_refused() -> None:
    for _ in range(200):
        session = new_session_id()
        assert WIDGET_SESSION_ID.match(session) and sender_problem(session)
        assert sender_problem(new_caller_id())


@pytest.mark.parametrize("header", ["Bearer é", "Bearer \udcff\udcfe", "Bearer s3cret\udcff"])
def test_a_token_that_is_not_ascii_is_refused_not_an_error(header: str) -> None:
    from needlecheck.channels.rest import authorised

    # Sanic hands undecodable header bytes on as lone surrogates.
    assert authorised(header, "s3cret") is False
    assert authorised("Bearer s3cret", "s3cret") is True
