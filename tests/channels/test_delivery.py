"""Sending with retries, against the local fake of the providers' APIs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from needlecheck.channels.delivery import Outgoing, send_all
from tests.e2e import providers as fake


@pytest.fixture()
def provider():
    state = fake.Provider()
    server = fake.serve(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def telegram(provider: fake.Provider, text: str) -> Outgoing:
    return Outgoing(
        url=f"{provider.url}/bot{fake.TELEGRAM_TOKEN}/sendMessage",
        json={"chat_id": "7", "text": text},
    )


def test_server_errors_are_retried_until_delivered(provider, caplog) -> None:
    provider.fail_next(500, 429)
    with caplog.at_level(logging.WARNING):
        delivered = asyncio.run(
            send_all("telegram", [telegram(provider, "hello")], backoff=(0, 0, 0))
        )
    assert delivered == 1
    assert provider.attempts == 3
    assert [s.body["text"] for s in provider.sent] == ["hello"]
    assert "telegram send failed: status 500 (attempt 1 of 4)" in caplog.text
    assert "hello" not in caplog.text


def test_a_refused_request_is_not_retried_and_later_messages_wait(provider, caplog) -> None:
    bad = Outgoing(url=f"{provider.url}/botWRONG/sendMessage", json={"chat_id": "7", "text": "x"})
    delivered = asyncio.run(
        send_all("telegram", [bad, telegram(provider, "second")], backoff=(0, 0, 0))
    )
    assert delivered == 0
    assert provider.attempts == 1  # not retried, and the second message was not sent alone
    assert "telegram send refused: status 401; not retried" in caplog.text


def test_an_unreachable_provider_costs_the_reply_not_the_server(caplog) -> None:
    unreachable = Outgoing(url="http://127.0.0.1:9/sendMessage", json={"text": "x"})
    assert asyncio.run(send_all("telegram", [unreachable], backoff=(0, 0))) == 0
    assert "telegram send failed after 3 attempts: ClientConnectorError" in caplog.text


def test_retries_stop_when_the_turn_would_outlast_the_providers_patience(provider, caplog) -> None:
    # The provider is waiting for the webhook's answer: a retry that cannot finish within
    # the budget is not made, and later messages are not sent after it.
    provider.fail_next(500)
    delivered = asyncio.run(
        send_all(
            "telegram",
            [telegram(provider, "first"), telegram(provider, "second")],
            backoff=(5.0,),
            budget=1.0,
        )
    )
    assert delivered == 0
    assert provider.attempts == 1
    assert "telegram send failed after 1 attempts: status 500" in caplog.text


def test_nothing_is_sent_once_the_budget_is_spent(provider, caplog) -> None:
    assert asyncio.run(send_all("telegram", [telegram(provider, "late")], budget=0.0)) == 0
    assert provider.attempts == 0
    assert "telegram send skipped: the turn's time to send is over" in caplog.text
