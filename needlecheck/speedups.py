"""Rasa 3.6's repeated work, remembered: the replacements `needlecheck.patches` installs
in the Rasa server for speed, each with the same behaviour as Rasa's own.

Some of Rasa 3.6's per-message costs are repeated work with the same answer every time,
measured with cProfile and py-spy on screening conversations:

- every action server response is checked with `jsonschema.validate()`, which first checks
  the schema itself against its meta-schema: about 100 ms of each form turn here. The
  validator is compiled once instead. The schema says each event is exactly one of 23
  event shapes (`oneOf`), so every event was tried against all 23 (2.7 ms for a
  nine-event reply); each shape fixes the `event` name, so an event is checked against
  the one shape with its name, which accepts and rejects the same replies. A rejected
  reply is checked again by the whole schema, for the same error as before.
- every event read back from the tracker store looks its class up by scanning all
  subclasses of `Event` (with `inspect.isabstract` on each): the lookup is remembered
  per event type name instead.
- while a form is active, every entity mapping of every slot is checked for being unique
  to its slot, and each check rebuilds the whole table from the domain: the table is
  kept per form and domain instead (the domain does not change while a model is loaded).

- the rule policy turns a tracker into its list of states twice for the same
  prediction (once reading the last message as text, once as intent), replaying every
  event of the conversation each time: the second call reuses the first's states
  (copied, because the policy edits the last one).
- every request to the action server opens a new HTTP session and TCP connection; one
  session per endpoint is kept, with its connections, instead. The request, with the
  whole tracker in it (60 kB by the end of a screening), is encoded with the standard
  `json` module: `ujson`, which Rasa already depends on, writes the same JSON in 40 % of
  the time, and reads the reply too.
- `applied_events()` walks every event of the conversation (more than once where a form
  ran), and one message calls it a dozen times: it is kept on the tracker and carried on
  from where it stopped when events are added (the same steps, in the same order).
- the in-memory tracker store (the development profile's) serialised every tracker at
  each save and rebuilt it at each read: the saved tracker itself is kept, and a turn
  that added events without saving them still leaves nothing.
- a full garbage collection walked every object the model loaded (millions of
  spaCy and scikit-learn objects): they are frozen once the model is loaded.
- every structured log call of the processor, the form and the rule policy deep-copied
  the conversation data it logs (events, slots, dialogue states), which needlecheck's
  log processor then withholds: those modules' `copy.deepcopy` gives the value itself.
- each run of the NLU and policy graphs (several a message) went through dask's
  scheduler and rebuilt the graph's minimal form: the nodes are called one after the
  other, in an order worked out once per set of targets.
- loading a model read its training graph too, importing every training component
  (TensorFlow with DIET and TED), which serving never uses: it is read when asked for.

Each function here takes the attribute it replaces and returns its replacement; none is
installed here (`needlecheck.patches` lists and installs them, docs/patches.md).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any


def compiled_action_validation(_: Any) -> Any:
    """For RemoteAction._validate_action_result: the schema compiled once, each event
    checked against the one shape with its name."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    event_schema = schema["properties"]["events"]["items"]
    shapes = {
        shape["properties"]["event"]["const"]: validator_class(shape)
        for shape in event_schema["oneOf"]
    }
    if len(shapes) != len(event_schema["oneOf"]):
        raise RuntimeError("two event shapes share a name: the one-shape check would differ")
    outline = validator_class(
        {
            **schema,
            "properties": {
                **schema["properties"],
                "events": {
                    **schema["properties"]["events"],
                    "items": {k: v for k, v in event_schema.items() if k != "oneOf"},
                },
            },
        }
    )

    def conforms(result: Any) -> bool:
        if not outline.is_valid(result):
            return False
        for event in result.get("events") or ():
            shape = shapes.get(event["event"])
            if shape is None or not shape.is_valid(event):
                return False
        return True

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if conforms(result):
            return True
        try:
            validator.validate(result)
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise
        return True

    return _validate_action_result


def event_class_cache(resolve: Any) -> Any:
    """For Event.resolve_by_type: each type name's class remembered."""
    from rasa.shared.core.events import Event

    classes: dict[str, type[Event]] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        found = classes.get(type_name)
        if found is None:
            try:
                found = resolve(type_name)
            except ValueError:
                if default is not None:
                    return default
                raise
            if found is None:
                return None
            classes[type_name] = found
        return found

    return resolve_by_type


def unique_mapping_cache(build: Any) -> Any:
    """For FormAction._create_unique_entity_mappings: the table kept per form and domain."""
    from rasa.core.actions.forms import FormAction

    tables: dict[tuple[str, int], tuple[object, set[str]]] = {}

    def create_unique_entity_mappings(self: FormAction, domain: Any) -> set[str]:
        key = (self.name(), id(domain))
        cached = tables.get(key)
        # The domain itself is kept with its table, so its id cannot be reused meanwhile.
        if cached is None or cached[0] is not domain:
            cached = (domain, build(self, domain))
            tables[key] = cached
        return cached[1]

    return create_unique_entity_mappings


def state_reuse(compute: Any) -> Any:
    """For Domain.states_for_tracker_history: the second call of a prediction reuses the
    first's states."""
    from rasa.shared.core.domain import Domain

    # One entry: the two calls of one prediction come one after the other.
    last: dict[str, Any] = {}

    def states_for_tracker_history(
        self: Domain,
        tracker: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[dict[str, dict[str, Any]]]:
        events = tracker.events
        key = (omit_unset_slots, ignore_rule_only_turns, len(events))
        if (
            last.get("domain") is self
            and last.get("tracker") is tracker
            and last.get("key") == key
            and (not events or last.get("last_event") is events[-1])
            and last.get("rule_only_data") == rule_only_data
        ):
            states = last["states"]
        else:
            states = compute(
                self,
                tracker,
                omit_unset_slots=omit_unset_slots,
                ignore_rule_only_turns=ignore_rule_only_turns,
                rule_only_data=rule_only_data,
            )
            last.update(
                domain=self,
                tracker=tracker,
                key=key,
                last_event=events[-1] if events else None,
                rule_only_data=rule_only_data,
                states=states,
            )
        # A state is two levels of dicts over strings and tuples: this copy is complete.
        return [{name: dict(sub) for name, sub in state.items()} for state in states]

    return states_for_tracker_history


def incremental_applied_events(_: Any) -> Any:
    """For DialogueStateTracker.applied_events: carried on from where it stopped."""
    from itertools import islice

    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    # Rasa's loop body, for one event: it depends only on the events applied so far and
    # on the names of every loop the conversation activates.
    def apply(
        tracker: DialogueStateTracker, event: Any, loop_names: frozenset[str], applied: list
    ) -> None:
        if isinstance(event, (Restarted, SessionStarted)):
            applied.clear()
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)

    def loop_names_of(events: Any) -> frozenset[str]:
        return frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)

    def applied_events(self: DialogueStateTracker) -> list[Any]:
        events = self.events
        count = len(events)
        memo = self.__dict__.get("_needlecheck_applied")
        # (events deque, how many were applied, the last of them, loop names, result).
        # Events are only ever appended: the same deque, still holding the same event at
        # the same place, has only new events after it.
        if (
            memo is not None
            and memo[0] is events
            and memo[1] <= count
            and (memo[1] == 0 or events[memo[1] - 1] is memo[2])
        ):
            _, done, _, loop_names, applied = memo
            new = list(islice(events, done, None))
            # A new loop name changes how earlier events apply: then from the start.
            if loop_names_of(new) <= loop_names:
                for event in new:
                    apply(self, event, loop_names, applied)
                return remember(self, loop_names, applied)
        loop_names = loop_names_of(events)
        applied = []
        for event in events:
            apply(self, event, loop_names, applied)
        return remember(self, loop_names, applied)

    def remember(
        tracker: DialogueStateTracker, loop_names: frozenset[str], applied: list
    ) -> list[Any]:
        events = tracker.events
        count = len(events)
        tracker.__dict__["_needlecheck_applied"] = (
            events,
            count,
            events[-1] if count else None,
            loop_names,
            applied,
        )
        # A copy: callers edit their list (the rule policy does).
        return list(applied)

    return applied_events


# Below the action server's keep-alive (Sanic's default, 5 s), so that the client never
# sends on a connection the server is closing. HAProxy keeps client connections longer.
ACTION_KEEPALIVE_S = 2.0


def kept_action_connections(_: Any) -> Any:
    """For EndpointConfig.request: one kept session per endpoint, JSON by ujson."""
    import os
    import ssl

    import aiohttp
    import ujson
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import (
        DEFAULT_REQUEST_TIMEOUT,
        ClientResponseError,
        EndpointConfig,
        concat_url,
    )

    def session_for(config: EndpointConfig) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        kept = _kept_sessions.get(id(config))
        if kept is not None and kept[0] is config and kept[1] is loop and not kept[2].closed:
            return kept[2]
        auth = None
        if config.basic_auth:
            auth = aiohttp.BasicAuth(config.basic_auth["username"], config.basic_auth["password"])
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=ACTION_KEEPALIVE_S),
            headers=config.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            json_serialize=ujson.dumps,
        )
        _kept_sessions[id(config)] = (config, loop, session)
        return session

    # Rasa's own request(), with the kept session as the one difference.
    async def request(
        self: EndpointConfig,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if "headers" in kwargs:
            headers.update(kwargs.pop("headers"))
        if self.headers:
            headers.update(self.headers)
        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, "
                    f"'{os.path.abspath(self.cafile)}' does not exist."
                ) from e
        async with session_for(self).request(
            method,
            concat_url(self.url, subpath),
            headers=headers,
            params=self.combine_parameters(kwargs),
            compress=compress,
            ssl=sslcontext,
            **kwargs,
        ) as response:
            if response.status >= 400:
                raise ClientResponseError(
                    response.status, response.reason, await response.content.read()
                )
            try:
                return await response.json(loads=ujson.loads)
            except aiohttp.ContentTypeError:
                return None

    return request


def kept_sessions_closed(close_resources: Any) -> Any:
    """For rasa.core.run.close_resources: the kept sessions closed first, when the server
    stops."""

    async def close_resources_and_sessions(app: Any, loop: Any) -> None:
        await close_kept_sessions()
        await close_resources(app, loop)

    return close_resources_and_sessions


# One session per endpoint, on the event loop that opened it: Rasa's own request() opens
# a session and a TCP connection for every call.
_kept_sessions: dict[int, tuple[Any, Any, Any]] = {}


async def close_kept_sessions() -> None:
    """Close the kept sessions of the running event loop (the server's, when it stops)."""
    loop = asyncio.get_running_loop()
    for key, (_, owner, session) in list(_kept_sessions.items()):
        if owner is loop:
            del _kept_sessions[key]
            await session.close()


# The in-memory tracker store (the development profile's) keeps each saved tracker itself
# instead of serialising it at every save and reading it back at every message.
# sender -> (the saved tracker, its events deque, how many were saved, the last one)
def _live(store: Any) -> dict[str, tuple[Any, Any, int, Any]]:
    return store.__dict__.setdefault("_needlecheck_live", {})


def live_in_memory_save(_: Any) -> Any:
    """For InMemoryTrackerStore.save: the tracker itself kept, with what was saved of it."""
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker

    async def save(self: InMemoryTrackerStore, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        events = tracker.events
        _live(self)[tracker.sender_id] = (
            tracker,
            events,
            len(events),
            events[-1] if events else None,
        )

    return save


def live_in_memory_retrieve(_: Any) -> Any:
    """For InMemoryTrackerStore._retrieve: the kept tracker, as far as it was saved."""
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.constants import ACTION_SESSION_START_NAME
    from rasa.shared.core.conversation import Dialogue
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import (
        DialogueStateTracker,
        get_trackers_for_conversation_sessions,
    )

    def saved(self: InMemoryTrackerStore, sender_id: str) -> DialogueStateTracker | None:
        entry = _live(self).get(sender_id)
        if entry is None:
            return None
        tracker, events, length, last = entry
        if (
            tracker.events is events
            and len(events) == length
            and (events[-1] if events else None) is last
        ):
            return tracker
        # A turn added events and did not save them: it failed (the resilience module
        # relies on an unsaved turn leaving nothing), or it is still running and this is
        # another reader. Either way the saved events only, in a new tracker.
        rebuilt = self.init_tracker(sender_id)
        rebuilt.recreate_from_dialogue(Dialogue(sender_id, list(events)[:length]))
        _live(self)[sender_id] = (rebuilt, rebuilt.events, length, last)
        return rebuilt

    def sessions(tracker: DialogueStateTracker) -> int:
        return sum(
            1
            for event in tracker.events
            if type(event) is ActionExecuted and event.action_name == ACTION_SESSION_START_NAME
        )

    async def _retrieve(
        self: InMemoryTrackerStore, sender_id: str, fetch_all_sessions: bool
    ) -> DialogueStateTracker | None:
        tracker = saved(self, sender_id)
        if tracker is None or fetch_all_sessions or sessions(tracker) <= 1:
            return tracker
        # Rasa's own: the last session only (which its next save then keeps).
        return get_trackers_for_conversation_sessions(tracker)[-1]

    return _retrieve


def live_in_memory_keys(_: Any) -> Any:
    """For InMemoryTrackerStore.keys: the senders of the kept trackers."""

    async def keys(self: Any) -> Any:
        return _live(self).keys()

    return keys


def frozen_heap_after_load(load: Any) -> Any:
    """For rasa.core.run.load_agent_on_start: the heap frozen once the model is loaded."""
    import gc

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        # Everything loaded so far lives as long as the process; frozen, the collector
        # stops walking it (millions of spaCy and scikit-learn objects) on full collections.
        gc.collect()
        gc.freeze()
        return agent

    return load_agent_on_start


def unread_train_schema(from_dict: Any) -> Any:
    """For ModelMetadata.from_dict: the training graph read only when it is asked for.

    Reading it imports every training component it names, TensorFlow's among them
    (needlecheck.without_tensorflow); serving a model never asks for it."""
    from rasa.engine.graph import GraphSchema

    class UnreadSchema(GraphSchema):
        def __init__(self, serialized: dict[str, Any]) -> None:
            self._serialized = serialized
            self._nodes: dict[str, Any] | None = None

        @property  # type: ignore[override]
        def nodes(self) -> dict[str, Any]:
            if self._nodes is None:
                self._nodes = GraphSchema.from_dict(self._serialized).nodes
            return self._nodes

    def read(cls: Any, serialized: dict[str, Any]) -> Any:
        metadata = from_dict({**serialized, "train_schema": {"nodes": {}}})
        metadata.train_schema = UnreadSchema(serialized["train_schema"])
        return metadata

    return classmethod(read)


# Rasa modules whose every `copy.deepcopy()` is an argument of a structured log call.
LOG_COPYING_MODULES = (
    "rasa.core.processor",
    "rasa.core.actions.forms",
    "rasa.core.policies.rule_policy",
)


class _ShallowLogCopies:
    """Stands for the `copy` module in Rasa modules whose every `copy.deepcopy()` is a
    structured log's argument (tests/test_rasa_server.py reads them to check): the value
    itself instead of a copy. needlecheck's log processor withholds every such argument
    (needlecheck.security.logs.RASA_CONTENT_KEYS), so the copies were made to be thrown
    away, at every message."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value


def log_copies_skipped(_: Any) -> Any:
    """For the `copy` name of rasa.core.processor, rasa.core.actions.forms and
    rasa.core.policies.rule_policy (see _ShallowLogCopies)."""
    return _ShallowLogCopies()


def sequential_graph_runs(_: Any) -> Any:
    """For DaskGraphRunner.run: the graph's nodes called one after the other, in an order
    worked out once per set of targets, instead of through dask's scheduler.

    Serving a model runs two small graphs (the NLU pipeline, the policies) several times
    a message; dask's scheduling and Rasa's rebuilding of the minimal graph cost about
    as much as some of the nodes. Each node gets the same arguments as under dask (its
    needs' `(name, output)` pairs, an input as `(name, value)`), and a RuntimeError
    becomes GraphRunError as in Rasa's."""
    from rasa.engine.exceptions import GraphRunError

    def run(
        self: Any, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        steps, node_names = _graph_plan(self, tuple(run_targets))
        values: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in node_names:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            values[name] = (name, value)
        try:
            for node_name, needs in steps:
                if node_name in values:
                    continue
                # A need that is neither a node nor an input reaches the node as its name,
                # as under dask.
                arguments = (values.get(need, need) for need in needs)
                values[node_name] = self._instantiated_nodes[node_name](*arguments)
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(values[target] for target in run_targets)

    return run


def _graph_plan(runner: Any, targets: tuple[str, ...]) -> tuple[list[Any], frozenset[str]]:
    """The minimal graph's nodes for `targets`, each after every node it needs, with their
    needs; kept per runner and targets (a loaded model's graph does not change)."""
    plans = runner.__dict__.setdefault("_needlecheck_plans", {})
    plan = plans.get(targets)
    if plan is None:
        nodes = runner._graph_schema.minimal_graph_schema(list(targets)).nodes
        steps: list[tuple[str, tuple[str, ...]]] = []
        placed: set[str] = set()

        def place(name: str, path: tuple[str, ...]) -> None:
            if name in placed or name not in nodes:
                return
            if name in path:
                raise ValueError(f"the graph has a cycle through {name!r}")
            needs = tuple(nodes[name].needs.values())
            for need in needs:
                place(need, (*path, name))
            placed.add(name)
            steps.append((name, needs))

        for name in nodes:
            place(name, ())
        plan = plans[targets] = (steps, frozenset(nodes))
    return plan
