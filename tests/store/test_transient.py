"""Which database failures are worth a retry: a lost or refused connection, a restart, a
locked SQLite file; never a missing table or a wrong password."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from needlecheck.store.database import transient


class DriverError(Exception):
    def __init__(self, message: str, pgcode: str | None = None) -> None:
        super().__init__(message)
        self.pgcode = pgcode


def operational(message: str, pgcode: str | None = None) -> OperationalError:
    return OperationalError("SELECT 1", {}, DriverError(message, pgcode))


@pytest.mark.parametrize(
    "error",
    [
        operational("terminating connection due to administrator command", "57P01"),
        operational("the database system is starting up", "57P03"),
        operational("connection failure", "08006"),
        operational(
            'could not connect to server: Connection refused\n\tIs the server running on host "127.0.0.1"'
        ),
        operational("server closed the connection unexpectedly"),
        operational("database is locked"),
        DBAPIError("SELECT 1", {}, DriverError("gone"), connection_invalidated=True),
    ],
    ids=["shutdown", "starting", "08", "refused", "closed", "sqlite-locked", "invalidated"],
)
def test_a_lost_connection_is_worth_a_retry(error: Exception) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error",
    [
        operational("no such table: screenings"),
        operational('FATAL:  password authentication failed for user "clinic"', "28P01"),
        operational('FATAL:  password authentication failed for user "clinic"'),
        operational('relation "screenings" does not exist', "42P01"),
        IntegrityError("INSERT", {}, DriverError("duplicate key", "23505")),
        ValueError("not a database error"),
    ],
    ids=["no-table", "password-code", "password-text", "missing-relation", "integrity", "other"],
)
def test_a_failure_that_would_fail_again_is_not_retried(error: Exception) -> None:
    assert not transient(error)
