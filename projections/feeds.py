"""Event feeds for the runner: batches of notifications after a position.

PostgreSQL: the library's subscription (LISTEN/NOTIFY, catch-up and tailing in one loop), pumped
into a queue by a thread so the runner can take whole batches. SQLite has no subscription, so it
is polled. The library's table lock makes notification ids follow commit order, so reading "after
the last position" never skips a transaction that committed late.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from domain.application import ParIndex


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
