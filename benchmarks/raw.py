"""The raw-driver baseline: rows shaped like the library's events table, written with sqlite3 /
psycopg 3 directly, one transaction per batch, in the same database as the library's table.

The tables copy the DDL of eventsourcing 9.5.6's application recorders (SQLite: rowid table with
the (originator_id, originator_version) primary key; PostgreSQL: uuid id, bigserial
notification_id with its unique index, the same storage parameters). What the raw writer leaves
out is exactly the library's work: mapping and transcoding objects, and on PostgreSQL the
`LOCK TABLE ... IN EXCLUSIVE MODE` and `NOTIFY` of every insert transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

Row = tuple[Any, int, str, bytes]  # originator_id, originator_version, topic, state

RAW_TABLE = "raw_events"


class RawSQLite:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)  # autocommit; BEGIN by hand
        mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self.journal_mode = str(mode)
        self.synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            self.conn.execute("PRAGMA synchronous").fetchone()[0], "?")
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))")
        self.insert = f"INSERT INTO {RAW_TABLE} VALUES (?,?,?,?)"

    def write(self, rows: Sequence[Row]) -> None:
        """One transaction holding `rows` (ids as 32-char hex, as the library stores them)."""
        cursor = self.conn.cursor()
        cursor.execute("BEGIN")
        cursor.executemany(self.insert, [(oid.hex, version, topic, state)
                                         for oid, version, topic, state in rows])
        cursor.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class RawPostgres:
    def __init__(self, conninfo: dict[str, Any], schema: str) -> None:
        self.conn = psycopg.connect(**conninfo, autocommit=True)
        table = sql.Identifier(schema, RAW_TABLE)
        self.conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {table} ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, "
            "state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version)) "
            "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
            "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.01)").format(table=table))
        self.conn.execute(sql.SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} (notification_id ASC)"
        ).format(index=sql.Identifier(f"{RAW_TABLE}_notification_id_idx"), table=table))
        self.insert = sql.SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)").format(table=table)

    def write(self, rows: Sequence[Row]) -> None:
        """One transaction (BEGIN ... COMMIT) holding `rows`; executemany pipelines them."""
        with self.conn.transaction(), self.conn.cursor() as cursor:
            if len(rows) == 1:
                cursor.execute(self.insert, rows[0])
            else:
                cursor.executemany(self.insert, rows)

    def close(self) -> None:
        self.conn.close()


def rows_for(originator_id: UUID, first_version: int, count: int, topic: str,
             state: bytes) -> list[Row]:
    return [(originator_id, first_version + index, topic, state) for index in range(count)]
