"""needlecheck.speedups, as the Rasa server installs them (needlecheck.patches): Rasa's
repeated work is remembered, its behaviour unchanged."""

from __future__ import annotations

import random

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from needlecheck import patches, rasa_server, speedups

# Rasa's own (the patches are installed by each test, and undone after it by
# tests/conftest.py).
ORIGINAL_APPLIED_EVENTS = DialogueStateTracker.applied_events
ORIGINAL_GRAPH_RUN = __import__("rasa.engine.runner.dask").engine.runner.dask.DaskGraphRunner.run


@pytest.fixture(autouse=True)
def installed() -> None:
    patches.install()


def test_action_responses_are_still_validated() -> None:
    action = RemoteAction("action_x", None)
    assert action._validate_action_result(
        {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": []}
    )
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": "no_such_event"}], "responses": []})


def test_event_classes_resolve_as_before() -> None:
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")


def test_unique_entity_mappings_are_kept_per_form_and_domain() -> None:
    domain = Domain.from_yaml(
        """
entities: [city]
slots:
  departure:
    type: text
    mappings: [{type: from_entity, entity: city, role: from}]
  arrival:
    type: text
    mappings: [{type: from_entity, entity: city}]
  other:
    type: text
    mappings: [{type: from_entity, entity: city}]
forms:
  trip:
    required_slots: [departure, arrival, other]
"""
    )
    form = FormAction("trip", None)
    first = form._create_unique_entity_mappings(domain)
    assert first == {'{"entity": "city", "role": "from", "type": "from_entity"}'}
    assert FormAction("trip", None)._create_unique_entity_mappings(domain) is first


STATES_DOMAIN = """
intents: [greet, inform]
slots:
  age:
    type: float
    influence_conversation: true
    mappings: [{type: custom}]
responses:
  utter_hi: [{text: hi}]
"""


def test_states_are_reused_only_for_the_same_tracker_and_events() -> None:
    domain = Domain.from_yaml(STATES_DOMAIN)

    def fresh(tracker: DialogueStateTracker) -> list:
        # Another tracker object with the same events is never served from the memory.
        twin = DialogueStateTracker.from_events("twin", list(tracker.events), domain.slots)
        return domain.states_for_tracker_history(twin)

    tracker = DialogueStateTracker.from_events(
        "s", [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"})], domain.slots
    )
    first = domain.states_for_tracker_history(tracker)
    # The policy deletes keys of the last state; the next caller must not see that.
    first[-1]["user"].clear()
    again = domain.states_for_tracker_history(tracker)
    assert again == fresh(tracker)
    assert again[-1]["user"]["intent"] == "greet"

    tracker.update(ActionExecuted("utter_hi"))
    tracker.update(SlotSet("age", 34))
    after = domain.states_for_tracker_history(tracker)
    assert after == fresh(tracker)
    assert len(after) == len(again) + 1
    assert after[-1]["prev_action"] == {"action_name": "utter_hi"}
    assert domain.states_for_tracker_history(tracker, ignore_rule_only_turns=True) == (
        domain.states_for_tracker_history(
            DialogueStateTracker.from_events("x", list(tracker.events), domain.slots),
            ignore_rule_only_turns=True,
        )
    )


def _event_maker(rng: random.Random) -> Event:
    from rasa.shared.core.events import (
        ActionExecutionRejected,
        ActionReverted,
        ActiveLoop,
        BotUttered,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
    )

    makers = [
        lambda: ActionExecuted("action_listen"),
        lambda: ActionExecuted("form_a"),
        lambda: ActionExecuted("form_b"),
        lambda: ActionExecuted("utter_x"),
        lambda: ActiveLoop("form_a"),
        lambda: ActiveLoop("form_b"),
        lambda: ActiveLoop(None),
        lambda: UserUttered("u", {"name": "i"}),
        lambda: SlotSet("s", rng.randint(0, 3)),
        lambda: BotUttered("b"),
        lambda: ActionExecutionRejected("form_a"),
        lambda: ActionReverted(),
        lambda: UserUtteranceReverted(),
        lambda: Restarted(),
        lambda: SessionStarted(),
    ]
    weights = [8, 6, 3, 4, 2, 1, 2, 8, 3, 3, 1, 1, 1, 0.3, 0.3]
    return rng.choices(makers, weights)[0]()


@pytest.mark.parametrize("seed", range(40))
def test_applied_events_carried_on_equal_rasas_from_the_start(seed: int) -> None:
    assert ORIGINAL_APPLIED_EVENTS.__module__ == "rasa.shared.core.trackers"
    rng = random.Random(seed)
    tracker = DialogueStateTracker("s", None)
    for _ in range(120):
        tracker.update(_event_maker(rng))
        if rng.random() < 0.6:
            kept = tracker.applied_events()
            assert kept == ORIGINAL_APPLIED_EVENTS(tracker)
            # A caller that edits its list does not edit the next caller's.
            kept.clear()
    assert tracker.applied_events() == ORIGINAL_APPLIED_EVENTS(tracker)


def test_action_requests_share_one_connection_and_are_json_encoded() -> None:
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError

    async def scenario() -> tuple[list[object], int]:
        peers: set[object] = set()

        async def answer(request: web.Request) -> web.Response:
            # The client's end of the connection: one address for one connection.
            peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
            if request.path == "/webhook/fail":
                return web.Response(status=500, text="boom")
            if request.path == "/webhook/text":
                return web.Response(text="plain")
            return web.json_response({"got": await request.text(), "auth": request.headers["X-A"]})

        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-A": "1"})
        try:
            answers = [await endpoint.request(json={"n": n, "é": "ü"}) for n in range(3)]
            answers.append(await endpoint.request(subpath="text", json={}))
            try:
                await endpoint.request(subpath="fail", json={})
            except ClientResponseError as error:
                answers.append(error.status)
        finally:
            await speedups.close_kept_sessions()
            await runner.cleanup()
        return answers, len(peers)

    answers, connections = asyncio.run(scenario())
    # ujson writes what json.dumps would, without the spaces.
    assert answers[:3] == [
        {"got": f'{{"n":{n},"\\u00e9":"\\u00fc"}}', "auth": "1"} for n in range(3)
    ]
    assert answers[3:] == [None, 500]
    assert connections == 1


def test_a_connection_the_server_closed_is_not_reused() -> None:
    import asyncio

    from aiohttp import web

    async def scenario() -> list[object]:
        app = web.Application()

        async def ok(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app.router.add_post("/webhook", ok)
        # The server closes idle connections after 0.2 s; the client must open a new one.
        runner = web.AppRunner(app, keepalive_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        try:
            first = await endpoint.request(json={})
            await asyncio.sleep(0.5)
            second = await endpoint.request(json={})
        finally:
            await speedups.close_kept_sessions()
            await runner.cleanup()
        return [first, second]

    assert asyncio.run(scenario()) == [{"ok": True}, {"ok": True}]


@pytest.mark.parametrize(
    "reply",
    [
        {"events": [], "responses": []},
        {"responses": [{"text": "hi"}]},
        {"events": [{"event": "slot", "name": "a", "value": None, "timestamp": None}]},
        {"events": [{"event": "active_loop", "name": None}, {"event": "followup", "name": "x"}]},
        {"events": [{"event": "reset_slots"}, {"event": "restart", "timestamp": 1.5}]},
        {"events": [{"event": "bot", "text": "hi", "data": {"buttons": []}}]},
        {"events": [{"event": "slot"}]},
        {"events": [{"event": "slot", "name": 3}]},
        {"events": [{"event": "followup"}]},
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"name": "a"}]},
        {"events": [{"event": "slot", "name": "a", "timestamp": "noon"}]},
        {"events": {"event": "slot"}},
        {"events": [], "responses": [3]},
        {"events": ["slot"]},
        [],
    ],
)
def test_action_replies_are_judged_as_by_the_whole_schema(reply: object) -> None:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    expected = validator_for(schema)(schema).is_valid(reply)
    action = RemoteAction("action_x", None)
    if expected:
        assert action._validate_action_result(reply)
    else:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(reply)


def test_the_heap_is_frozen_once_the_model_is_loaded() -> None:
    import asyncio
    import gc

    loaded = object()

    async def load(*_: object) -> object:
        return loaded

    load_agent_on_start = speedups.frozen_heap_after_load(load)
    try:
        assert asyncio.run(load_agent_on_start("model", None)) is loaded
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_in_memory_store_keeps_saved_trackers_and_forgets_unsaved_turns() -> None:
    import asyncio

    domain = Domain.from_yaml(STATES_DOMAIN)
    store = InMemoryTrackerStore(domain)

    async def scenario() -> None:
        assert await store.retrieve("p") is None
        tracker = await store.get_or_create_tracker("p")
        tracker.update(UserUttered("I am 34", {"name": "inform"}))
        tracker.update(SlotSet("age", 34))
        await store.save(tracker)
        saved = list(tracker.events)
        # Nothing to rebuild: the saved tracker itself.
        assert await store.retrieve("p") is tracker
        assert list(await store.keys()) == ["p"]

        # A turn that fails before it is saved leaves nothing behind.
        turn = await store.retrieve("p")
        turn.update(UserUttered("actually 35", {"name": "inform"}))
        turn.update(SlotSet("age", 35))
        after = await store.retrieve("p")
        assert after is not turn
        assert list(after.events) == saved
        assert after.get_slot("age") == 34
        assert after.latest_message.text == "I am 34"
        # The failed turn's tracker saved late (a slow turn that did finish) still counts.
        await store.save(turn)
        assert (await store.retrieve("p")).get_slot("age") == 35

    asyncio.run(scenario())


def test_the_in_memory_store_returns_the_last_session_like_rasa() -> None:
    import asyncio

    from rasa.shared.core.events import SessionStarted

    domain = Domain.from_yaml(STATES_DOMAIN)
    store = InMemoryTrackerStore(domain)
    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("I am 34", {"name": "inform"}),
        SlotSet("age", 34),
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet"}),
    ]

    async def scenario() -> tuple[DialogueStateTracker, DialogueStateTracker]:
        await store.save(DialogueStateTracker.from_events("p", events, domain.slots))
        return await store.retrieve("p"), await store.retrieve_full_tracker("p")

    last, full = asyncio.run(scenario())
    assert [e.text for e in last.events if isinstance(e, UserUttered)] == ["hi"]
    assert last.get_slot("age") is None
    assert len(full.events) == len(events)


def test_the_server_installs_every_patch_and_scrubs_its_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from needlecheck.security import logs

    patches.undo()  # this module's fixture installed them
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(logs, "_installed", False)
    try:
        rasa_server.install()
        assert patches.installed()
        assert logging.getLogRecordFactory() is not factory
    finally:
        logging.setLogRecordFactory(factory)
        for name in ("sanic.access", "uvicorn.access"):
            logger = logging.getLogger(name)
            for kept in [f for f in logger.filters if isinstance(f, logs.ScrubExtras)]:
                logger.removeFilter(kept)


def test_every_deep_copy_skipped_is_a_withheld_log_argument() -> None:
    """log_copies_skipped hands structured logs the value itself: safe only while every
    `copy.deepcopy()` of those modules is a log argument the log processor withholds."""
    import ast
    import importlib
    import inspect

    from needlecheck.security.logs import RASA_CONTENT_KEYS

    for name in speedups.LOG_COPYING_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        logged = {
            id(keyword.value)
            for call in ast.walk(tree)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "structlogger"
            for keyword in call.keywords
            if keyword.arg in RASA_CONTENT_KEYS
        }
        copies = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "deepcopy"
        ]
        assert copies, name
        assert all(id(node) in logged for node in copies), name
        assert importlib.import_module(name).copy.deepcopy(copies) is copies
        assert importlib.import_module(name).copy.copy(copies) == copies


@pytest.fixture(scope="module")
def agent():
    import asyncio
    from pathlib import Path

    from rasa.core.agent import load_agent

    model = Path(__file__).parents[1] / "models" / "needlecheck.tar.gz"
    if not model.exists():
        pytest.fail(f"{model} is missing: run `make model` first")
    return asyncio.run(load_agent(model_path=str(model)))


def test_sequential_graph_runs_give_what_dask_gave(agent, monkeypatch) -> None:
    """The model's own NLU and policy graphs, run both ways on the same messages."""
    import asyncio

    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.shared.core.events import SessionStarted

    patched = DaskGraphRunner.run
    texts = [
        "hi",
        "yes",
        "nah just moisturiser and spf",
        "was on accutane in 2019",
        "how much does it cost?",
        "I have a fever and pus on my cheek",
        "fcae",
    ]

    def both_ways(work):
        monkeypatch.setattr(DaskGraphRunner, "run", ORIGINAL_GRAPH_RUN)
        dask = work()
        monkeypatch.setattr(DaskGraphRunner, "run", patched)
        return dask, work()

    for text in texts:
        dask, sequential = both_ways(lambda text=text: asyncio.run(agent.parse_message(text)))
        assert sequential == dask
        tracker = DialogueStateTracker.from_events(
            "graph.test",
            [
                ActionExecuted("action_session_start"),
                SessionStarted(),
                ActionExecuted("action_listen"),
                UserUttered(text, dask["intent"], dask["entities"], dask),
            ],
        )
        dask, sequential = both_ways(
            lambda tracker=tracker: agent.processor._predict_next_with_tracker(tracker)
        )
        assert (sequential.max_confidence_index, sequential.policy_name) == (
            dask.max_confidence_index,
            dask.policy_name,
        )
        assert sequential.probabilities == dask.probabilities


def test_sequential_graph_runs_refuse_what_dask_refused(agent) -> None:
    from rasa.engine.exceptions import GraphRunError

    runner = agent.processor.graph_runner
    targets = list(runner._graph_schema.nodes)
    for run in (ORIGINAL_GRAPH_RUN, type(runner).run):
        with pytest.raises(GraphRunError, match="clashes with a node name"):
            run(runner, inputs={"__message__": targets[0]}, targets=targets)
