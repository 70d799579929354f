"""Alembic environment: the URL comes from the caller (needlecheck.store.migrate) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

from needlecheck.config import Settings
from needlecheck.store.database import create_db_engine
from needlecheck.store.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings.from_environment().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    # Batch mode lets later migrations alter tables on SQLite too.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
