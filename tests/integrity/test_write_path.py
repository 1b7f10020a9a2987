"""The recorders hash every event in the transaction that stores it, and the store refuses to
change or remove rows (guard triggers; on PostgreSQL also the operator's GRANT script)."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid

import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError

import domain.store.recorders as recorders
from domain.actors import Role
from domain.application import ParIndex
from domain.store.config import settings_from_url
from domain.store.integrity import verify
from domain.store.recorders import IntegrityViolation
from tests.conftest import POSTGRES_URL
from tests.integrity.helpers import OPERATOR, RawStore, fill, fill_in_one_save


def counts(app: ParIndex) -> tuple[int, int]:
    """(events, leaves in the integrity rows)."""
    raw = RawStore(app)
    (events,), (leaves,) = raw.run("SELECT COUNT(*) FROM {events}",
                                   "SELECT COALESCE(SUM(LENGTH(leaf_hash)), 0) / 32 "
                                   "FROM {integrity}", unguard=False)
    return events[0], leaves[0]


def test_every_event_gets_its_integrity_row_in_order(app):
    positions = fill(app, 5)
    rows = app.recorder.select_integrity(0, 100)
    assert [r.position for r in rows] == positions
    assert [r.leaf_index for r in rows] == list(range(5))
    assert counts(app) == (5, 5)


def test_a_rejected_save_leaves_neither_events_nor_hashes(app):
    _, issued = app.issue_token(OPERATOR, "holder", Role.INSPECTOR)
    first = app.repository.get(issued.aggregate_id)
    second = app.repository.get(issued.aggregate_id)
    first.revoke(OPERATOR, "lost")
    second.revoke(OPERATOR, "stolen")
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)
    assert counts(app) == (2, 2)
    assert verify(app.recorder).ok


def test_a_failure_while_hashing_rolls_the_events_back(app, monkeypatch):
    fill(app, 2)
    raw = RawStore(app)
    if raw.kind == "sqlite":  # the hashes are computed in Python, after the events' insert

        def broken(*args, **kwargs):
            raise RuntimeError("hashing failed")

        monkeypatch.setattr(recorders, "entry_leaf", broken)
        with pytest.raises(RuntimeError, match="hashing failed"):
            fill(app, 1, prefix="lost")
        monkeypatch.undo()
    else:  # in the insert function, after the events' insert: make its last step fail
        raw.run("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'hashing failed'; END $$",
                "CREATE TRIGGER refuse BEFORE INSERT ON {integrity} FOR EACH ROW "
                "EXECUTE FUNCTION refuse()", unguard=False)
        with pytest.raises(PersistenceError, match="hashing failed"):
            fill(app, 1, prefix="lost")
        raw.run("DROP TRIGGER refuse ON {integrity}", "DROP FUNCTION refuse()", unguard=False)
    assert counts(app) == (2, 2)
    fill(app, 1, prefix="after")
    assert counts(app) == (3, 3)
    assert verify(app.recorder).ok


def test_a_reused_position_is_refused_and_nothing_is_written(app):
    positions = fill(app, 4)
    raw = RawStore(app)
    raw.run(("DELETE FROM {events} WHERE {pos} > ?", (positions[1],)))  # hashes kept
    raw.reset_sequence(positions[1])
    with pytest.raises(IntegrityViolation, match="not after the integrity log's head"):
        fill(app, 1, prefix="reused")
    with pytest.raises(IntegrityViolation, match="not after the integrity log's head"):
        fill_in_one_save(app, 3, prefix="reused-together")
    assert counts(app) == (2, 4)


def test_a_store_written_before_integrity_is_adopted_once(store_url, caplog):
    settings = settings_from_url(store_url)
    plain_env = {k: v for k, v in settings.library_env.items()
                 if k != "APPLICATION_RECORDER_TOPIC"}
    legacy = ParIndex(dataclasses.replace(settings, library_env=plain_env))
    assert not isinstance(legacy.recorder, recorders.IntegrityRecorder)
    fill(legacy, 4)
    legacy.close()
    with caplog.at_level("WARNING", logger="parindex.integrity"):
        app = ParIndex(settings)
    try:
        assert "adopted 4 events" in caplog.text
        assert counts(app) == (4, 4)
        fill(app, 2, prefix="new")
        assert verify(app.recorder).ok
        assert app.recorder.adopt_unhashed_events() == 0
    finally:
        app.close()


def test_sqlite_refuses_update_and_delete(tmp_path):
    app = ParIndex(settings_from_url(f"sqlite:///{tmp_path}/events.sqlite3"))
    try:
        fill(app, 2)
        conn = sqlite3.connect(app.settings.library_env["SQLITE_DBNAME"])
        for table in ("stored_events", "stored_integrity"):
            for statement in (f"UPDATE {table} SET rowid = rowid", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(statement)
        conn.close()
    finally:
        app.close()


@pytest.mark.postgres
def test_postgres_refuses_update_delete_and_truncate(postgres_schema_url):
    import psycopg

    app = ParIndex(settings_from_url(postgres_schema_url))
    try:
        fill(app, 2)
        schema = app.settings.library_env["POSTGRES_SCHEMA"]
        updates = {"parindex_events": "topic = 'x'", "parindex_integrity": "leaf_index = 0",
                   "parindex_checkpoints": "tree_size = 0"}
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:  # even a superuser
            conn.execute(f"INSERT INTO {schema}.parindex_checkpoints VALUES (99, now(), '{{}}')")
            for table, change in updates.items():
                for statement in (f"UPDATE {schema}.{table} SET {change}",
                                  f"DELETE FROM {schema}.{table}",
                                  f"TRUNCATE {schema}.{table}"):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                                       match="append-only"):
                        conn.execute(statement)
    finally:
        app.close()


@pytest.mark.postgres
def test_postgres_grant_script_leaves_the_app_role_append_only(postgres_schema_url):
    import psycopg

    role = f"parindex_app_{uuid.uuid4().hex[:10]}"
    owner = ParIndex(settings_from_url(postgres_schema_url))  # creates the tables, as owner
    fill(owner, 1)
    script = owner.recorder.grants_sql(role)
    schema = owner.settings.library_env["POSTGRES_SCHEMA"]
    owner.close()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(script)
        as_app = postgres_schema_url.replace("postgres@", f"{role}@", 1)
        assert role in as_app
        app = ParIndex(settings_from_url(as_app))
        try:
            fill(app, 2, prefix="as-app")
            assert verify(app.recorder).ok
        finally:
            app.close()
        refused = [f"UPDATE {schema}.parindex_events SET topic = 'x'",
                   f"DELETE FROM {schema}.parindex_events",
                   f"TRUNCATE {schema}.parindex_events",
                   f"UPDATE {schema}.parindex_integrity SET leaf_index = 0",
                   f"DELETE FROM {schema}.parindex_integrity",
                   f"TRUNCATE {schema}.parindex_checkpoints",
                   f"DELETE FROM {schema}.parindex_snapshots",
                   f"ALTER TABLE {schema}.parindex_events DISABLE TRIGGER USER",
                   f"DROP TRIGGER parindex_events_append_only ON {schema}.parindex_events"]
        app_url = POSTGRES_URL.replace("postgres@", f"{role}@", 1)
        with psycopg.connect(app_url, autocommit=True) as conn:
            for statement in refused:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_postgres_hashes_text_ids_as_the_verifier_does(postgres_schema_url):
    """The insert function encodes the id per the store's id type; parindex uses UUIDs, the
    text branch is checked here against the Python verifier."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresDatastore

    from domain.store.merkle import ID_TEXT

    env = settings_from_url(postgres_schema_url).library_env
    datastore = PostgresDatastore(env["POSTGRES_DBNAME"], env["POSTGRES_HOST"],
                                  env["POSTGRES_PORT"], env["POSTGRES_USER"],
                                  env["POSTGRES_PASSWORD"], schema=env["POSTGRES_SCHEMA"],
                                  originator_id_type="text")
    try:
        recorder = recorders.PostgresIntegrityRecorder(datastore,
                                                       events_table_name="text_events")
        recorder.create_table()
        ids = ["đơn-vị/STC", "unit-2"]
        positions = recorder.insert_events(
            [StoredEvent(ids[0], 1, "x:Opened", b"{}"),
             StoredEvent(ids[1], 1, "x:Opened", "{\"tên\": \"Sở\"}".encode())])
        positions += recorder.insert_events([StoredEvent(ids[0], 2, "x:Changed", b"[1]")])
        assert recorder.id_kind == ID_TEXT and len(positions) == 3
        report = verify(recorder)
        assert report.ok and report.tree_size == 3, report.summary()
    finally:
        datastore.close()



@pytest.mark.postgres
def test_postgres_an_empty_call_of_the_insert_function_writes_nothing(postgres_schema_url):
    # the recorder never sends no events, but the app role may call the function directly
    app = ParIndex(settings_from_url(postgres_schema_url))
    try:
        raw = RawStore(app)
        function = f'"{raw.schema}"."{app.recorder.insert_function_name}"'
        event_type = f'"{raw.schema}"."{app.recorder.stored_event_type_name}"'
        for events in (f"ARRAY[]::{event_type}[]", f"NULL::{event_type}[]"):
            (returned,) = raw.run(f"SELECT * FROM {function}({events}, '5s')", unguard=False)
            assert returned == []
        assert counts(app) == (0, 0)
        fill(app, 1)
        fill_in_one_save(app, 3)
        assert counts(app) == (4, 4)
        assert verify(app.recorder).ok
    finally:
        app.close()


def test_sqlite_a_save_rolled_back_after_hashing_leaves_no_stale_head_hint(tmp_path):
    # the recorder skips reading the head when the next position follows the head it wrote
    # last: a save rolled back after its rows were written (a failed COMMIT) must not leave
    # that head behind, or the next save would chain from a row that is not in the log
    url = f"sqlite:///{tmp_path}/events.sqlite3"
    first, second = ParIndex(settings_from_url(url)), ParIndex(settings_from_url(url))
    try:
        fill(first, 2, prefix="first")
        recorder = first.recorder
        insert = recorder._insert_events

        def then_fail(c, stored_events, **kwargs):
            insert(c, stored_events, **kwargs)
            raise RuntimeError("COMMIT failed")

        recorder._insert_events = then_fail
        with pytest.raises(RuntimeError, match="COMMIT failed"):
            fill(first, 1, prefix="lost")
        del recorder._insert_events
        fill(second, 1, prefix="other")  # takes the position the lost save had
        fill(first, 1, prefix="after")
        report = verify(first.recorder)
        assert report.ok and report.events == 4, report.problems
    finally:
        first.close()
        second.close()
