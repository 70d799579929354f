"""Engine and session factory. Callers open sessions (`with factory.begin() as session:`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool


def create_db_engine(url: str) -> Engine:
    """An engine for `url`; for a SQLite file, its folder is created, foreign keys
    enforced, and the file in write-ahead-log mode with a pool of connections."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # SQLAlchemy 1.4 opens a new connection per session for a SQLite file; under
            # 20 conversations at once that was a connection and its pragmas per write.
            # The pool's connections move between the action server's worker threads.
            engine = create_engine(
                url,
                future=True,
                poolclass=QueuePool,
                connect_args={"check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_file_pragmas)
        else:
            engine = create_engine(url, future=True)
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a PostgreSQL restart must not hand out dead pooled connections.
    return create_engine(url, future=True, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Two processes (action server, later the front desk) share the file.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_file_pragmas(dbapi_connection, record) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    # Write-ahead log: the front desk's reads no longer wait for the action server's
    # writes, nor the writes for the reads. Every commit is still synced to disk
    # (synchronous stays FULL): a screening written is a screening kept.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


# SQLSTATE classes that a retry can outlast: 08, connection exceptions; 57P, the server
# shutting down or starting up. Others (28P01, a wrong password; 42P01, a missing table)
# fail the same way every time.
TRANSIENT_SQLSTATES = ("08", "57P")
# Driver messages of a lost or refused connection, for errors that carry no SQLSTATE
# (psycopg2 before the server answers; SQLite has none at all).
TRANSIENT_MESSAGES = (
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "connection timed out",
    "timeout expired",
    "ssl connection has been closed",
    "database is locked",
)


def transient(error: Exception) -> bool:
    """A failure of the connection, not of the statement: worth trying again (a database
    restart, a dropped connection, a locked SQLite file). A missing table or a refused
    password is not: retrying only delays the error."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    code = getattr(error.orig, "pgcode", None)
    if code:
        return str(code).startswith(TRANSIENT_SQLSTATES)
    if isinstance(error, OperationalError):
        message = str(error.orig).lower()
        return any(words in message for words in TRANSIENT_MESSAGES)
    return False


def redacted_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)
