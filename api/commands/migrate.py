"""`parindex migrate`: create everything a store needs, then exit (idempotent).

Run once per deployment and again after every upgrade, before the API and the projection
worker start (docker-compose runs it as a one-shot service). It creates, when missing:

- the PostgreSQL schema named by `?schema=` in PARINDEX_DATABASE_URL;
- the event, snapshot, integrity and checkpoint tables with their guard triggers (the library and
  the integrity recorder create them when the application is built);
- the view meta table and the first view generation, marked active, so readers and readiness
  probes have something to read before the projection worker has folded anything.

Nothing that exists is changed: running it again, or on a store in use, is harmless. A pending
(rebuilding) generation is left alone. On PostgreSQL concurrent runs are serialised by an
advisory lock, so replicas that each run it at start do not race on DDL.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from api.cli import CannotStart, log, open_parindex

MIGRATE_LOCK = "parindex:migrate"


def migrate(args: argparse.Namespace) -> int:
    from domain.store.config import StoreConfigurationError, check_reachable, store_settings

    try:
        settings = store_settings()
        check_reachable(settings)
    except StoreConfigurationError as error:
        raise CannotStart(str(error)) from None
    with _serialised(settings):
        parindex = open_parindex()
        try:
            report = prepare(parindex)
        finally:
            parindex.close()
    print(f"parindex migrate: {settings.description} ready: {report}")
    return 0


def prepare(parindex: Any) -> str:
    """Create the view tables of a store whose event tables `parindex` already made; a line
    saying what the store holds."""
    from projections.store import ViewStore

    views = ViewStore(parindex.settings)  # creates pv_meta
    try:
        active = views.active_generation()
        created = active is None
        if created:
            active = 1
            views.create_generation(active)
            with views.transaction() as cur:
                # Only if still unset: a runner may have started meanwhile (SQLite, no lock).
                cur.execute("INSERT INTO pv_meta (key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO NOTHING", ("active_generation", str(active)))
            active = views.active_generation()
        else:
            views.create_generation(active)  # IF NOT EXISTS: repairs a half-made generation
        pending = views.meta("pending_generation")
        head = parindex.recorder.max_notification_id() or 0
        position = views.position(active)
    finally:
        views.close()
    parts = [f"{head} events", f"view generation {active} "
             f"{'created' if created else 'active'} at position {position}"]
    if pending is not None:
        parts.append(f"generation {pending} pending (a rebuild is catching up)")
    return "; ".join(parts)


@contextlib.contextmanager
def _serialised(settings: Any) -> Iterator[None]:
    """On PostgreSQL: create the schema if named and missing, and hold an advisory lock for the
    whole migration. Nothing on SQLite (its writes are serialised by the file)."""
    if settings.kind != "postgresql":
        yield
        return
    import psycopg
    from psycopg import sql

    env = settings.library_env
    schema = env.get("POSTGRES_SCHEMA") or "public"
    try:
        conn = psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                               dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                               password=env["POSTGRES_PASSWORD"] or None, autocommit=True,
                               connect_timeout=10)
    except psycopg.Error as error:
        raise CannotStart(f"cannot reach {settings.description}: {error}") from None
    with conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"{MIGRATE_LOCK}:{schema}",))
        try:
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                  (schema,)).fetchone()
            if not exists:
                try:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(schema)))
                except psycopg.Error as error:
                    raise CannotStart(f"schema {schema!r} does not exist and cannot be "
                                      f"created: {str(error).strip()}") from None
                log.info("created schema %s", schema)
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                             (f"{MIGRATE_LOCK}:{schema}",))


def register(sub: Any) -> None:
    command = sub.add_parser(
        "migrate", help="create the store's tables and the first view generation, then exit "
        "(idempotent; run before the API and the worker)")
    command.set_defaults(run=migrate)
