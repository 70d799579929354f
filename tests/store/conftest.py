from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from needlecheck.store.database import create_db_engine, session_factory
from needlecheck.store.migrate import upgrade


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker]:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()
