"""Where the views live: tables in the event store's own database, one set per generation.

Every table name ends in `_g<N>`. Readers use the *active* generation (`pv_meta`); a rebuild
fills generation N+1 beside it and the switch is one row update, so readers never see a
half-built view (blue/green). Each generation has its own tracking table: the position of the last
event folded into it, written in the same transaction as the rows (exactly once).

Decimals are stored as text (exact), times as UTC ISO text with microseconds (sortable), ids as
text, and nested detail as JSON text, so SQLite and PostgreSQL hold byte-identical rows; text
compares bytewise on both (PostgreSQL's columns are `COLLATE "C"`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from domain.store.config import StoreSettings
from projections.scoreboard import AuditRow

VIEW_NAME = "scoreboard"

TABLES = {
    "tracking": "view_name TEXT PRIMARY KEY, position BIGINT NOT NULL",
    "frameworks": ("framework_id TEXT PRIMARY KEY, code TEXT NOT NULL, version INTEGER NOT NULL, "
                   "published BOOLEAN NOT NULL, aggregate_version INTEGER NOT NULL, "
                   "document TEXT NOT NULL"),
    "cycles": ("cycle_id TEXT PRIMARY KEY, province TEXT NOT NULL, year INTEGER NOT NULL, "
               "title TEXT NOT NULL, phase TEXT NOT NULL, ranking_rule TEXT NOT NULL, "
               "aggregate_version INTEGER NOT NULL, detail TEXT NOT NULL"),
    "scorecards": ("scorecard_id TEXT PRIMARY KEY, cycle_id TEXT NOT NULL, "
                   "unit_code TEXT NOT NULL, unit_name TEXT NOT NULL, group_code TEXT NOT NULL, "
                   "ranked BOOLEAN NOT NULL, framework_id TEXT NOT NULL, status TEXT NOT NULL, "
                   "aggregate_version INTEGER NOT NULL, appraised_part TEXT NOT NULL, "
                   "survey_part TEXT NOT NULL, bonus TEXT NOT NULL, penalty TEXT NOT NULL, "
                   "total TEXT NOT NULL, self_total TEXT NOT NULL, detail TEXT NOT NULL"),
    "audit": ("position BIGINT PRIMARY KEY, event_id TEXT NOT NULL, recorded_at TEXT NOT NULL, "
              "cycle_id TEXT NOT NULL, scorecard_id TEXT NOT NULL, unit_code TEXT NOT NULL, "
              "item_code TEXT, kind TEXT NOT NULL, old_value TEXT, new_value TEXT, "
              "actor_id TEXT NOT NULL, actor_role TEXT NOT NULL, reason TEXT, "
              "decision_ref TEXT"),
    "event_times": "position BIGINT PRIMARY KEY, recorded_at TEXT NOT NULL",
}
INDEXES = {
    "cycles": ["province, year"],
    "scorecards": ["cycle_id, group_code"],
    "audit": ["cycle_id, position", "scorecard_id, item_code, position", "actor_id, position",
              "kind, position", "recorded_at"],
    "event_times": ["recorded_at"],
}
AUDIT_COLUMNS = AuditRow._fields
INDEX_BUILDERS = 2  # concurrent CREATE INDEX statements after a rebuild's load (PostgreSQL)
UPSERT_KEYS = {"frameworks": "framework_id", "cycles": "cycle_id", "scorecards": "scorecard_id"}


def _cell(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


class ViewStore:
    """Connections and SQL for the view tables, on SQLite or PostgreSQL."""

    def __init__(self, settings: StoreSettings):
        self.settings = settings
        self.kind = settings.kind
        env = settings.library_env
        self._local = threading.local()
        if self.kind == "postgresql":
            from psycopg_pool import ConnectionPool

            self.schema = env.get("POSTGRES_SCHEMA") or "public"
            self._pool = ConnectionPool(
                kwargs={"host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"],
                        "dbname": env["POSTGRES_DBNAME"], "user": env["POSTGRES_USER"],
                        "password": env["POSTGRES_PASSWORD"] or None,
                        # Audit rows of one cycle sit in long runs of positions; with the
                        # default random_page_cost the planner scans the position key and
                        # filters, 100x slower than the (cycle_id, position) index.
                        "options": f"-c search_path={self.schema} -c random_page_cost=1.1"},
                min_size=1, max_size=int(env.get("POSTGRES_POOL_SIZE", "2"))
                + int(env.get("POSTGRES_MAX_OVERFLOW", "8")), open=True, timeout=10)
        else:
            self.path = env["SQLITE_DBNAME"]
            self._pool = None
        self.ensure_table("CREATE TABLE IF NOT EXISTS pv_meta (key TEXT PRIMARY KEY, "
                          "value TEXT NOT NULL)")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def ensure_table(self, statement: str) -> None:
        """Run a `CREATE TABLE IF NOT EXISTS`, safely when processes start together: on
        PostgreSQL two sessions creating one table can both pass the IF NOT EXISTS check and
        one then fails on the catalog's unique index, so creations take turns under an
        advisory lock for the schema."""
        with self.transaction() as cur:
            self._lock_table_creation(cur)
            cur.execute(statement)

    def _lock_table_creation(self, cur: Any) -> None:
        """PostgreSQL: until the transaction ends, no other process creates view tables in
        this schema (SQLite: its one writer already serialises them)."""
        if self._pool is not None:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (f"parindex views tables {self.schema}",))

    # -- connections --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one transaction, committed on success; `%s` placeholders on both."""
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
            return
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            cur = _QmarkCursor(conn.cursor())
            yield cur
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK") if conn.in_transaction else None
            raise
        finally:
            conn.close()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor for reads (a snapshot on PostgreSQL; WAL readers never block writers)."""
        if self._pool is not None:
            with self._pool.connection() as conn, conn.cursor() as cur:
                yield cur
            return
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            yield _QmarkCursor(conn.cursor())
        finally:
            conn.close()

    # -- generations --------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.reading() as cur:
            cur.execute("SELECT value FROM pv_meta WHERE key = %s", (key,))
            row = cur.fetchone()
        return None if row is None else row[0]

    def set_meta(self, cur: Any, key: str, value: str | None) -> None:
        if value is None:
            cur.execute("DELETE FROM pv_meta WHERE key = %s", (key,))
        else:
            cur.execute("INSERT INTO pv_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", (key, value))

    def active_generation(self) -> int | None:
        value = self.meta("active_generation")
        return None if value is None else int(value)

    def known_generations(self) -> list[int]:
        with self.reading() as cur:
            if self.kind == "postgresql":
                cur.execute("SELECT table_name FROM information_schema.tables WHERE "
                            "table_schema = %s AND table_name LIKE 'pv_tracking_g%%'",
                            (self.schema,))
            else:
                cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                            "name LIKE 'pv_tracking_g%'")
            return sorted(int(row[0].rsplit("_g", 1)[1]) for row in cur.fetchall())

    def create_generation(self, generation: int, *, indexes: bool = True) -> None:
        """The generation's tables; a rebuild asks for them without their secondary indexes
        and adds those when it has loaded the rows (`create_indexes`)."""
        with self.transaction() as cur:
            self._lock_table_creation(cur)
            for table, columns in TABLES.items():
                if self.kind == "postgresql":
                    # Bytewise text, as SQLite's BINARY: ids, codes and ISO times compare and
                    # sort the same on both stores, and the indexes build a sixth faster than
                    # under a locale's collation.
                    columns = columns.replace(" TEXT", ' TEXT COLLATE "C"')
                cur.execute(f"CREATE TABLE IF NOT EXISTS pv_{table}_g{generation} ({columns})")
        if indexes:
            self.create_indexes(generation)

    def create_indexes(self, generation: int) -> None:
        """The read paths' indexes. Built once over a rebuild's million rows, they cost a
        fraction of keeping five of them up to date row by row while the rows are loaded. On
        PostgreSQL they are built `INDEX_BUILDERS` at a time, each in its own transaction
        (`IF NOT EXISTS`: a rebuild that failed halfway is dropped, never resumed)."""
        statements = [f"CREATE INDEX IF NOT EXISTS pv_{table}_g{generation}_i{index} ON "
                      f"pv_{table}_g{generation} ({cols})"
                      for table, columns in INDEXES.items()
                      for index, cols in enumerate(columns)]
        if self.kind != "postgresql":
            with self.transaction() as cur:
                for statement in statements:
                    cur.execute(statement)
            return

        def build(statement: str) -> None:
            with self.transaction() as cur:
                cur.execute(statement)

        with ThreadPoolExecutor(INDEX_BUILDERS, thread_name_prefix="parindex-index") as pool:
            list(pool.map(build, statements))

    def drop_generation(self, generation: int) -> None:
        with self.transaction() as cur:
            for table in TABLES:
                cur.execute(f"DROP TABLE IF EXISTS pv_{table}_g{generation}")

    def position(self, generation: int) -> int:
        with self.reading() as cur:
            cur.execute(f"SELECT position FROM pv_tracking_g{generation} WHERE view_name = %s",
                        (VIEW_NAME,))
            row = cur.fetchone()
        return 0 if row is None else int(row[0])

    # -- writing ------------------------------------------------------------------------------

    def write(self, cur: Any, generation: int, rows: dict[str, list[dict[str, Any]]],
              audit: Sequence[AuditRow], times: Sequence[tuple[int, str]],
              position: int | None) -> None:
        """Upsert derived rows, append audit rows and event times, move the tracking position —
        all on `cur`, inside the caller's transaction."""
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            columns = list(table_rows[0])
            key = UPSERT_KEYS[table]
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
            cur.executemany(
                f"INSERT INTO pv_{table}_g{generation} ({', '.join(columns)}) VALUES "
                f"({', '.join(['%s'] * len(columns))}) ON CONFLICT ({key}) DO UPDATE SET "
                f"{updates}", [tuple(_cell(row[c]) for c in columns) for row in table_rows])
        if audit:
            self._append(cur, f"pv_audit_g{generation}", AUDIT_COLUMNS, audit)
        if times:
            self._append(cur, f"pv_event_times_g{generation}", ("position", "recorded_at"),
                         times)
        if position is None:
            return  # rows only: a rebuild's final derivation at an already-tracked position
        cur.execute(f"INSERT INTO pv_tracking_g{generation} (view_name, position) VALUES "
                    "(%s, %s) ON CONFLICT (view_name) DO UPDATE SET position = excluded.position "
                    f"WHERE pv_tracking_g{generation}.position < excluded.position",
                    (VIEW_NAME, position))
        if cur.rowcount == 0:
            # Tracking only moves forward: a second writer must not apply a batch twice.
            raise StaleBatch(f"generation {generation} is already at or past {position}")


    def _append(self, cur: Any, table: str, names: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
        """Append rows: COPY on PostgreSQL (an order of magnitude faster than INSERTs for a
        rebuild's hundreds of thousands of audit rows), executemany on SQLite."""
        if self.kind == "postgresql":
            with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cur.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                        f"({', '.join(['%s'] * len(names))})", rows)


class StaleBatch(Exception):
    """Another runner already wrote this position: roll the batch back."""


class _QmarkCursor:
    """sqlite3 with the `%s` placeholders the PostgreSQL SQL uses."""

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _QmarkCursor:
        self._cursor.execute(sql.replace("%s", "?"), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.replace("%s", "?"), rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description
