"""Fixtures of the projection tests: the `app` of tests/conftest.py (SQLite file, then a
PostgreSQL schema) plus its view store and read model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import ParIndex
from projections.queries import ReadModel
from projections.store import ViewStore


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "subprocess: starts `parindex project` worker processes")


@pytest.fixture
def views(app: ParIndex) -> Iterator[ViewStore]:
    store = ViewStore(app.settings)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def read_model(app: ParIndex, views: ViewStore) -> ReadModel:
    return ReadModel(app, views)
