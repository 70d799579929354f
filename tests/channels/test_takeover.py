"""The Rasa server's takeover channel without a server: its secret, what it reads from a
conversation (channel, transcript, what to ask on hand-back) and which connector sends."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActiveLoop,
    BotUttered,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from needlecheck.channels import takeover

SECRET = "takeover-secret-for-tests"


def routes():
    async def never(message: object) -> None:
        raise AssertionError("the takeover channel runs no turn")

    blueprint = takeover.TakeoverInput(SECRET).blueprint(never)
    return {route.uri.rsplit("/", 1)[-1]: route for route in blueprint._future_routes}


@pytest.mark.parametrize("operation", ["messages", "pause", "say", "resume"])
@pytest.mark.parametrize("header", [None, "", "Bearer wrong", f"Basic {SECRET}", "Bearer é"])
def test_every_route_refuses_anything_but_the_shared_secret(operation, header) -> None:
    request = SimpleNamespace(headers={"Authorization": header} if header else {}, json={})
    answer = asyncio.run(routes()[operation].handler(request))
    assert answer.status == 403
    assert json.loads(answer.body) == {"error": "not the front desk"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"sender": "has space"}, 400),
        ({"sender": "a" * 256}, 400),
        ({"sender": "abc", "staff": "Not A Name!", "text": "hi"}, 400),
    ],
)
def test_a_body_that_names_no_conversation_or_staff_is_400(body, status) -> None:
    request = SimpleNamespace(headers={"Authorization": f"Bearer {SECRET}"}, json=body)
    answer = asyncio.run(routes()["say"].handler(request))
    assert answer.status == status


DOMAIN = Domain.from_dict(
    {
        "intents": ["greet"],
        "slots": {
            "requested_slot": {"type": "any", "mappings": [{"type": "custom"}]},
            "question_state": {"type": "any", "mappings": [{"type": "custom"}]},
            "screening_outcome": {"type": "any", "mappings": [{"type": "custom"}]},
            "contact_name": {"type": "any", "mappings": [{"type": "custom"}]},
        },
        "responses": {"utter_ask_contact_name": [{"text": "Name?"}]},
        "forms": {"contact_form": {"required_slots": ["contact_name"]}},
    }
)


def tracker(*events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("person", list(events), DOMAIN.slots)


def test_the_transcript_the_channel_and_the_staff_lines() -> None:
    found = tracker(
        UserUttered("hi", input_channel="telegram"),
        BotUttered("Hello!"),
        UserUttered("a person please", input_channel="telegram"),
        BotUttered("Hi, this is Ana.", metadata={"takeover_staff": "ana"}),
        UserUttered("EXTERNAL: start_screening", input_channel="telegram"),
        UserUttered("EXTERNAL: x", input_channel="takeover"),
    )
    assert takeover.latest_channel(found) == "telegram"
    lines = takeover.transcript(found)
    assert [(line["speaker"], line["staff"], line["text"]) for line in lines] == [
        ("person", None, "hi"),
        ("assistant", None, "Hello!"),
        ("person", None, "a person please"),
        ("staff", "ana", "Hi, this is Ana."),
    ]
    assert [line["index"] for line in lines] == sorted({line["index"] for line in lines})


def test_hand_back_asks_the_open_question_again() -> None:
    # An unfinished screening (the form ended when the person asked for a person).
    unfinished = tracker(SlotSet("question_state", {"question": "age"}))
    assert takeover.next_step(unfinished, DOMAIN) == takeover.START_SCREENING
    # A form still active asks its requested slot.
    contact = tracker(ActiveLoop("contact_form"), SlotSet("requested_slot", "contact_name"))
    assert takeover.next_step(contact, DOMAIN) == "utter_ask_contact_name"
    # A finished screening, or none: the assistant says it is back.
    done = tracker(
        SlotSet("question_state", {"question": "age"}), SlotSet("screening_outcome", "eligible")
    )
    assert takeover.next_step(done, DOMAIN) == takeover.RESUMED
    assert takeover.next_step(tracker(), DOMAIN) == takeover.RESUMED


@pytest.mark.parametrize(
    ("name", "channel", "sender", "serves"),
    [
        ("twilio", "sms", "+15550001111", True),
        ("twilio", "whatsapp", "whatsapp:+15550001111", True),
        ("whatsapp", "whatsapp", "whatsapp:+15550001111", False),
        ("whatsapp", "whatsapp", "15550001111", True),
        ("twilio", "whatsapp", "15550001111", False),
        ("facebook", "messenger", "123", True),
        ("facebook", "instagram", "123", True),
        ("telegram", "telegram", "123", True),
        ("telegram", "socketio", "123", False),
    ],
)
def test_the_connector_that_sends_to_each_channel(name, channel, sender, serves) -> None:
    connector = SimpleNamespace(name=lambda: name)
    assert takeover.serves(connector, channel, sender) is serves


def test_no_connector_for_the_channel_is_a_409() -> None:
    app = SimpleNamespace(ctx=SimpleNamespace(input_channels=[]))
    with pytest.raises(takeover.TakeoverError) as error:
        asyncio.run(takeover.deliver(app, "123", "telegram", [{"text": "hi"}]))
    assert error.value.status == 409
    assert asyncio.run(takeover.deliver(app, "123", "telegram", [])) == 0


def test_the_responses_it_utters_are_in_the_domain() -> None:
    from pathlib import Path

    import yaml

    domain = yaml.safe_load((Path(__file__).parents[2] / "domain.yml").read_text())
    assert {takeover.RESUMED, takeover.ENDED} <= set(domain["responses"])
    assert takeover.START_SCREENING in domain["intents"]


def test_a_retried_hand_back_of_a_conversation_already_resumed_asks_nothing_twice() -> None:
    # The front desk retries a hand-back whose answer it lost (a timeout): the first one
    # resumed the assistant and asked the open question; the retry changes nothing.
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.shared.core.events import ConversationPaused, ConversationResumed

    resumed = tracker(
        UserUttered("a person please", input_channel="telegram"),
        ConversationPaused(),
        ConversationResumed(),
    )
    saved: list[object] = []

    async def get_tracker(sender: str) -> DialogueStateTracker:
        return resumed

    async def save_tracker(changed: DialogueStateTracker) -> None:
        saved.append(changed)

    async def execute_action(*args: object) -> None:
        raise AssertionError("nothing is asked again")

    agent = SimpleNamespace(
        lock_store=InMemoryLockStore(),
        processor=SimpleNamespace(get_tracker=get_tracker, save_tracker=save_tracker),
        execute_action=execute_action,
        domain=DOMAIN,
    )
    request = SimpleNamespace(
        headers={"Authorization": f"Bearer {SECRET}"},
        json={"sender": "person", "staff": "tess", "mode": "continue"},
        app=SimpleNamespace(ctx=SimpleNamespace(agent=agent, input_channels=[])),
    )
    answer = asyncio.run(routes()["resume"].handler(request))
    assert answer.status == 200
    assert json.loads(answer.body) == {
        "resumed": True,
        "asked": None,
        "delivered": 0,
        "channel": "telegram",
    }
    assert saved == [] and not resumed.is_paused()


@pytest.mark.parametrize("operation", ["pause", "say", "resume"])
@pytest.mark.parametrize("down", [True, False], ids=["store down", "conversation busy"])
def test_a_lock_not_had_is_a_503_with_the_reason_and_no_number_in_the_log(
    operation, down, caplog
) -> None:
    from contextlib import asynccontextmanager

    from rasa.core.lock_store import LockError

    sender = "+447700900123"

    class Locks:
        @asynccontextmanager
        async def lock(self, conversation: str):
            if down:
                try:
                    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")
                except ConnectionError as error:
                    raise LockError("could not issue a ticket: ConnectionError") from error
            # As the production lock store says it (needlecheck/production/lock_store.py).
            raise LockError(f"the ticket for conversation '{conversation}' expired while waiting")
            yield

    request = SimpleNamespace(
        headers={"Authorization": f"Bearer {SECRET}"},
        json={"sender": sender, "staff": "tess", "text": "hello", "mode": "continue"},
        app=SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(lock_store=Locks()))),
    )
    answer = asyncio.run(routes()[operation].handler(request))
    assert answer.status == 503
    expected = "lock store is not answering" if down else "busy with this conversation"
    assert expected in json.loads(answer.body)["error"]
    assert caplog.records and "7700900123" not in caplog.text
