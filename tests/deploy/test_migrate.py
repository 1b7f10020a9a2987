"""`parindex migrate`: creates the event, snapshot, integrity and view tables and the first
active generation, exits 0, and is idempotent (on both stores)."""

from __future__ import annotations

import uuid

import pytest

from api.cli import main
from domain.actors import Actor, Role
from projections.store import TABLES
from tests.conftest import POSTGRES_URL
from tests.projections.helpers import open_store, view_tables

OPERATOR = Actor("cli:test", Role.SYSTEM)


def migrate(monkeypatch, capsys, url: str) -> str:
    monkeypatch.setenv("PARINDEX_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    return capsys.readouterr().out


def test_migrate_creates_the_tables_and_an_active_generation_and_is_idempotent(
        store_url, monkeypatch, capsys):
    first = migrate(monkeypatch, capsys, store_url)
    assert "ready: 0 events; view generation 1 created at position 0" in first
    with open_store(store_url) as (app, views):
        assert views.active_generation() == 1
        assert view_tables(views) == {"pv_meta", *(f"pv_{t}_g1" for t in TABLES)}
        assert app.recorder.max_notification_id() in (None, 0)
        app.issue_token(OPERATOR, "someone", Role.INSPECTOR)
        views.create_generation(2)
        with views.transaction() as cur:
            views.set_meta(cur, "pending_generation", "2")

    again = migrate(monkeypatch, capsys, store_url)
    assert "ready: 1 events; view generation 1 active at position 0" in again
    assert "generation 2 pending" in again
    with open_store(store_url) as (app, views):
        assert views.active_generation() == 1  # nothing that exists is changed
        assert views.meta("pending_generation") == "2"
        assert app.recorder.max_notification_id() == 1


@pytest.mark.postgres
def test_migrate_creates_a_missing_schema(monkeypatch, capsys):
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    try:
        assert "view generation 1 created" in migrate(monkeypatch, capsys, url)
        with psycopg.connect(POSTGRES_URL) as conn:
            tables = {row[0] for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,))}
        assert {"parindex_events", "parindex_snapshots", "pv_meta", "pv_tracking_g1"} <= tables
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_migrate_refuses_an_unreachable_server(monkeypatch, capsys):
    monkeypatch.setenv("PARINDEX_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["migrate"]) == 2
    assert "cannot start: cannot reach postgresql://nobody@127.0.0.1:1/none" in \
        capsys.readouterr().err
