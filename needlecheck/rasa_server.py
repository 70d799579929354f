"""Rasa's command line as needlecheck runs it: `python -m needlecheck.rasa_server run ...`.

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
- the request to the action server, with the whole tracker in it (60 kB by the end of a
  screening), is encoded with the standard `json` module: `ujson`, which Rasa already
  depends on, writes the same JSON in 40 % of the time.

They are installed before Rasa's command line runs, with what the server does when a
store or an action server fails (`needlecheck.production.resilience`).

One start-up cost is an accident of import order: when the model loads, importing
`skops.io` (for the logistic-regression classifier) scans every module already imported
for every type it trusts, and by then TensorFlow, spaCy and medspaCy are loaded: 15 s.
Imported first, before Rasa, the same import takes 5 s.
"""

from __future__ import annotations

import sys
from typing import Any


def install_compiled_action_validation() -> None:
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

    RemoteAction._validate_action_result = _validate_action_result


def install_event_class_cache() -> None:
    from rasa.shared.core.events import Event

    resolve = Event.resolve_by_type
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

    Event.resolve_by_type = staticmethod(resolve_by_type)


def install_unique_mapping_cache() -> None:
    from rasa.core.actions.forms import FormAction

    build = FormAction._create_unique_entity_mappings
    tables: dict[tuple[str, int], tuple[object, set[str]]] = {}

    def create_unique_entity_mappings(self: FormAction, domain: Any) -> set[str]:
        key = (self.name(), id(domain))
        cached = tables.get(key)
        # The domain itself is kept with its table, so its id cannot be reused meanwhile.
        if cached is None or cached[0] is not domain:
            cached = (domain, build(self, domain))
            tables[key] = cached
        return cached[1]

    FormAction._create_unique_entity_mappings = create_unique_entity_mappings


def install_state_reuse() -> None:
    from rasa.shared.core.domain import Domain

    compute = Domain.states_for_tracker_history
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

    Domain.states_for_tracker_history = states_for_tracker_history


def install_fast_request_json() -> None:
    import aiohttp
    import ujson
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    # Rasa's own session(), with the JSON encoder as the one difference.
    def session(self: EndpointConfig) -> aiohttp.ClientSession:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        return aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            json_serialize=ujson.dumps,
        )

    EndpointConfig.session = session


def install_frozen_heap_after_load() -> None:
    import gc

    import rasa.core.run

    load = rasa.core.run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        # Everything loaded so far lives as long as the process; frozen, the collector
        # stops walking it (millions of TensorFlow and spaCy objects) on full collections.
        gc.collect()
        gc.freeze()
        return agent

    rasa.core.run.load_agent_on_start = load_agent_on_start


def install() -> None:
    import skops.io  # noqa: F401 - see the module docstring: first, while few modules are loaded

    install_compiled_action_validation()
    install_event_class_cache()
    install_unique_mapping_cache()
    install_state_reuse()
    install_fast_request_json()
    install_frozen_heap_after_load()
    from needlecheck.production import resilience
    from needlecheck.security import logs, rasa_guard

    resilience.install()
    rasa_guard.install()
    logs.install()


def main(argv: list[str] | None = None) -> None:
    import os

    # Before Rasa is imported: a health product sends nothing to third parties, however
    # the server is started.
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    from rasa.__main__ import main as rasa_main

    install()
    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
