"""Helpers for the integrity tests: filling a store, and tampering with it directly in SQL,
bypassing the application (as a superuser or someone with the database file would)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from domain.access.model import AccessToken, new_secret
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.store.checkpoints import generate_key_file, load_signing_key
from domain.store.integrity import Checkpointer

OPERATOR = Actor("cli:test", Role.SYSTEM)


def first(report: Any) -> Any:
    """The first problem of a verification that must have found tampering."""
    assert not report.ok, "tampering went unnoticed"
    return report.first_problem


def fill(app: ParIndex, count: int, prefix: str = "holder") -> list[int]:
    """`count` events (one token each); their positions."""
    positions = []
    for i in range(count):
        _, result = app.issue_token(OPERATOR, f"{prefix}-{i}", Role.INSPECTOR)
        assert result.position is not None
        positions.append(result.position)
    return positions


def fill_in_one_save(app: ParIndex, count: int, prefix: str = "batch") -> list[int]:
    """`count` events saved together (one new token each, ONE save); their positions."""
    tokens = [AccessToken.issue(OPERATOR, new_secret(), f"{prefix}-{i}", Role.INSPECTOR, None)
              for i in range(count)]
    return [recording.notification.id for recording in app.save(*tokens)]


def signing_key(tmp_path: Path):
    path = tmp_path / "keys" / "sign.key"
    if not path.exists():
        generate_key_file(path)
    return load_signing_key(path)


def checkpointer(app: ParIndex, tmp_path: Path, **options: Any) -> Checkpointer:
    return Checkpointer(app.recorder, signing_key(tmp_path), **options)


class RawStore:
    """Direct SQL on the store under `app`, with the guard triggers out of the way.

    Statements name the tables `{events}`, `{integrity}`, `{checkpoints}` and the events'
    position column `{pos}`; parameters are written `?` for both stores."""

    def __init__(self, app: ParIndex):
        self.app = app
        self.kind = app.settings.kind
        recorder = app.recorder
        self.names = {"events": recorder.events_table_name,
                      "integrity": recorder.integrity_table_name,
                      "checkpoints": recorder.checkpoints_table_name,
                      "pos": "rowid" if self.kind == "sqlite" else "notification_id"}
        if self.kind == "sqlite":
            self.path = app.settings.library_env["SQLITE_DBNAME"]
        else:
            env = app.settings.library_env
            self.schema = env.get("POSTGRES_SCHEMA") or "public"
            self.conninfo = {"host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"],
                             "dbname": env["POSTGRES_DBNAME"], "user": env["POSTGRES_USER"],
                             "password": env["POSTGRES_PASSWORD"] or None}

    def _sql(self, statement: str) -> str:
        statement = statement.format(**self.names)
        return statement if self.kind == "sqlite" else statement.replace("?", "%s")

    def run(self, *statements: str | tuple[str, Sequence[Any]],
            unguard: bool = True) -> list[list[Any]]:
        """Run statements in one transaction after removing the guards (unless `unguard` is
        false); every statement's rows."""
        results: list[list[Any]] = []
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                        "'trigger'").fetchall() if unguard else []
                for (name,) in triggers:
                    conn.execute(f"DROP TRIGGER {name}")
                conn.execute("BEGIN")
                for item in statements:
                    sql, params = (item, ()) if isinstance(item, str) else item
                    results.append(conn.execute(self._sql(sql), params).fetchall())
                conn.execute("COMMIT")
            finally:
                conn.close()
            return results
        import psycopg

        with psycopg.connect(**self.conninfo) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            guarded = ("events", "integrity", "checkpoints") if unguard else ()
            for table in guarded:
                conn.execute(f'ALTER TABLE "{self.names[table]}" DISABLE TRIGGER USER')
            for item in statements:
                sql, params = (item, ()) if isinstance(item, str) else item
                cursor = conn.execute(self._sql(sql), params)
                results.append(cursor.fetchall() if cursor.description else [])
            for table in guarded:
                conn.execute(f'ALTER TABLE "{self.names[table]}" ENABLE TRIGGER USER')
        return results

    def reset_sequence(self, last: int) -> None:
        """PostgreSQL: make the next event take position last + 1 (SQLite reuses rowids by
        itself)."""
        if self.kind == "postgresql":
            self.run((f"SELECT setval(pg_get_serial_sequence('\"{self.schema}\".\"{{events}}\"',"
                      " 'notification_id'), ?)", (last,)))

    def swap_events(self, a: int, b: int) -> None:
        """Move the events at positions a and b into each other's position (same ids,
        versions and bytes: only their order changes)."""
        (rows,) = self.run(("SELECT {pos}, originator_id, originator_version, topic, state "
                            "FROM {events} WHERE {pos} IN (?, ?) ORDER BY {pos}", (a, b)))
        (_, id_a, v_a, t_a, s_a), (_, id_b, v_b, t_b, s_b) = rows
        insert = ("INSERT INTO {events} (originator_id, originator_version, topic, state, "
                  "{pos}) VALUES (?, ?, ?, ?, ?)")
        self.run(("DELETE FROM {events} WHERE {pos} IN (?, ?)", (a, b)),
                 (insert, (id_b, v_b, t_b, s_b, a)), (insert, (id_a, v_a, t_a, s_a, b)))
