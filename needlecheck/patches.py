"""Every change needlecheck makes to Rasa's own code, in the one order it is installed.

needlecheck runs Rasa 3.6 unmodified from its wheel; in the Rasa server's process
(`python -m needlecheck.rasa_server`) it replaces some of Rasa's functions, methods and
settings before Rasa's command line runs. Each replacement is a `Patch` in `PATCHES`
below: what it replaces, the factory that makes the replacement from what it replaces,
and why. The factories stay with their concern: `needlecheck.speedups` (speed),
`needlecheck.responses` (the clinic's values), `needlecheck.production.resilience`
(failures), `needlecheck.security.rasa_guard` (guards) and `needlecheck.security.logs`
(logs without personal data). docs/patches.md describes each one and what to check when
upgrading Rasa.

- `install()` checks that the installed Rasa is the one the patches were written for
  (`RASA_SERIES`), then applies `PATCHES` in order; installing again does nothing.
- `undo()` puts back every attribute as it was before `install()` (the tests use it).

A factory receives the attribute as it is when its patch is applied (Rasa's own, or an
earlier patch's where two patches replace the same attribute) and returns what replaces
it. A static method is passed as its function, and its replacement made static again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from needlecheck import responses, speedups
from needlecheck.production import resilience
from needlecheck.security import logs, rasa_guard

# The Rasa release series the patches were written for and checked against ("3.6.x").
RASA_SERIES = "3.6"


class UnsupportedRasa(RuntimeError):
    """The installed Rasa is not the one the patches were written for."""


@dataclass(frozen=True)
class Patch:
    name: str
    # "module:attribute", or "module:Class.attribute": what is replaced.
    target: str
    # What replaces it, made from what it replaces (see the module docstring).
    factory: Callable[[Any], Any]
    why: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def attribute(self) -> str:
        """The name replaced ("request" in "rasa.utils.endpoints:EndpointConfig.request")."""
        return self._inside.split(".")[-1]

    @property
    def _inside(self) -> str:
        return self.target.partition(":")[2]

    def owner(self) -> Any:
        """The module or class that holds the attribute (importing it)."""
        owner = importlib.import_module(self.module)
        for name in self._inside.split(".")[:-1]:
            owner = getattr(owner, name)
        return owner


def _replaced_by(value: Any) -> Callable[[Any], Any]:
    """A factory for a replacement that does not depend on what it replaces."""
    return lambda _: value


_FAIL_SAFE = "rasa.core.tracker_store:FailSafeTrackerStore"

PATCHES: tuple[Patch, ...] = (
    # Speed (needlecheck.speedups): Rasa's behaviour unchanged.
    Patch(
        "compiled_action_validation",
        "rasa.core.actions.action:RemoteAction._validate_action_result",
        speedups.compiled_action_validation,
        "the action server's reply schema was compiled at every reply (100 ms a form turn)",
    ),
    Patch(
        "event_class_cache",
        "rasa.shared.core.events:Event.resolve_by_type",
        speedups.event_class_cache,
        "each event read back scanned every subclass of Event for its class",
    ),
    Patch(
        "unique_mapping_cache",
        "rasa.core.actions.forms:FormAction._create_unique_entity_mappings",
        speedups.unique_mapping_cache,
        "an active form rebuilt the whole entity-mapping table for every mapping",
    ),
    Patch(
        "state_reuse",
        "rasa.shared.core.domain:Domain.states_for_tracker_history",
        speedups.state_reuse,
        "the rule policy replayed the conversation twice for one prediction",
    ),
    *(
        Patch(
            f"log_copies_skipped.{module.rpartition('.')[2]}",
            f"{module}:copy",
            speedups.log_copies_skipped,
            "structured logs deep-copied conversation data that the log processor withholds",
        )
        for module in speedups.LOG_COPYING_MODULES
    ),
    Patch(
        "sequential_graph_runs",
        "rasa.engine.runner.dask:DaskGraphRunner.run",
        speedups.sequential_graph_runs,
        "each run of the NLU and policy graphs went through dask's scheduler",
    ),
    Patch(
        "incremental_applied_events",
        "rasa.shared.core.trackers:DialogueStateTracker.applied_events",
        speedups.incremental_applied_events,
        "applied_events() walked every event, a dozen times a message",
    ),
    Patch(
        "kept_action_connections",
        "rasa.utils.endpoints:EndpointConfig.request",
        speedups.kept_action_connections,
        "every action request opened a new HTTP session and TCP connection",
    ),
    Patch(
        "kept_sessions_closed",
        "rasa.core.run:close_resources",
        speedups.kept_sessions_closed,
        "the kept action-server sessions are closed when the server stops",
    ),
    Patch(
        "live_in_memory_trackers.save",
        "rasa.core.tracker_store:InMemoryTrackerStore.save",
        speedups.live_in_memory_save,
        "the in-memory store serialised the whole tracker at every save",
    ),
    Patch(
        "live_in_memory_trackers._retrieve",
        "rasa.core.tracker_store:InMemoryTrackerStore._retrieve",
        speedups.live_in_memory_retrieve,
        "the in-memory store rebuilt the whole tracker at every read",
    ),
    Patch(
        "live_in_memory_trackers.keys",
        "rasa.core.tracker_store:InMemoryTrackerStore.keys",
        speedups.live_in_memory_keys,
        "the senders of the trackers the in-memory store now keeps",
    ),
    Patch(
        "unread_train_schema",
        "rasa.engine.storage.storage:ModelMetadata.from_dict",
        speedups.unread_train_schema,
        "loading a model imported every training component, TensorFlow with them",
    ),
    Patch(
        "frozen_heap_after_load",
        "rasa.core.run:load_agent_on_start",
        speedups.frozen_heap_after_load,
        "full garbage collections walked every object of the loaded model",
    ),
    # The clinic's details (needlecheck.responses).
    Patch(
        "clinic_values",
        "rasa.core.nlg.response:TemplatedNaturalLanguageGenerator._response_variables",
        responses.clinic_values,
        "every response may name the clinic's emergency number, phone and retention",
    ),
    # Failures (needlecheck.production.resilience).
    *(
        Patch(
            f"strict_tracker_store.{method}",
            f"{_FAIL_SAFE}.{method}",
            resilience.strict_tracker_store(method),
            "Rasa's fail-safe hid a failed store: saves kept in memory, reads started afresh",
        )
        for method in resilience.STRICT_TRACKER_STORE_METHODS
    ),
    Patch(
        "unavailable_reply",
        "rasa.core.agent:Agent.handle_message",
        resilience.unavailable_reply,
        "a message that failed on a store, the lock or an action server was dropped silently",
    ),
    Patch(
        "action_failures_noted",
        "rasa.core.actions.action:RemoteAction.run",
        resilience.action_failures_noted,
        "a failed custom action is noted for failed_action_stops_turn",
    ),
    Patch(
        "failed_action_stops_turn",
        "rasa.core.processor:MessageProcessor._run_action",
        resilience.failed_action_stops_turn,
        "a failed custom action lost its events and the conversation went silently on",
    ),
    Patch(
        "action_timeout",
        "rasa.core.actions.action:DEFAULT_REQUEST_TIMEOUT",
        resilience.configured_action_timeout,
        "the action server was waited for up to 300 s",
    ),
    # Guards (needlecheck.security.rasa_guard).
    Patch(
        "guarded_app",
        "rasa.core.run:configure_app",
        rasa_guard.guarded_app,
        "Rasa sets no body cap, request time limit, address budget or cross-site refusal",
    ),
    Patch(
        "guarded_serving",
        "rasa.core.run:serve_application",
        rasa_guard.guarded_serving,
        "Rasa takes its API token on the command line and listens anywhere without one",
    ),
    Patch(
        "typed_payload_gate",
        "rasa.core.processor:MessageProcessor._parse_message_with_graph",
        rasa_guard.typed_payload_gate,
        "a typed /intent{...} set any intent and slot, as if a button had been pressed",
    ),
    Patch(
        "message_limits",
        "rasa.core.agent:Agent.handle_message",
        rasa_guard.message_limits,
        "Rasa processes a message of any length, at any rate (outside unavailable_reply)",
    ),
    # Logs (needlecheck.security.logs).
    Patch(
        "structured_logs_withheld",
        "rasa.utils.log_utils:_anonymizer",
        _replaced_by(logs.withhold_structured_content),
        "Rasa's structured log lines carry what people type and their slots",
    ),
)


@dataclass(frozen=True)
class _Applied:
    patch: Patch
    owner: Any
    # The attribute as the owner held it itself (a staticmethod object stays one), or
    # _INHERITED when the owner only inherited it.
    held: Any


_INHERITED = object()
_applied: list[_Applied] = []


def installed_rasa_version() -> str:
    from rasa.version import __version__

    return __version__


def check_rasa_version(version: str | None = None) -> str:
    """The installed Rasa's version, when it is of `RASA_SERIES`; UnsupportedRasa
    otherwise."""
    version = version or installed_rasa_version()
    if version.split(".")[:2] != RASA_SERIES.split("."):
        raise UnsupportedRasa(
            f"Rasa {version} is installed, but needlecheck's patches of Rasa's internals "
            f"(needlecheck/patches.py) were written for Rasa {RASA_SERIES}.x: install Rasa "
            f"{RASA_SERIES}.x (uv sync), or check every patch against the new Rasa "
            "(docs/patches.md, 'Upgrading Rasa') before changing RASA_SERIES"
        )
    return version


def installed() -> bool:
    return bool(_applied)


def install() -> None:
    """Apply every patch, in the order of PATCHES, after checking Rasa's version. Nothing
    happens when they are installed already; when one fails, those applied before it are
    undone and the error raised."""
    if _applied:
        return
    check_rasa_version()
    try:
        for patch in PATCHES:
            _apply(patch)
    except BaseException:
        undo()
        raise


def undo() -> None:
    """Put every patched attribute back as it was before `install()`, last patch first."""
    while _applied:
        applied = _applied.pop()
        if applied.held is _INHERITED:
            delattr(applied.owner, applied.patch.attribute)
        else:
            setattr(applied.owner, applied.patch.attribute, applied.held)


def _apply(patch: Patch) -> None:
    owner = patch.owner()
    name = patch.attribute
    held = vars(owner).get(name, _INHERITED)
    replacement = patch.factory(getattr(owner, name))
    if isinstance(held, staticmethod):
        replacement = staticmethod(replacement)
    setattr(owner, name, replacement)
    _applied.append(_Applied(patch, owner, held))
