"""Event feeds for the runner: batches of notifications after a position; and the pages of
stored events a rebuild folds.

PostgreSQL: the library's subscription (LISTEN/NOTIFY, catch-up and tailing in one loop), pumped
into a queue by a thread so the runner can take whole batches. SQLite has no subscription, so it
is polled. The library's table lock makes notification ids follow commit order, so reading "after
the last position" never skips a transaction that committed late.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from domain.application import ParIndex
from projections.store import ViewStore


class PollingFeed:
    def __init__(self, app: ParIndex, after: int, idle_seconds: float = 0.2):
        self.app = app
        self.after = after
        self.idle_seconds = idle_seconds

    def next_batch(self, limit: int, timeout: float) -> Sequence[Notification]:
        batch = self.app.recorder.select_notifications(start=self.after, limit=limit,
                                                       inclusive_of_start=False)
        if not batch:
            threading.Event().wait(min(timeout, self.idle_seconds))
            return ()
        self.after = batch[-1].id
        return batch

    def nudge(self) -> None:
        """Nothing to wake: every `next_batch` reads the store."""

    def close(self) -> None:
        pass


class SubscriptionFeed:
    def __init__(self, app: ParIndex, after: int):
        self.app = app
        self.subscription = app.recorder.subscribe(gt=after)
        self.queue: queue.Queue[Notification | BaseException] = queue.Queue(maxsize=20_000)
        self.pump = threading.Thread(target=self._pump, name="parindex-subscription",
                                     daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        try:
            for notification in self.subscription:
                self.queue.put(notification)
        except BaseException as error:  # surfaced to the runner on its next batch
            self.queue.put(error)

    def next_batch(self, limit: int, timeout: float) -> Sequence[Notification]:
        try:
            first = self.queue.get(timeout=timeout)
        except queue.Empty:
            return ()
        batch = [first]
        while len(batch) < limit:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for item in batch:
            if isinstance(item, BaseException):
                raise item
        return batch  # type: ignore[return-value]

    def nudge(self) -> None:
        """Send a notification on the events channel, so that the subscription reads the store
        again. The library starts LISTENing in a thread of its own, after its first read:
        events committed in between wake nobody, and when they are the last ones for a while
        the subscription waits (tests/projections/test_runners.py reproduces it)."""
        recorder = self.app.recorder
        with recorder.datastore.get_connection() as conn:
            conn.execute(SQL("NOTIFY {}").format(Identifier(recorder.channel_name)))

    def close(self) -> None:
        self.subscription.stop()


# -- a rebuild's pages ------------------------------------------------------------------------


class StoredRow(NamedTuple):
    """A stored event as a plain tuple: what `mapper.to_domain_event` reads, without the
    library's dict rows and notification objects (a third of a rebuild's read cost)."""

    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


class Partition(NamedTuple):
    """One of `count` disjoint shares of the aggregates, by a hash of their id."""

    index: int
    count: int


WHOLE_LOG = Partition(0, 1)


def stored_pages(app: ParIndex, views: ViewStore, after: int, stop: int, page: int,
                 partition: Partition = WHOLE_LOG) -> Iterator[list[StoredRow]]:
    """The partition's stored events with after < position <= stop, in position order, in
    windows of `page` positions. Partitions other than (0, 1) need PostgreSQL.

    Read in the folding thread: a reader thread prefetching the next window halved a
    worker's rate (it waits for the GIL after every socket read — the convoy effect —
    while the fold holds it)."""
    table = app.recorder.events_table_name
    if views.kind == "postgresql":
        # The id type's own hash: uuid_hash costs the scan next to nothing, where
        # hashtext(originator_id::text) nearly doubled it.
        owner = ("uuid_hash(originator_id)" if app.recorder.datastore.originator_id_type
                 == "uuid" else "hashtext(originator_id)")
        owned = "" if partition.count == 1 else (
            f" AND ({owner} & 2147483647) %% {int(partition.count)} = {int(partition.index)}")
        sql = (f"SELECT notification_id, originator_id, originator_version, topic, state "
               f"FROM {table} WHERE notification_id > %s AND notification_id <= %s{owned} "
               "ORDER BY notification_id")
    else:
        if partition.count != 1:
            raise ValueError("SQLite is folded in one partition")
        sql = (f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
               "WHERE rowid > %s AND rowid <= %s ORDER BY rowid")

    for start in range(after, stop, page):
        with views.reading() as cur:
            cur.execute(sql, (start, min(start + page, stop)))
            rows = list(map(StoredRow._make, cur.fetchall()))
        if rows:
            yield rows
