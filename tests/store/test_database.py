"""needlecheck.store.database: a SQLite file is shared by processes and threads."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from needlecheck.store.database import create_db_engine


def test_a_sqlite_file_is_in_write_ahead_log_mode_with_a_pool(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(engine.pool, QueuePool)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_a_read_does_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    """The front desk (another process: another engine) reads the last committed rows
    while the action server holds a write open."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    writer, reader = create_db_engine(url), create_db_engine(url)
    with writer.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with writer.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
        with reader.connect() as other:
            other.execute(text("PRAGMA busy_timeout=0"))
            assert other.execute(text("SELECT count(*) FROM t")).scalar() == 1
    with reader.connect() as other:
        assert other.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_threads_share_the_pool_and_every_write_lands(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def write(start: int) -> None:
        try:
            for n in range(start, start + 25):
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i * 100,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(DISTINCT n) FROM t")).scalar() == 200


def test_an_in_memory_database_keeps_its_own_pool() -> None:
    engine = create_db_engine("sqlite://")
    assert not isinstance(engine.pool, QueuePool)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
