"""Erasing a person's conversation events from Rasa's tracker store.

Rasa 3.6 has no API that deletes a conversation, so erasure deletes from the store
directly, whichever the deployment's endpoints file configures:
- Rasa's SQL tracker store (needlecheck's production store, or `type: SQL`): its `events`
  rows, in whatever database it uses (the screening database's own are deleted by
  `privacy.erase` in the same transaction);
- Rasa's Redis tracker store (`type: redis`): the conversation's key;
- no tracker store (in memory, `make run`): the running Rasa server's copy is replaced by
  an empty conversation through its HTTP API; a stopped server (the connection refused)
  holds nothing. A server that does not answer in time may still hold the conversation
  (or may have just deleted it): that is a failure, never "nothing to erase".
Any other store is reported, not silently skipped: its events must be deleted there.

No Rasa import: the front desk erases too, and it never loads Rasa.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from sqlalchemy import column, delete, inspect, table
from sqlalchemy.engine import URL, make_url

from needlecheck.store.database import create_db_engine

REDIS_DEFAULT_PREFIX = "tracker:"
T = TypeVar("T")
# Seconds to wait for the running Rasa server (the in-memory store) on each request.
RASA_TIMEOUT = 10.0
_VARIABLE = re.compile(r"\$\{([^}]+)\}")
# Rasa's SQLTrackerStore table, as far as needlecheck touches it (erasure, retention,
# key rotation); in the screening database only when the tracker store shares it.
EVENTS = table("events", column("id"), column("sender_id"), column("timestamp"), column("data"))


def stored_senders(conversations: Iterable[str]) -> list[str]:
    """Every `events.sender_id` a conversation may have: the production store keeps a
    phone-shaped sender as its keyed digest (needlecheck.production.tracker_store), and
    rows written before that keep the ID itself."""
    from needlecheck.store.encryption import conversation_keys

    return sorted({key for c in conversations for key in (c, *conversation_keys(c))})


def has_events_table(session: Any) -> bool:
    return inspect(session.connection()).has_table("events")


class TrackerStoreNotErased(RuntimeError):
    """The configured tracker store cannot be erased (or read) from here; the message says
    where. `reason`: "timeout" (reached, but no answer in time, or the connection dropped),
    "refused" (an error status), "unsupported" (a store needlecheck cannot erase) or
    "failed" (the store's client failed)."""

    def __init__(self, message: str, *, reason: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason


def endpoints_file(environ: Mapping[str, str] | None = None) -> Path:
    """The endpoints file the Rasa server runs with."""
    env = os.environ if environ is None else environ
    if env.get("NEEDLECHECK_ENDPOINTS"):
        return Path(env["NEEDLECHECK_ENDPOINTS"])
    production = env.get("NEEDLECHECK_PROFILE") == "production"
    return Path("endpoints.prod.yml" if production else "endpoints.yml")


def tracker_store_config(
    path: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """The `tracker_store` section, with ${VARIABLES} filled in as Rasa does; None when
    the store is Rasa's in-memory default."""
    env = os.environ if environ is None else environ
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text()) or {}
    section = data.get("tracker_store")
    if not section:
        return None

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: env.get(m.group(1), ""), value)
        return value

    return {key: fill(value) for key, value in section.items()}


def sql_url(config: Mapping[str, Any]) -> URL:
    address = str(config.get("url") or config.get("host") or "")
    if "://" in address:
        return make_url(address)
    return URL.create(
        str(config.get("dialect") or "sqlite"),
        username=config.get("username") or None,
        password=config.get("password") or None,
        host=address or None,
        port=int(config["port"]) if config.get("port") else None,
        database=str(config.get("db") or "rasa.db"),
    )


def erase_events(
    conversations: set[str],
    *,
    screening_database_url: str,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Delete the conversations' events from the configured tracker store; how many
    events (SQL), keys (Redis) or conversations (in memory) went. A store that fails
    raises TrackerStoreNotErased, whatever its client library raised."""
    env = os.environ if environ is None else environ
    if not conversations:
        return 0

    def delete_rows(engine: Any) -> int:
        with engine.begin() as connection:
            result = connection.execute(
                delete(EVENTS).where(EVENTS.c.sender_id.in_(stored_senders(conversations)))
            )
        return result.rowcount or 0

    def other(config: Mapping[str, Any]) -> int:
        raise TrackerStoreNotErased(
            f"the tracker store of type {config.get('type')!r} cannot be erased by "
            "needlecheck: delete these conversations there",
            reason="unsupported",
        )

    return _in_tracker_store(
        screening_database_url,
        env,
        in_memory=lambda: _erase_in_memory(conversations, env),
        redis=lambda config: _erase_redis(conversations, config),
        sql=delete_rows,
        # privacy.erase deleted them in its own transaction.
        shared=0,
        other=other,
    )


def input_channels(
    conversation: str,
    *,
    screening_database_url: str,
    environ: Mapping[str, str] | None = None,
) -> set[str]:
    """The channels the conversation's messages came in by, as the configured tracker
    store records them (each user event's `input_channel`); empty when the store holds
    nothing for it, is not running, or is of a kind needlecheck does not read. Events in
    the screening database itself are for the caller to read (`events_input_channels`).
    A store that fails raises TrackerStoreNotErased, as erasure does."""
    env = os.environ if environ is None else environ

    def read_rows(engine: Any) -> set[str]:
        with engine.connect() as connection:
            return events_input_channels(connection, conversation)

    return _in_tracker_store(
        screening_database_url,
        env,
        in_memory=lambda: _channels_in_memory(conversation, env),
        redis=lambda config: _channels_redis(conversation, config),
        sql=read_rows,
        shared=set(),
        other=lambda config: set(),
    )


def _in_tracker_store(
    screening_database_url: str,
    env: Mapping[str, str],
    *,
    in_memory: Callable[[], T],
    redis: Callable[[Mapping[str, Any]], T],
    sql: Callable[[Any], T],
    shared: T,
    other: Callable[[Mapping[str, Any]], T],
) -> T:
    """Run the one of these that fits the endpoints file's tracker store: `sql` gets an
    engine on its database, and `shared` is the answer when that is the screening
    database itself. Whatever the store's client raises becomes TrackerStoreNotErased."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        config = tracker_store_config(endpoints_file(env), env)
        if config is None:
            return in_memory()
        kind = str(config.get("type") or "").lower()
        if kind == "redis":
            return redis(config)
        if kind == "sql" or kind.endswith("sqltrackerstore"):
            url = sql_url(config)
            if _same_database(url, make_url(screening_database_url)):
                return shared
            engine = create_db_engine(url.render_as_string(hide_password=False))
            try:
                return sql(engine)
            finally:
                engine.dispose()
        return other(config)
    except (RedisError, SQLAlchemyError, OSError) as error:
        raise TrackerStoreNotErased(
            f"the tracker store failed ({error.__class__.__name__}): try again"
        ) from None


def events_input_channels(connection: Any, conversation: str) -> set[str]:
    """The input channels of the conversation's user events in an `events` table."""
    from sqlalchemy import select

    from needlecheck.store.encryption import keyring

    if not inspect(connection).has_table("events"):
        return set()
    channels: set[str] = set()
    for (stored,) in connection.execute(
        select(EVENTS.c.data).where(EVENTS.c.sender_id.in_(stored_senders([conversation])))
    ):
        if not stored:
            continue
        # The production store encrypts each event; one written before that is plain JSON.
        text = stored if stored.startswith("{") else keyring().decrypt(stored)
        channels |= _user_channels([json.loads(text)])
    return channels


def _user_channels(events: Any) -> set[str]:
    if not isinstance(events, list):
        return set()
    return {
        event["input_channel"]
        for event in events
        if isinstance(event, dict)
        and event.get("event") == "user"
        and isinstance(event.get("input_channel"), str)
    }


def _channels_redis(conversation: str, config: Mapping[str, Any]) -> set[str]:
    client = _redis_client(config)
    try:
        stored = client.get(_redis_prefix(config) + conversation)
    finally:
        client.close()
    if not stored:
        return set()
    tracker = json.loads(stored)
    return _user_channels(tracker.get("events") if isinstance(tracker, dict) else None)


def _channels_in_memory(conversation: str, env: Mapping[str, str]) -> set[str]:
    from needlecheck.config import Settings

    settings = Settings.from_environment(env)
    query = {"include_events": "ALL"}
    if settings.api_token:
        query["token"] = settings.api_token
    path = f"/conversations/{urllib.parse.quote(conversation, safe='')}/tracker"
    request = urllib.request.Request(
        f"{settings.assistant_url}{path}?{urllib.parse.urlencode(query)}", method="GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=RASA_TIMEOUT) as response:
            tracker = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise TrackerStoreNotErased(
            f"the running Rasa server refused to show a conversation (HTTP {error.code})",
            reason="refused",
        ) from None
    except OSError as error:
        if _not_running(error):
            return set()  # an in-memory store holds nothing
        raise _no_answer(error) from None
    except ValueError:
        raise TrackerStoreNotErased(
            "the running Rasa server's answer is not a conversation", reason="refused"
        ) from None
    return _user_channels(tracker.get("events") if isinstance(tracker, dict) else None)


def _not_running(error: OSError) -> bool:
    """Nothing listens at the Rasa server's address: the connection was refused."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return isinstance(reason, ConnectionRefusedError)


def _no_answer(error: OSError) -> TrackerStoreNotErased:
    """A Rasa server that was reached but did not answer (in time, or at all): it may still
    hold the conversation, so nothing counts as erased, and the erasure is to be retried."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return TrackerStoreNotErased(
        f"the running Rasa server did not answer ({reason.__class__.__name__}): try again",
        reason="timeout",
    )


def _same_database(a: URL, b: URL) -> bool:
    def key(url: URL) -> tuple:
        return (url.get_backend_name(), url.host, url.port, url.database)

    return key(a) == key(b)


def _erase_redis(conversations: set[str], config: Mapping[str, Any]) -> int:
    prefix = _redis_prefix(config)
    client = _redis_client(config)
    try:
        return int(client.delete(*(prefix + c for c in sorted(conversations))))
    finally:
        client.close()


def _redis_prefix(config: Mapping[str, Any]) -> str:
    prefix = str(config.get("key_prefix") or "")
    # Rasa's RedisTrackerStore: a custom alphanumeric prefix goes before its own.
    return f"{prefix}:{REDIS_DEFAULT_PREFIX}" if prefix.isalnum() else REDIS_DEFAULT_PREFIX


def _redis_client(config: Mapping[str, Any]) -> Any:
    import redis

    return redis.Redis(
        host=str(config.get("url") or config.get("host") or "localhost"),
        port=int(config.get("port") or 6379),
        db=int(config.get("db") or 0),
        username=config.get("username") or None,
        password=config.get("password") or None,
        ssl=bool(config.get("use_ssl")),
        socket_timeout=5,
    )


def _erase_in_memory(conversations: set[str], env: Mapping[str, str]) -> int:
    from needlecheck.config import Settings, kept_api_token

    settings = Settings.from_environment(env)
    # `needlecheck erase` runs beside `make run`, whose token may be the one in var/.
    token = kept_api_token(settings)
    erased = 0
    for conversation in sorted(conversations):
        path = f"/conversations/{urllib.parse.quote(conversation, safe='')}/tracker/events"
        query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
        request = urllib.request.Request(
            settings.assistant_url + path + query,
            data=json.dumps([]).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=RASA_TIMEOUT):
                erased += 1
        except urllib.error.HTTPError as error:
            raise TrackerStoreNotErased(
                f"the running Rasa server refused to erase a conversation (HTTP {error.code})",
                reason="refused",
            ) from None
        except OSError as error:
            if _not_running(error):
                return erased  # stopped: an in-memory store holds nothing
            # A timeout is not "not running": the server may still hold the conversation.
            raise _no_answer(error) from None
    return erased
