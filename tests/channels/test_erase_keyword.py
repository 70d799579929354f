"""DELETE on a messaging channel when the database cannot delete: the person is told it
did not work and what to do, and nothing claims otherwise."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from sqlalchemy.exc import OperationalError

from needlecheck.channels.messaging import Inbound
from needlecheck.channels.settings import ChannelSettings
from needlecheck.channels.twilio import TwilioInput


class DownDatabase:
    def begin(self):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_a_failed_delete_says_so_and_asks_to_send_it_again(caplog) -> None:
    channel = TwilioInput(ChannelSettings("twilio", {}, "http://127.0.0.1:1", "", "Riverside"))
    channel.__dict__["sessions"] = DownDatabase()  # the cached property, as if made
    request = SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(agent=None)))
    inbound = Inbound("+447700900123", "sms", "SM1", "DELETE")
    with caplog.at_level(logging.ERROR):
        (reply,) = asyncio.run(channel.erase(inbound, request))
    assert "couldn't delete this conversation" in reply["text"]
    assert "send DELETE again" in reply["text"]
    assert "deleted from" not in reply["text"]
    assert "erase failed: OperationalError" in caplog.text
    assert "+447700900123" not in caplog.text
