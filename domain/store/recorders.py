"""Application recorders that hash every event in the transaction that stores it.

`SQLiteIntegrityRecorder` and `PostgresIntegrityRecorder` extend the library's application
recorders (eventsourcing 9.5.6). Every save stores the events and, in the SAME transaction,
their integrity row — `(position, leaf_index, leaf_hash, chain_hash)` of the save's last
event, with the leaves of all its events (up to MAX_LEAVES_PER_ROW a row), see
`domain/store/merkle.py` — continuing the head of the integrity table: the events and their
hashes commit together or not at all, so no event ever exists unhashed.

- PostgreSQL: one statement per save calls the insert function `<app>_insert_events_v3`
  (created with the tables): under the library's `LOCK TABLE ... IN EXCLUSIVE MODE` of the
  events table it inserts the events, computes their leaves and the chain in SQL, inserts the
  integrity row, notifies the subscribers and returns the positions. One round trip, and the
  lock is never held while the server waits for this process.
- SQLite (one writer at a time): the library's insert, then the hashes computed in Python
  (`hash_new_events`) and inserted in the same transaction.

The recorders also create, with the tables:
- `<app>_integrity` (SQLite: `stored_integrity`) and `<app>_checkpoints` (signed tree heads);
- guards: triggers that refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE on the events,
  integrity and checkpoint tables. They stop the application and mistakes; an operator with
  the owner's or a superuser's rights can still drop them, which the verifier catches.

A store that already held events before integrity existed (an empty integrity table, a
non-empty events table) is adopted once, at start: its events are hashed as they stand then,
with a warning in the log.

Selected with the library setting `APPLICATION_RECORDER_TOPIC` (see `domain/store/config.py`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    InternalError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from domain.store.merkle import (
    ENTRY_HEAD,
    ENTRY_LENGTH,
    ENTRY_MIDDLE,
    ENTRY_TAG,
    HASH_SIZE,
    ID_TEXT,
    ID_UUID,
    MAX_LEAVES_PER_ROW,
    ZERO_HASH,
    id_bytes,
)

log = logging.getLogger("parindex.integrity")

BATCH = 10_000
# The insert function's name carries this number: a changed body is a new function, so
# processes of two versions never replace each other's (docs/integrity.md).
INSERT_FUNCTION_VERSION = 3


class IntegrityViolation(PersistenceError):
    """The integrity table cannot be extended consistently (it or the events table was changed
    behind the application's back); the save is rolled back."""


class IntegrityRow(NamedTuple):
    """One row of the integrity table: the leaves of the events at positions
    `position - n + 1 .. position` (n = len(leaf_hash) // 32, 1 to MAX_LEAVES_PER_ROW),
    leaf indexes `leaf_index - n + 1 .. leaf_index`, and the chain after them
    (domain/store/merkle.py)."""

    position: int  # of the row's last event
    leaf_index: int  # of the row's last leaf
    leaf_hash: bytes  # the row's leaves, concatenated
    chain_hash: bytes


IntegrityTuple = tuple[int, int, bytes, bytes]  # an IntegrityRow's values, without the names


class EntryRow(NamedTuple):
    """An events row as hashed: the id as its kind and raw bytes."""

    position: int
    id_kind: int
    id_raw: bytes
    originator_version: int
    topic: str
    state: bytes

    @property
    def originator_id(self) -> UUID | str:
        if self.id_kind == ID_UUID:
            return UUID(bytes=self.id_raw)
        return self.id_raw.decode("utf-8")


RawEntry = tuple[int, bytes, int, str, bytes]


NewRow = tuple[int, int, bytes, bytes]  # an IntegrityRow's values


_sha256 = hashlib.sha256
_pack_head, _pack_middle, _pack_length = ENTRY_HEAD.pack, ENTRY_MIDDLE.pack, ENTRY_LENGTH.pack


def entry_leaf(position: int, originator_id: UUID | str, version: int, topic: str,
               state: bytes) -> bytes:
    """The leaf hash of an event: `merkle.leaf_hash(merkle.event_entry(...))` inlined, as it
    runs in every insert transaction (the golden test in tests/integrity/test_merkle.py pins
    both to one encoding)."""
    if originator_id.__class__ is UUID:
        kind, raw = ID_UUID, originator_id.bytes  # type: ignore[union-attr]
    else:
        kind, raw = id_bytes(originator_id)
    topic_raw = topic.encode("utf-8")
    return _sha256(b"".join((b"\x00", _pack_head(ENTRY_TAG, position, kind, len(raw)), raw,
                             _pack_middle(version, len(topic_raw)), topic_raw,
                             _pack_length(len(state)), state))).digest()


def hash_new_events(head: IntegrityRow | None,
                    events: Sequence[tuple[int, UUID | str, int, str, bytes]]
                    ) -> list[NewRow]:
    """Integrity rows continuing `head` for (position, originator_id, version, topic, state),
    in position order: one row per run of up to MAX_LEAVES_PER_ROW consecutive positions (a
    save's events are consecutive, so a save of up to that many events writes one row)."""
    index, last, chain = (-1, 0, ZERO_HASH) if head is None else (head[1], head[0], head[3])
    if any(events[i][0] >= events[i + 1][0] for i in range(len(events) - 1)):
        events = sorted(events, key=lambda e: e[0])
    rows: list[NewRow] = []
    run: list[bytes] = []  # the leaves of the row being filled, ending at position `last`
    for event in events:
        position = event[0]
        if position <= last:
            raise _reused(position, last)
        if run and (position != last + 1 or len(run) == MAX_LEAVES_PER_ROW):
            leaves = b"".join(run)
            chain, index = _sha256(chain + leaves).digest(), index + len(run)
            rows.append((last, index, leaves, chain))
            run = []
        run.append(entry_leaf(*event))
        last = position
    if run:
        leaves = b"".join(run)
        chain, index = _sha256(chain + leaves).digest(), index + len(run)
        rows.append((last, index, leaves, chain))
    return rows


def _reused(position: int, head: int) -> IntegrityViolation:
    return IntegrityViolation(
        f"new event at position {position} is not after the integrity log's head (position "
        f"{head}): events were deleted and positions reused; run `parindex verify`")


def integrity_names(events_table_name: str) -> tuple[str, str, str]:
    """(integrity table, checkpoints table, guard prefix) beside an events table."""
    prefix = events_table_name.removesuffix("events").rstrip("_") or events_table_name
    return f"{prefix}_integrity", f"{prefix}_checkpoints", prefix


class IntegrityRecorder(ABC):
    """What the integrity services need from a recorder, whatever the store."""

    events_table_name: str
    integrity_table_name: str
    checkpoints_table_name: str

    id_kind: int  # how this store's originator ids enter the entry (merkle.ID_UUID/ID_TEXT)

    @abstractmethod
    def select_entries(self, after: int, limit: int, stop: int | None = None
                       ) -> list[RawEntry]:
        """Events rows with after < position <= stop, in position order, as
        (position, id bytes, originator_version, topic, state) tuples (fast to hash)."""

    @abstractmethod
    def select_integrity_tuples(self, after: int, limit: int, stop: int | None = None
                                ) -> list[IntegrityTuple]:
        """`select_integrity`'s rows as plain (position, leaf_index, leaf_hash, chain_hash)
        tuples: the verifier reads every row, and naming each was a measurable part of it."""

    def select_integrity(self, after: int, limit: int, stop: int | None = None
                         ) -> list[IntegrityRow]:
        """Integrity rows with after < position <= stop, in position order."""
        return [IntegrityRow(*row) for row in self.select_integrity_tuples(after, limit, stop)]

    @abstractmethod
    def max_notification_id(self) -> int | None: ...

    @abstractmethod
    def integrity_head(self) -> IntegrityRow | None: ...

    @abstractmethod
    def entry(self, position: int) -> EntryRow | None: ...

    @abstractmethod
    def insert_checkpoint(self, tree_size: int, signed_at: datetime, document: str) -> bool:
        """Store a signed checkpoint; False if one of that size exists already."""

    @abstractmethod
    def checkpoint_documents(self, limit: int | None = None) -> list[str]:
        """Stored checkpoints (JSON), newest (largest) first."""

    @abstractmethod
    def checkpoint_document(self, tree_size: int) -> str | None: ...

    def log_end(self) -> int:
        """The largest position in the events or the integrity table (0 when empty)."""
        head = self.integrity_head()
        return max(head.position if head else 0, self.max_notification_id() or 0)

    # Read the next window in a thread while this one is consumed? It pays where the database
    # works in its own process meanwhile (PostgreSQL). SQLite works in this process, and turning
    # its rows into objects holds the GIL: a reader thread only takes turns with the consumer
    # for the GIL, which made the verifier slower.
    read_ahead = True

    def iter_integrity(self, after: int = 0, stop: int | None = None,
                       batch: int = BATCH) -> Iterator[IntegrityRow]:
        return itertools.chain.from_iterable(
            self._read_windows(self.select_integrity, after, stop, batch))

    def iter_windows(self, after: int = 0, stop: int | None = None, batch: int = BATCH
                     ) -> Iterator[tuple[list[RawEntry], list[IntegrityTuple]]]:
        """The events rows and the integrity rows of the same windows of positions (after,
        after+batch], (after+batch, after+2*batch], ... side by side (a row's first events
        may lie in the window before its own: the verifier regroups them)."""
        stop = self.log_end() if stop is None else stop
        return zip(self._read_windows(self.select_entries, after, stop, batch),
                   self._read_windows(self.select_integrity_tuples, after, stop, batch),
                   strict=True)

    def _read_windows(self, select: Callable[[int, int, int | None], list[Any]], after: int,
                      stop: int | None, batch: int) -> Iterator[list[Any]]:
        """`select`'s rows a window at a time, read ahead where that pays (`read_ahead`)."""
        stop = self.log_end() if stop is None else stop
        return (_read_ahead if self.read_ahead else _windows)(select, after, stop, batch)


def _window(after: int, limit: int, stop: int | None) -> int:
    """The upper bound of the position window (after, after + limit], capped at `stop`: the
    database scans at most `limit` positions whatever its statistics say."""
    return min(after + limit, (1 << 63) - 1 if stop is None else stop)


def _windows(select: Callable[[int, int, int | None], list[Any]], after: int, stop: int,
             batch: int) -> Iterator[list[Any]]:
    """The rows of the windows (after, after+batch], (after+batch, after+2*batch], ... up to
    `stop`, a list per window (an empty one for a window without rows)."""
    start = after
    while start < stop:
        yield select(start, batch, stop)
        start = _window(start, batch, stop)


def _read_ahead(select: Callable[[int, int, int | None], list[Any]], after: int, stop: int,
                batch: int) -> Iterator[list[Any]]:
    """`_windows`, the next window fetched in a thread while this one is consumed."""
    results: queue.Queue[Any] = queue.Queue(maxsize=2)
    closed = threading.Event()
    done = object()

    def hand_over(item: Any) -> None:
        while not closed.is_set():
            try:
                results.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def fetch() -> None:
        try:
            for rows in _windows(select, after, stop, batch):
                hand_over(rows)
                if closed.is_set():
                    return
            hand_over(done)
        except BaseException as error:
            hand_over(error)

    thread = threading.Thread(target=fetch, name="parindex-integrity-read", daemon=True)
    thread.start()
    try:
        while True:
            rows = results.get()
            if rows is done:
                return
            if isinstance(rows, BaseException):
                raise rows
            yield rows
    finally:
        closed.set()


# -- SQLite ------------------------------------------------------------------------------------


class SQLiteIntegrityRecorder(SQLiteApplicationRecorder, IntegrityRecorder):
    read_ahead = False  # see IntegrityRecorder.read_ahead

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        (self.integrity_table_name, self.checkpoints_table_name,
         self.guard_prefix) = integrity_names(events_table_name)
        super().__init__(datastore, events_table_name)
        integrity = self.integrity_table_name
        self._select_head = (f"SELECT position, leaf_index, leaf_hash, chain_hash FROM {integrity}"
                             " ORDER BY position DESC LIMIT 1")
        self._insert_integrity = (f"INSERT INTO {integrity} (position, leaf_index, leaf_hash, "
                                  "chain_hash) VALUES (?, ?, ?, ?)")
        # The head this recorder last committed (a hint; kept only once its transaction
        # committed, so a rolled-back save never leaves a head that is not in the log).
        self._head: IntegrityRow | None = None
        self._uuid_ids = datastore.originator_id_type == "uuid"
        self.id_kind = ID_UUID if self._uuid_ids else ID_TEXT

    def construct_create_table_statements(self) -> list[str]:
        integrity, checkpoints, _ = integrity_names(self.events_table_name)
        statements = super().construct_create_table_statements()
        statements += [
            f"CREATE TABLE IF NOT EXISTS {integrity} (position INTEGER PRIMARY KEY, "
            "leaf_index INTEGER NOT NULL, leaf_hash BLOB NOT NULL, "
            "chain_hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {checkpoints} (tree_size INTEGER PRIMARY KEY, "
            "signed_at TEXT NOT NULL, document TEXT NOT NULL)",
        ]
        for table in (self.events_table_name, integrity, checkpoints):
            for operation in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} BEFORE "
                    f"{operation} ON {table} BEGIN SELECT RAISE(ABORT, 'parindex: {operation} "
                    f"on {table} refused: the table is append-only'); END")
        return statements

    def create_table(self) -> None:
        super().create_table()
        self.adopt_unhashed_events()

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        written: list[IntegrityRow] = []
        with self.datastore.transaction(commit=True) as c:
            positions = self._insert_events(c, stored_events, written=written, **kwargs)
        if written:  # committed
            self._head = written[-1]
        return positions

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       written: list[IntegrityRow] | None = None,
                       **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, then the integrity row(s), in the transaction `c`; the new
        head is appended to `written` for `insert_events` to keep once committed."""
        positions = super()._insert_events(c, stored_events, **kwargs)
        if not stored_events:
            return positions
        assert positions is not None and len(positions) == len(stored_events)
        head = self._head
        # SQLite gives a new row the largest rowid plus one: only when the first new position
        # follows the head this recorder last wrote is that head still the log's (nothing
        # appended since, nothing rolled back); otherwise read it.
        if head is not None and positions[0] == head[0] + 1 and len(positions) == 1:
            # One event (most saves), straight from the head: every Python step inside the
            # write transaction costs several times its cost in a warm loop (caches cold
            # after SQLite's work), so this case skips hash_new_events' generality.
            event = stored_events[0]
            leaf = entry_leaf(positions[0], event.originator_id, event.originator_version,
                              event.topic, event.state)
            row = (positions[0], head[1] + 1, leaf, _sha256(head[3] + leaf).digest())
            c.execute(self._insert_integrity, row)
            if written is not None:
                written.append(IntegrityRow(*row))
            return positions
        if head is None or positions[0] != head[0] + 1:
            c.execute(self._select_head)
            found = c.fetchone()
            head = IntegrityRow(*found) if found else None
        rows = hash_new_events(head, [
            (position, s.originator_id, s.originator_version, s.topic, s.state)
            for position, s in zip(positions, stored_events, strict=True)])
        if len(rows) == 1:
            c.execute(self._insert_integrity, rows[0])
        else:
            c.executemany(self._insert_integrity, rows)
        if written is not None:
            written.append(IntegrityRow(*rows[-1]))
        return positions

    def adopt_unhashed_events(self) -> int:
        """Hash the events of a store written before integrity existed (once: only while the
        integrity table is empty). Returns how many were adopted."""
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(f"SELECT 1 FROM {self.integrity_table_name} LIMIT 1")
                if cursor.fetchone() is not None:
                    conn.rollback()
                    return 0
                adopted, after, head = 0, 0, None
                while True:
                    cursor.execute(
                        f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                        f"{self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                        (after, BATCH))
                    batch = [(row[0], self.convert_originator_id(row[1]), row[2], row[3],
                              row[4]) for row in cursor.fetchall()]
                    if not batch:
                        break
                    rows = hash_new_events(head, batch)
                    cursor.executemany(self._insert_integrity, rows)
                    head = IntegrityRow(*rows[-1])
                    after, adopted = head.position, adopted + len(batch)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        if adopted:
            log.warning("integrity: adopted %d events stored before the integrity log existed "
                        "(hashed as they stand now, up to position %d)", adopted, after)
        return adopted

    # reads

    def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples
            c.execute(statement, params)
            return c.fetchall()

    def _raw_entries(self, rows: list[Any]) -> list[RawEntry]:
        # unpacked, not indexed: a third faster, and the verifier passes every row through here
        if self._uuid_ids:
            fromhex = bytes.fromhex
            return [(position, fromhex(oid), version, topic, state)
                    for position, oid, version, topic, state in rows]
        return [(position, oid.encode("utf-8"), version, topic, state)
                for position, oid, version, topic, state in rows]

    def select_entries(self, after: int, limit: int, stop: int | None = None
                       ) -> list[RawEntry]:
        return self._raw_entries(self._rows(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{self.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
            (after, _window(after, limit, stop), limit)))

    def entry(self, position: int) -> EntryRow | None:
        rows = self._raw_entries(self._rows(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{self.events_table_name} WHERE rowid = ?", (position,)))
        return EntryRow(rows[0][0], self.id_kind, *rows[0][1:]) if rows else None

    def select_integrity_tuples(self, after: int, limit: int, stop: int | None = None
                                ) -> list[IntegrityTuple]:
        return self._rows(f"SELECT position, leaf_index, leaf_hash, chain_hash FROM "
                          f"{self.integrity_table_name} WHERE position > ? AND position <= ? "
                          "ORDER BY position LIMIT ?", (after, _window(after, limit, stop), limit))

    def integrity_head(self) -> IntegrityRow | None:
        rows = self._rows(self._select_head, ())
        return IntegrityRow(*rows[0]) if rows else None

    def insert_checkpoint(self, tree_size: int, signed_at: datetime, document: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT OR IGNORE INTO {self.checkpoints_table_name} (tree_size, "
                      "signed_at, document) VALUES (?, ?, ?)",
                      (tree_size, signed_at.isoformat(), document))
            c.execute("SELECT changes()")
            return bool(c.fetchone()[0])

    def checkpoint_documents(self, limit: int | None = None) -> list[str]:
        rows = self._rows(f"SELECT document FROM {self.checkpoints_table_name} ORDER BY "
                          "tree_size DESC LIMIT ?", (-1 if limit is None else limit,))
        return [row[0] for row in rows]

    def checkpoint_document(self, tree_size: int) -> str | None:
        rows = self._rows(f"SELECT document FROM {self.checkpoints_table_name} WHERE "
                          "tree_size = ?", (tree_size,))
        return rows[0][0] if rows else None


# -- PostgreSQL --------------------------------------------------------------------------------


class PostgresIntegrityRecorder(PostgresApplicationRecorder, IntegrityRecorder):
    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        if datastore.enable_db_functions:
            raise ProgrammingError("POSTGRES_ENABLE_DB_FUNCTIONS inserts events without the "
                                   "recorder's integrity rows; parindex needs it off")
        (self.integrity_table_name, self.checkpoints_table_name,
         self.guard_prefix) = integrity_names(events_table_name)
        for name in (self.integrity_table_name, self.checkpoints_table_name,
                     f"{self.checkpoints_table_name}_no_truncate"):
            self.check_identifier_length(name)
        schema = Identifier(datastore.schema)
        events = Identifier(self.events_table_name)
        integrity = Identifier(self.integrity_table_name)
        checkpoints = Identifier(self.checkpoints_table_name)
        self._events_sql = (schema, events)
        self._select_head = SQL(
            "SELECT position, leaf_index, leaf_hash, chain_hash FROM {}.{} "
            "ORDER BY position DESC LIMIT 1").format(schema, integrity)
        self._insert_integrity = SQL(
            "INSERT INTO {}.{} (position, leaf_index, leaf_hash, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bytea[], %b::bytea[])"
        ).format(schema, integrity)
        self.insert_function_name = f"{self.guard_prefix}_insert_events_v{INSERT_FUNCTION_VERSION}"
        self.check_identifier_length(self.insert_function_name)
        self._insert_call = SQL("SELECT * FROM {}.{}(%s::{}.{}[], %s)").format(
            schema, Identifier(self.insert_function_name), schema,
            Identifier(self.stored_event_type_name))
        self._insert_call_bytes: bytes | None = None
        self._select_events_sql: dict[tuple[bool, bool, bool, bool], bytes] = {}
        id_expr = SQL("uuid_send(originator_id)" if datastore.originator_id_type == "uuid"
                      else "convert_to(originator_id, 'UTF8')")
        self.id_kind = ID_UUID if datastore.originator_id_type == "uuid" else ID_TEXT
        select_entries = SQL("SELECT notification_id, {}, originator_version, topic, state "
                             "FROM {}.{} ").format(id_expr, schema, events)
        self._select_entries = select_entries + SQL(
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id "
            "LIMIT %s")
        self._select_entries_window = select_entries + SQL(  # see `_window_rows`
            "WHERE notification_id > %s AND notification_id <= %s")
        self._select_entry = select_entries + SQL("WHERE notification_id = %s")
        select_integrity = SQL("SELECT position, leaf_index, leaf_hash, chain_hash "
                               "FROM {}.{} ").format(schema, integrity)
        self._select_integrity_window = select_integrity + SQL(  # see `_window_rows`
            "WHERE position > %s AND position <= %s")
        self._insert_checkpoint = SQL(
            "INSERT INTO {}.{} (tree_size, signed_at, document) VALUES (%s, %s, %s) "
            "ON CONFLICT (tree_size) DO NOTHING").format(schema, checkpoints)
        self._select_checkpoints = SQL(
            "SELECT document FROM {}.{} ORDER BY tree_size DESC LIMIT %s").format(
            schema, checkpoints)
        self._select_checkpoint = SQL(
            "SELECT document FROM {}.{} WHERE tree_size = %s").format(schema, checkpoints)
        self.sql_create_statements.extend(self._integrity_ddl())

    # -- schema

    @property
    def guard_function_name(self) -> str:
        return f"{self.guard_prefix}_append_only"

    def guarded_tables(self) -> list[str]:
        return [self.events_table_name, self.integrity_table_name, self.checkpoints_table_name]

    def _integrity_ddl(self) -> list[Composed]:
        schema = Identifier(self.datastore.schema)
        function = Identifier(self.guard_function_name)
        statements = [
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (position bigint PRIMARY KEY, "
                "leaf_index bigint NOT NULL, leaf_hash bytea NOT NULL, "
                "chain_hash bytea NOT NULL)").format(schema,
                                                     Identifier(self.integrity_table_name)),
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (tree_size bigint PRIMARY KEY, "
                "signed_at timestamptz NOT NULL, document text NOT NULL)").format(
                schema, Identifier(self.checkpoints_table_name)),
            SQL("DO $do$ BEGIN "
                "CREATE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
                "RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = "
                "'parindex: ' || TG_OP || ' on ' || TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME "
                "|| ' refused: the table is append-only'; END $fn$; "
                "EXCEPTION WHEN duplicate_function THEN NULL; END $do$").format(schema, function),
        ]
        statements.append(self._insert_function_ddl())
        for table in self.guarded_tables():
            relation = SQL("format('%I.%I', {}, {})::regclass").format(
                Literal(self.datastore.schema), Literal(table))
            for suffix, when, level in (("append_only", "UPDATE OR DELETE", "ROW"),
                                        ("no_truncate", "TRUNCATE", "STATEMENT")):
                trigger = f"{table}_{suffix}"
                statements.append(SQL(
                    "DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {} "
                    "AND tgname = {}) THEN CREATE TRIGGER {} BEFORE {} ON {}.{} FOR EACH {} "
                    "EXECUTE FUNCTION {}.{}(); END IF; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $do$").format(
                    relation, Literal(trigger), Identifier(trigger), SQL(when), schema,
                    Identifier(table), SQL(level), schema, function))
        return statements

    def _insert_function_ddl(self) -> Composed:
        """The function every save calls: under the events table's EXCLUSIVE lock (the
        library's: positions are handed out in commit order) it inserts the events, hashes
        each into the integrity log (the entry of domain/store/merkle.py, computed in SQL; the
        verifier recomputes every leaf in Python, so the two encodings cannot drift apart
        unnoticed) and returns their positions. A save's events get consecutive positions and
        share one integrity row (up to MAX_LEAVES_PER_ROW; a gap in the positions, which only
        a sequence shared with other writers could make, starts a new row). `CREATE` without
        `OR REPLACE`: processes starting together must not replace each other's function (a
        changed body gets a new INSERT_FUNCTION_VERSION, hence a new name)."""
        schema = Identifier(self.datastore.schema)
        if self.datastore.originator_id_type == "uuid":
            id_part = "'\\x010010'::bytea || uuid_send(originator_id)"
        else:
            id_part = ("'\\x02'::bytea || int2send(octet_length(convert_to(originator_id, "
                       "'UTF8'))::int2) || convert_to(originator_id, 'UTF8')")
        # The leaf of the inserted row (merkle.entry_bytes), in the INSERT's RETURNING list.
        leaf = SQL(
            f"sha256('\\x0050584531'::bytea || int8send(notification_id) || {id_part} || "
            "int8send(originator_version::bigint) || "
            "int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8') || "
            "int4send(octet_length(state)) || state)").format()
        # A position at or before the head means events were deleted and positions reused.
        refuse_reused_position = SQL(
            "IF one_position <= head_position THEN RAISE EXCEPTION USING "
            "ERRCODE = 'data_corrupted', MESSAGE = format('parindex: new event at position %s "
            "is not after the integrity log''s head (position %s): events were deleted and "
            "positions reused; run `parindex verify`', one_position, head_position); END IF;")
        # The row of the leaves gathered in `run` (from position run_first on), chained on;
        # its positions are returned.
        write_row = SQL(
            "size := octet_length(run) / 32; head_position := run_first + size - 1; "
            "chain := sha256(chain || run); head_index := head_index + size; "
            "INSERT INTO {schema}.{integrity} (position, leaf_index, leaf_hash, chain_hash) "
            "VALUES (head_position, head_index, run, chain); "
            "RETURN QUERY SELECT generate_series(run_first, head_position); ").format(
            schema=schema, integrity=Identifier(self.integrity_table_name))
        return SQL(
            "DO $do$ BEGIN "
            "CREATE FUNCTION {schema}.{function}(events {schema}.{event_type}[], "
            "lock_timeout text) RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$ "
            "DECLARE head_position bigint; head_index bigint; chain bytea; "
            "one_position bigint; one_leaf bytea; run bytea; run_first bigint; size int; "
            "BEGIN "
            "PERFORM set_config('lock_timeout', lock_timeout, true); "
            "LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE; "
            "PERFORM pg_notify({channel}, ''); "
            "SELECT position, leaf_index, chain_hash INTO head_position, head_index, chain "
            "FROM {schema}.{integrity} ORDER BY position DESC LIMIT 1; "
            # One event (most saves): as few statements as can be, each costs (a NULL head,
            # of an empty log, compares as not reused).
            "IF cardinality(events) = 1 THEN "
            "{insert} RETURNING notification_id, {leaf} INTO one_position, one_leaf; "
            "{refuse_reused_position} "
            "INSERT INTO {schema}.{integrity} (position, leaf_index, leaf_hash, chain_hash) "
            "VALUES (one_position, coalesce(head_index, -1) + 1, one_leaf, "
            "sha256(coalesce(chain, {zero}) || one_leaf)); "
            "RETURN NEXT one_position; RETURN; "
            "END IF; "
            "head_position := coalesce(head_position, 0); "
            "head_index := coalesce(head_index, -1); chain := coalesce(chain, {zero}); "
            "run := ''::bytea; run_first := head_position + 1; "
            # More: the RETURNING rows come in insertion order, which is position order (were
            # they ever not, a position would go backwards and the reuse check refuse the
            # save: never a wrong row). An event extends the row being filled unless its
            # position does not follow (a gap, which only a sequence consumed by something
            # else makes) or the row is full: a statement or two per event, the rest per row.
            # No events (an empty or NULL array, which the recorder never sends): no row.
            "FOR one_position, one_leaf IN {insert} RETURNING notification_id, {leaf} LOOP "
            "IF one_position <> run_first + octet_length(run) / 32 "
            "OR octet_length(run) = {max_bytes} THEN "
            "IF run <> ''::bytea THEN {write_row} END IF; "
            "{refuse_reused_position} "
            "run := ''::bytea; run_first := one_position; "
            "END IF; "
            "run := run || one_leaf; "
            "END LOOP; "
            "IF run <> ''::bytea THEN {write_row} END IF; "
            "END $fn$; "
            "EXCEPTION WHEN duplicate_function THEN NULL; END $do$").format(
            schema=schema, function=Identifier(self.insert_function_name),
            event_type=Identifier(self.stored_event_type_name),
            events=Identifier(self.events_table_name),
            integrity=Identifier(self.integrity_table_name),
            channel=Literal(self.channel_name), zero=Literal(ZERO_HASH),
            insert=SQL("INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
                       "SELECT originator_id, originator_version, topic, state FROM "
                       "unnest(events)").format(schema, Identifier(self.events_table_name)),
            leaf=leaf, refuse_reused_position=refuse_reused_position, write_row=write_row,
            max_bytes=Literal(MAX_LEAVES_PER_ROW * HASH_SIZE))

    def missing_objects(self) -> list[str]:
        """Tables and guard triggers this recorder needs that do not exist."""
        schema = self.datastore.schema
        wanted_tables = self.guarded_tables()
        wanted_function = self.insert_function_name
        wanted_triggers = [f"{t}_{s}" for t in wanted_tables
                           for s in ("append_only", "no_truncate")]
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                      "c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
                      (schema, wanted_tables))
            tables = {row[0] for row in c.fetchall()}
            c.execute("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                      "AND t.tgname = ANY(%s) AND t.tgenabled <> 'D'", (schema, wanted_triggers))
            triggers = {row[0] for row in c.fetchall()}
            c.execute("SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                      "WHERE n.nspname = %s AND p.proname = %s", (schema, wanted_function))
            function = c.fetchone() is not None
        return ([f"table {t}" for t in wanted_tables if t not in tables]
                + [f"trigger {t}" for t in wanted_triggers if t not in triggers]
                + ([] if function else [f"function {wanted_function}"]))

    def grants_sql(self, role: str, snapshots_table: str | None = None) -> str:
        """The GRANT/REVOKE script (docs/integrity.md) that leaves `role` able to read and
        append, never to change or remove, the event, integrity and checkpoint tables. Run it
        as the tables' owner, after starting parindex once as the owner (which creates them
        with their guard triggers); then run parindex as `role`."""

        def q(name: str) -> str:
            return '"' + name.replace('"', '""') + '"'

        schema = q(self.datastore.schema)
        events = f"{schema}.{q(self.events_table_name)}"
        integrity = f"{schema}.{q(self.integrity_table_name)}"
        checkpoints = f"{schema}.{q(self.checkpoints_table_name)}"
        snapshots = f"{schema}.{q(snapshots_table or self.guard_prefix + '_snapshots')}"
        sequence = f"{schema}.{q(self.events_table_name + '_notification_id_seq')}"
        r = q(role)
        return "\n".join([
            f"-- parindex: {role} may read and append the log, never change or remove it.",
            "-- Run as the owner of the tables (after starting parindex once as that owner).",
            "BEGIN;",
            f"REVOKE ALL ON {events}, {integrity}, {checkpoints}, {snapshots} FROM PUBLIC;",
            f"REVOKE ALL ON {events}, {integrity}, {checkpoints}, {snapshots} FROM {r};",
            f"GRANT USAGE ON SCHEMA {schema} TO {r};",
            "-- the projections create their own view tables in the schema",
            f"GRANT CREATE ON SCHEMA {schema} TO {r};",
            f"GRANT SELECT, INSERT ON {events}, {integrity}, {checkpoints}, {snapshots} TO {r};",
            f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {r};",
            "-- every save calls the insert function (it runs with the caller's rights)",
            f"GRANT EXECUTE ON FUNCTION {schema}.{q(self.insert_function_name)} TO {r};",
            "-- LOCK TABLE ... IN EXCLUSIVE MODE, which the library takes on every insert,",
            "-- needs the UPDATE privilege; the append_only trigger refuses every UPDATE and",
            "-- only the owner can drop or disable it.",
            f"GRANT UPDATE ON {events} TO {r};",
            "COMMIT;",
            ""])

    def _owned_by_another_role(self) -> bool:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute("SELECT NOT pg_has_role(current_user, c.relowner, 'USAGE') "
                      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "WHERE n.nspname = %s AND c.relname = %s",
                      (self.datastore.schema, self.events_table_name))
            row = c.fetchone()
        return bool(row and row[0])

    def create_table(self) -> None:
        if self._owned_by_another_role():
            # The operator's owner role manages the schema (docs/integrity.md); this role may
            # only read and append, so it runs no DDL but insists that the guards exist.
            missing = self.missing_objects()
            if missing:
                raise ProgrammingError(
                    f"the tables of {self.events_table_name} belong to another role and lack "
                    f"{', '.join(missing)}: start parindex once as their owner")
            self.datastore.register_type_adapters()
        else:
            super().create_table()
        self.adopt_unhashed_events()

    def _create_table(self, curs: Any) -> None:
        # Workers of one deployment start together and each creates the tables; PostgreSQL's
        # DDL is not safe to race (the library's CREATE OR REPLACE FUNCTION failed with "tuple
        # concurrently updated"), so the creations take turns, within the library's transaction.
        curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                     (f"parindex create tables {self.datastore.schema}",))
        super()._create_table(curs)

    def adopt_unhashed_events(self) -> int:
        """Hash the events of a store written before integrity existed (once: only while the
        integrity table is empty). Returns how many were adopted."""
        schema, events = self._events_sql
        check = SQL("SELECT EXISTS (SELECT 1 FROM {}.{}), EXISTS (SELECT 1 FROM {}.{})").format(
            schema, Identifier(self.integrity_table_name), schema, events)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(check)
            has_integrity, has_events = c.fetchone() or (True, False)
        if has_integrity or not has_events:
            return 0
        adopted, after = 0, 0
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement)
            c = curs.connection.cursor(row_factory=tuple_row)
            c.execute(check)
            has_integrity, _ = c.fetchone() or (True, False)
            if has_integrity:
                return 0
            head = None
            while True:
                c.execute(self._select_entries, (after, _upto(None), BATCH))
                entries = [EntryRow(row[0], self.id_kind, bytes(row[1]), row[2], row[3],
                                    bytes(row[4])) for row in c.fetchall()]
                if not entries:
                    break
                rows = hash_new_events(head, [(e.position, e.originator_id,
                                               e.originator_version, e.topic, e.state)
                                              for e in entries])
                c.execute(self._insert_integrity, _columns(rows))
                head = IntegrityRow(*rows[-1])
                after, adopted = head.position, adopted + len(entries)
        log.warning("integrity: adopted %d events stored before the integrity log existed "
                    "(hashed as they stand now, up to position %d)", adopted, after)
        return adopted

    # -- the insert path: one statement, one round trip

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """Store the events and their integrity rows with ONE call of the insert function
        (see `_insert_function_ddl`), in the statement's own transaction.

        The library's path takes the table lock, inserts, waits for the positions to come
        back, then commits: the lock is held across a round trip to this process, and under
        load that means across waits for the GIL, which made every other writer queue behind
        it (docs/performance-http.md). Here the lock is held only while the server works."""
        if not stored_events:
            return None
        events = [self.construct_pg_stored_event(e.originator_id, e.originator_version,
                                                 e.topic, e.state) for e in stored_events]
        try:
            with self.datastore.get_connection() as conn, \
                    conn.cursor(row_factory=tuple_row) as curs:
                if self._insert_call_bytes is None:
                    self._insert_call_bytes = self._insert_call.as_bytes(conn)
                curs.execute(self._insert_call_bytes,
                             (events, f"{self.datastore.lock_timeout}s"), prepare=True)
                positions = [row[0] for row in curs.fetchall()]
        except InternalError as error:
            if getattr(error.__cause__, "sqlstate", None) == "XX001":  # data_corrupted
                raise IntegrityViolation(str(error.__cause__).removeprefix("parindex: ")
                                         ) from None
            raise
        if len(positions) != len(stored_events):
            raise IntegrityViolation(f"the store returned {len(positions)} positions for "
                                     f"{len(stored_events)} events")
        return positions

    # -- reads

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False, limit: int | None = None
                      ) -> Sequence[StoredEvent]:
        """The library's `select_events`, with each statement shape rendered once and rows as
        tuples: every command loads two or three aggregates (each load a fast-forward query),
        and rebuilding the query text and a dict per row each time was a measurable part of
        a command's CPU (docs/performance-http.md)."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        params: list[Any] = [originator_id]
        params += [value for value in (gt, lte) if value is not None]
        if limit is not None:
            params.append(limit)
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            statement = self._select_events_sql.get(shape)
            if statement is None:
                statement = self._select_events_sql[shape] = self._select_events_text(
                    shape).as_bytes(conn)
            curs.execute(statement, params, prepare=True)
            return [StoredEvent(originator_id=row[0], originator_version=row[1], topic=row[2],
                                state=bytes(row[3])) for row in curs.fetchall()]

    def _select_events_text(self, shape: tuple[bool, bool, bool, bool]) -> Composed:
        after, upto, desc, limited = shape
        schema, events = self._events_sql
        return SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} "
                   "WHERE originator_id = %s{}{} ORDER BY originator_version {}{}").format(
            schema, events, SQL(" AND originator_version > %s" if after else ""),
            SQL(" AND originator_version <= %s" if upto else ""),
            SQL("DESC" if desc else "ASC"), SQL(" LIMIT %s" if limited else ""))

    def _fetch(self, statement: Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # Not prepared: a generic plan for a position range with a LIMIT parameter can sort
        # the whole table on every batch; each execution is planned with its own values.
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as c:
            c.execute(statement, params, prepare=False)
            return c.fetchall()

    def _window_rows(self, statement: Composed, after: int, limit: int, stop: int | None
                     ) -> list[Any]:
        """The rows of the window (after, after + limit] capped at `stop`, in position order.
        Without ORDER BY: on tables not analysed yet (a fresh log, autovacuum behind) the
        planner sorted every window on disk, which cost the server more than the rest of a
        verify pass. Positions are unique, so there are at most `limit` rows; they come in
        heap order, nearly position order, which Python sorts in about one pass."""
        rows = self._fetch(statement, (after, _window(after, limit, stop)))
        rows.sort(key=itemgetter(0))  # by position
        return rows

    def select_entries(self, after: int, limit: int, stop: int | None = None
                       ) -> list[RawEntry]:
        return self._window_rows(self._select_entries_window, after, limit, stop)

    def entry(self, position: int) -> EntryRow | None:
        rows = self._fetch(self._select_entry, (position,))
        return EntryRow(rows[0][0], self.id_kind, *rows[0][1:]) if rows else None

    def select_integrity_tuples(self, after: int, limit: int, stop: int | None = None
                                ) -> list[IntegrityTuple]:
        return self._window_rows(self._select_integrity_window, after, limit, stop)

    def integrity_head(self) -> IntegrityRow | None:
        rows = self._fetch(self._select_head, ())
        return IntegrityRow(*rows[0]) if rows else None

    def insert_checkpoint(self, tree_size: int, signed_at: datetime, document: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._insert_checkpoint, (tree_size, signed_at, document))
            return c.rowcount == 1

    def checkpoint_documents(self, limit: int | None = None) -> list[str]:
        return [row[0] for row in self._fetch(self._select_checkpoints, (limit,))]

    def checkpoint_document(self, tree_size: int) -> str | None:
        rows = self._fetch(self._select_checkpoint, (tree_size,))
        return rows[0][0] if rows else None


def _columns(rows: Sequence[NewRow]) -> tuple[list[int], list[int], list[bytes], list[bytes]]:
    return ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            [r[3] for r in rows])


def _upto(stop: int | None) -> int:
    return (1 << 63) - 1 if stop is None else stop
