"""Alembic migrations: they build exactly the models' schema and can be undone."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from needlecheck.store.database import create_db_engine
from needlecheck.store.migrate import alembic_config, current_revision, head_revision, upgrade
from needlecheck.store.models import metadata


def test_upgrade_builds_the_models_schema(database_url) -> None:
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    engine = create_db_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(database_url) -> None:
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "base")
    engine = create_db_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_upgrade_twice_is_harmless(database_url) -> None:
    upgrade(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_the_sqlite_folder_is_created_on_first_run(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'nested' / 'needlecheck.db'}"
    upgrade(url)
    assert (tmp_path / "var" / "nested" / "needlecheck.db").exists()


def test_an_unreachable_database_is_an_error_not_a_hang() -> None:
    with pytest.raises(Exception, match=r"connect|refused|could not"):
        current_revision("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


def columns(engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_0007_adds_notes_and_handoff_transcripts_and_takes_them_away(database_url) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0006")
    engine = create_db_engine(database_url)
    assert "notes" not in columns(engine, "screenings")
    assert "transcript" not in columns(engine, "handoff_requests")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO handoff_requests (conversation_id, reason, status, created_at, "
                "updated_at) VALUES ('c-before', 'asked for a person', 'open', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    command.upgrade(config, "0007")
    assert "notes" in columns(engine, "screenings")
    assert "transcript" in columns(engine, "handoff_requests")
    with engine.connect() as connection:
        # Requests from before have no transcript: nothing is made up for them.
        row = connection.execute(
            text("SELECT conversation_id, reason, transcript FROM handoff_requests")
        ).one()
    assert tuple(row) == ("c-before", "asked for a person", None)
    command.downgrade(config, "0006")
    assert "notes" not in columns(engine, "screenings")
    assert "transcript" not in columns(engine, "handoff_requests")
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT conversation_id FROM handoff_requests")).scalar()
    assert kept == "c-before"
    engine.dispose()
