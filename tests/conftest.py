"""Shared fixtures: every store-touching test runs on a SQLite file and on PostgreSQL.

PostgreSQL comes from `PARINDEX_TEST_POSTGRES_URL` (default: the local server's `test`
database). Each test gets its own schema, dropped afterwards, so tests run in parallel.
Without a server the PostgreSQL variants skip with one line saying how to enable them; under
CI (`CI=true`) they fail instead, because CI must prove the production store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.store.config import settings_from_url

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("PARINDEX_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ENABLE_HINT = ("PostgreSQL tests skipped: no server at PARINDEX_TEST_POSTGRES_URL "
               f"({POSTGRES_URL}). Start PostgreSQL or set that variable to enable them.")

_postgres_error: str | None = None
_postgres_checked = False


def postgres_available() -> str | None:
    """None when the test server answers, else the reason it does not (checked once)."""
    global _postgres_checked, _postgres_error
    if not _postgres_checked:
        _postgres_checked = True
        try:
            import psycopg

            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except Exception as error:  # any failure to reach it means "not available"
            _postgres_error = f"{type(error).__name__}: {error}".strip()
    return _postgres_error


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_postgres = [item for item in items if "postgres" in item.keywords]
    if not needs_postgres or postgres_available() is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true and PostgreSQL is unreachable at {POSTGRES_URL}: "
                                f"{postgres_available()}")
    skip = pytest.mark.skip(reason=ENABLE_HINT)
    for item in needs_postgres:
        item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"parindex PostgreSQL tests: {POSTGRES_URL} (CI={IN_CI})"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL pointing at a fresh schema of its own."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty store: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.sqlite3"
    return request.getfixturevalue("postgres_schema_url")


class FakeClock:
    """A clock the test moves by hand (deadlines are decided on the application's clock)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 11, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def app(store_url: str, clock: FakeClock):
    from domain.application import ParIndex

    application = ParIndex(settings_from_url(store_url), clock=clock)
    try:
        yield application
    finally:
        application.close()
