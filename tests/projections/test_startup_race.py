"""Processes starting together on a fresh PostgreSQL schema create the view and idempotency
tables without tripping over each other (CREATE TABLE IF NOT EXISTS alone is not safe there:
two sessions both pass the check and one fails on the catalog's unique index)."""

from __future__ import annotations

import threading

import pytest

from api.idempotency import IdempotencyStore
from domain.store.config import settings_from_url
from projections.store import ViewStore


@pytest.mark.postgres
def test_postgres_stores_created_together_on_a_fresh_schema_all_start(postgres_schema_url):
    settings = settings_from_url(postgres_schema_url)
    starters = 6
    barrier = threading.Barrier(starters)
    failures: list[BaseException] = []
    stores: list[ViewStore] = []

    def start() -> None:
        barrier.wait()
        try:
            views = ViewStore(settings)
            stores.append(views)
            IdempotencyStore(views)
            views.create_generation(1, indexes=False)
        except BaseException as error:  # every failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for views in stores:
        views.close()
    assert failures == []
    assert len(stores) == starters
