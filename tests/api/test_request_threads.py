"""PARINDEX_REQUEST_THREADS: how many requests of one process run their synchronous code at
once (api/app.py); a bad value stops the service at start, with the setting's name."""

from __future__ import annotations

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from api.app import DEFAULT_REQUEST_THREADS, create_app, request_threads_from_env
from api.cli import main
from domain.application import ParIndex
from domain.store.config import settings_from_url
from projections.store import ViewStore


def test_the_setting_defaults_to_eight_and_refuses_what_is_not_a_count():
    assert request_threads_from_env({}) == DEFAULT_REQUEST_THREADS == 8
    assert request_threads_from_env({"PARINDEX_REQUEST_THREADS": " 3 "}) == 3
    for bad in ("0", "-2", "four", "2.5"):
        with pytest.raises(ValueError, match="PARINDEX_REQUEST_THREADS"):
            request_threads_from_env({"PARINDEX_REQUEST_THREADS": bad})


def test_the_app_sizes_its_thread_pool_at_start(store_url, monkeypatch):
    monkeypatch.setenv("PARINDEX_REQUEST_THREADS", "3")
    app = ParIndex(settings_from_url(store_url))
    views = ViewStore(app.settings)
    try:
        asgi = create_app(app, views, None)

        @asgi.get("/test/threads", include_in_schema=False)
        async def threads() -> int:
            return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

        with TestClient(asgi) as client:
            assert client.get("/test/threads").json() == 3
            assert client.get("/health").status_code == 200  # sync routes still run
    finally:
        views.close()
        app.close()


def test_a_bad_value_stops_the_service_before_it_listens(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PARINDEX_DATABASE_URL", f"sqlite:///{tmp_path}/events.sqlite3")
    monkeypatch.setenv("PARINDEX_REQUEST_THREADS", "0")
    assert main(["serve-workers", "--port", "0", "--workers", "1"]) == 2
    assert "PARINDEX_REQUEST_THREADS must be a whole number" in capsys.readouterr().err
