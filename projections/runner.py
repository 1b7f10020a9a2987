"""The runner: tails the event log into the active view generation, exactly once.

Each batch of events is folded in memory and written — rows, audit entries, event times and the
new tracking position — in ONE transaction, so a crash anywhere leaves the views at the last
committed batch and the runner resumes from there. Only one runner works at a time (`locks.py`);
others wait and take over when it dies. A watchdog looks after a PostgreSQL subscription that
falls behind the log without delivering anything (issue #305 of the library: a lost NOTIFY leaves
it waiting while the log grows): after `nudge_seconds` it sends a NOTIFY of its own, after
`stall_seconds` it restarts the subscription.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from domain.application import ParIndex
from projections.feeds import PollingFeed, SubscriptionFeed
from projections.locks import RunnerLock
from projections.scoreboard import Scoreboard
from projections.store import StaleBatch, ViewStore

log = logging.getLogger("parindex.projections")


class GenerationChanged(Exception):
    """A rebuild finished a new generation: start over on it."""


@dataclass
class RunnerStatus:
    generation: int | None = None
    position: int = 0
    batches: int = 0
    events: int = 0
    restarts: int = 0
    last_error: str | None = None


class ViewRunner:
    def __init__(self, app: ParIndex, views: ViewStore, *, batch_size: int = 1000,
                 idle_seconds: float = 0.2, nudge_seconds: float = 1.0,
                 stall_seconds: float = 10.0):
        self.app = app
        self.views = views
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.nudge_seconds = nudge_seconds
        self.stall_seconds = stall_seconds
        self.status = RunnerStatus()
        self.lock = RunnerLock(app.settings)

    # -- life cycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Wait for the lock, then keep the views up to date until `stop` is set."""
        try:
            if not self.lock.acquire(stop):
                return
            log.info("projection runner holds the lock")
            while not stop.is_set():
                try:
                    self._run_generation(stop)
                except GenerationChanged:
                    continue
                except StaleBatch as error:
                    self._note_restart(f"stale batch: {error}")
                except Exception as error:  # a broken connection, a lost lock: start over
                    log.exception("projection runner failed; restarting")
                    self._note_restart(f"{type(error).__name__}: {error}")
                    stop.wait(1.0)
                    if not self.lock.alive():
                        self.lock.release()
                        if not self.lock.acquire(stop):
                            return
        finally:
            self.lock.release()

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="parindex-projections",
                                  daemon=True)
        thread.start()
        return thread, stop

    def _note_restart(self, reason: str) -> None:
        self.status.restarts += 1
        self.status.last_error = reason

    # -- work ---------------------------------------------------------------------------------

    def _target_generation(self) -> tuple[int, bool]:
        """(generation to write, whether it still waits to become active)."""
        pending = self.views.meta("pending_generation")
        if pending is not None:
            return int(pending), True
        active = self.views.active_generation()
        if active is None:
            self.views.create_generation(1)
            with self.views.transaction() as cur:
                self.views.set_meta(cur, "active_generation", "1")
            active = 1
        return active, False

    def _feed(self, after: int) -> PollingFeed | SubscriptionFeed:
        if self.app.settings.kind == "postgresql":
            return SubscriptionFeed(self.app, after)
        return PollingFeed(self.app, after, self.idle_seconds)

    def _run_generation(self, stop: threading.Event) -> None:
        generation, pending = self._target_generation()
        board = Scoreboard.loading_from(self.app)
        position = self.views.position(generation)
        self.status.generation, self.status.position = generation, position
        feed = self._feed(position)
        last_progress = time.monotonic()
        nudged = False
        try:
            while not stop.is_set():
                if not pending and self.views.meta("pending_generation") is not None:
                    raise GenerationChanged()
                batch = feed.next_batch(self.batch_size, self.idle_seconds)
                if batch:
                    position = self.process(board, generation, batch)
                    last_progress = time.monotonic()
                    nudged = False
                    continue
                head = self.app.recorder.max_notification_id() or 0
                if pending and head <= position:
                    self._activate(generation)
                    raise GenerationChanged()
                behind = time.monotonic() - last_progress
                if head <= position:
                    # Caught up: the stall clock starts when the log moves ahead, not at the
                    # last batch (else the first event after a quiet spell restarted the feed).
                    last_progress = time.monotonic()
                    nudged = False
                elif behind > self.nudge_seconds and not nudged:
                    feed.nudge()  # a notification that never came (projections/feeds.py)
                    nudged = True
                elif behind > self.stall_seconds:
                    log.warning("subscription stalled at %s (head %s); restarting it",
                                position, head)
                    self._note_restart("stalled subscription")
                    feed.close()
                    feed = self._feed(position)
                    last_progress = time.monotonic()
                    nudged = False
                if not self.lock.alive():
                    raise RuntimeError("the runner lock's session was lost")
        finally:
            feed.close()

    def process(self, board: Scoreboard, generation: int, batch: Any) -> int:
        """Fold one batch and commit it with its tracking position."""
        for notification in batch:
            board.apply(self.app.mapper.to_domain_event(notification), notification.id)
        changed, audit, times = board.take_changes()
        position = batch[-1].id
        with self.views.transaction() as cur:
            self.views.write(cur, generation, board.rows(changed), audit, times, position)
        self.status.position = position
        self.status.batches += 1
        self.status.events += len(batch)
        return position

    def _activate(self, generation: int) -> None:
        """Make a caught-up rebuilt generation the one readers use; drop older ones."""
        with self.views.transaction() as cur:
            self.views.set_meta(cur, "active_generation", str(generation))
            # Only this generation's pending mark: a rebuild started meanwhile stays pending
            # (clearing it orphaned the newer generation's tables, never to be activated).
            cur.execute("DELETE FROM pv_meta WHERE key = %s AND value = %s",
                        ("pending_generation", str(generation)))
        for older in self.views.known_generations():
            if older < generation:
                self.views.drop_generation(older)
        log.info("views switched to generation %s", generation)
