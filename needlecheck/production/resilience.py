"""What the Rasa server does when a part of the system fails, instead of Rasa 3.6's
defaults (installed by `needlecheck.rasa_server` before Rasa's command line runs):

- Rasa wraps the tracker store in a fail-safe: a failed save kept the events in this
  process's memory only (lost at restart, invisible to the other instance) and a failed
  read silently started the conversation afresh. Here the error propagates instead.
- A message that cannot be processed because a store or the lock is down was dropped with
  a log line; the person now gets `utter_service_unavailable` and the tracker is untouched.
- A custom action that fails (the action servers are down) lost its events and the
  conversation went silently on; now the turn stops before anything of it is saved, the
  person gets `utter_action_unavailable`, and sending the message again redoes the turn.
- The action server was waited for up to 300 s; now `NEEDLECHECK_ACTION_TIMEOUT` (20 s).
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Mapping
from typing import Any

from needlecheck.config import bounded_int

logger = logging.getLogger(__name__)

UTTER_ACTION_UNAVAILABLE = "utter_action_unavailable"
UTTER_SERVICE_UNAVAILABLE = "utter_service_unavailable"
DEFAULT_ACTION_TIMEOUT = 20


def action_timeout(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return bounded_int(
        env,
        "NEEDLECHECK_ACTION_TIMEOUT",
        DEFAULT_ACTION_TIMEOUT,
        1,
        300,
        "a number of seconds (1-300)",
    )


# The methods of Rasa's FailSafeTrackerStore that hid a failed store.
STRICT_TRACKER_STORE_METHODS = ("retrieve", "retrieve_full_tracker", "save", "keys")


def strict_tracker_store(name: str) -> Any:
    """The factory of FailSafeTrackerStore.<name>: the wrapped store's own method, its
    error logged and raised instead of hidden."""

    def factory(_: Any) -> Any:
        async def call(self: Any, *args: Any) -> Any:
            try:
                return await getattr(self._tracker_store, name)(*args)
            except Exception as error:
                logger.error("tracker store %s failed: %s", name, error.__class__.__name__)
                raise

        return call

    return factory


def response_text(domain: Any, name: str) -> str:
    from needlecheck.responses import render, server_values

    variants = (getattr(domain, "responses", None) or {}).get(name) or [{}]
    text = str(variants[0].get("text") or "Sorry, something went wrong. Please try again.")
    return render(text, server_values())


def unavailable_reply(handle: Any) -> Any:
    """For Agent.handle_message (`handle`): a store, the lock or an action server down is
    answered with an apology instead of silence."""
    from rasa.core.agent import Agent
    from rasa.core.lock_store import LockError
    from sqlalchemy.exc import SQLAlchemyError

    from needlecheck.production.tracker_store import TrackerStoreUnavailable

    # Redis errors arrive as LockError; the tracker store's as the others.
    infrastructure = (LockError, TrackerStoreUnavailable, SQLAlchemyError, ConnectionError, OSError)

    async def handle_message(self: Agent, message: Any) -> Any:
        try:
            return await handle(self, message)
        except ActionServerUnavailable as error:
            logger.error("%s: the person is asked to send their message again", error)
            response = UTTER_ACTION_UNAVAILABLE
        except infrastructure as error:
            logger.error(
                "message not processed, a store is unavailable: %s", error.__class__.__name__
            )
            response = UTTER_SERVICE_UNAVAILABLE
        if message.output_channel is not None:
            text = response_text(self.domain, response)
            try:
                await message.output_channel.send_response(message.sender_id, {"text": text})
            except Exception as send_error:
                logger.error("could not send the apology: %s", send_error.__class__.__name__)
        return None

    return handle_message


class ActionServerUnavailable(RuntimeError):
    """A custom action failed; the turn stops before its tracker is saved."""

    def __init__(self, action: str, cause: Exception) -> None:
        super().__init__(f"action {action} failed: {cause.__class__.__name__}")
        self.action = action


_failures: contextvars.ContextVar[list[Exception] | None] = contextvars.ContextVar(
    "needlecheck_action_failures", default=None
)


def action_failures_noted(remote_run: Any) -> Any:
    """For RemoteAction.run (`remote_run`): a custom action's failure is noted for
    `failed_action_stops_turn`, then raised as before."""
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

    # Noted per task (a context variable): turns of other conversations run meanwhile.
    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        try:
            return await remote_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise  # a form's normal "not this slot"
        except Exception as error:
            failures = _failures.get()
            if failures is not None:
                failures.append(error)
            raise

    return run


def failed_action_stops_turn(run_action: Any) -> Any:
    """For MessageProcessor._run_action (`run_action`): a custom action that failed stops
    the turn before anything of it is saved."""
    from rasa.core.processor import MessageProcessor

    async def _run_action(
        self: MessageProcessor,
        action: Any,
        tracker: Any,
        output_channel: Any,
        nlg: Any,
        prediction: Any,
    ) -> bool:
        failures: list[Exception] = []
        token = _failures.set(failures)
        try:
            carry_on = await run_action(self, action, tracker, output_channel, nlg, prediction)
        finally:
            _failures.reset(token)
        if not failures:
            return carry_on
        # Rasa logged the action as run with no events and would go on; stopping the turn
        # here leaves the stored conversation as it was before this message, so sending
        # it again redoes the turn whole. (Taking the message back with
        # UserUtteranceReverted instead would also take back the form's earlier answers:
        # Rasa drops a form's user messages from the applied events.)
        raise ActionServerUnavailable(action.name(), failures[0])

    return _run_action


def configured_action_timeout(_: Any) -> int:
    """For rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT: NEEDLECHECK_ACTION_TIMEOUT."""
    return action_timeout()
