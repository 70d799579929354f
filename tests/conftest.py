"""Fixtures shared by the suite: databases on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# One data key for the whole suite (and the servers it starts): contact details are
# encrypted at rest with it (needlecheck.store.encryption).
TEST_DATA_KEY = "q0bJ7d7PZ8y3C0q1a9jv7cBvj8Gk2mXv9iLr0s3tU4w="
os.environ.setdefault("NEEDLECHECK_DATA_KEYS", TEST_DATA_KEY)

# The server CI and developers have on 127.0.0.1 (trust auth); override to point elsewhere.
POSTGRES_ADMIN_URL = os.environ.get(
    "NEEDLECHECK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def rasa_as_its_wheel_has_it(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After a test that installs needlecheck's patches of Rasa (`needlecheck.patches`),
    every patched attribute is put back, so that no test sees another's patches. Asking
    for monkeypatch makes this run before monkeypatch's own undo: what a test set with
    monkeypatch before installing the patches comes back, then monkeypatch restores it."""
    yield
    from needlecheck import patches

    patches.undo()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch PostgreSQL database for this test run, dropped at the end."""
    # Pre-ping: the fault tests restart PostgreSQL while this engine is pooled.
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True, pool_pre_ping=True
    )
    name = f"needlecheck_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        pytest.fail(
            f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)} "
            f"is needed for the production-mode tests: {error}"
        )
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database of each kind, migrated to the newest schema by the test that needs it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'needlecheck.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    # Each test starts from an empty schema on the shared scratch database.
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"
# axe-core for the accessibility checks, fetched from npm by `make browser`.
AXE = Path(__file__).resolve().parents[1] / "var" / "vendor" / "axe.min.js"


# Per module: Playwright's sync API keeps an event loop running while a browser is open,
# and later modules use asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright (Playwright's own browser download fails here)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium package")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()
