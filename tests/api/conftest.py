"""HTTP fixtures: the ASGI app over a real store, and bearer tokens per role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.store.config import settings_from_url
from projections.runner import ViewRunner
from projections.store import ViewStore

OPERATOR = Actor("cli:test", Role.SYSTEM)


@dataclass
class Http:
    client: TestClient
    app: ParIndex
    views: ViewStore
    runner: ViewRunner

    def token(self, role: Role, unit: str | None = None, name: str | None = None) -> dict:
        secret, _ = self.app.issue_token(OPERATOR, name or f"{role.value}.{unit or 'x'}",
                                         role, unit)
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def http(store_url: str, clock, tmp_path, monkeypatch) -> Iterator[Http]:
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    app = ParIndex(settings_from_url(store_url), clock=clock)
    views = ViewStore(app.settings)
    runner = ViewRunner(app, views, idle_seconds=0.02)
    thread, stop = runner.start_thread()
    deadline = time.monotonic() + 10
    while runner.status.generation is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the runner creates the first view generation
    try:
        with TestClient(create_app(app, views, runner)) as client:
            yield Http(client=client, app=app, views=views, runner=runner)
    finally:
        stop.set()
        thread.join(timeout=10)
        views.close()
        app.close()
