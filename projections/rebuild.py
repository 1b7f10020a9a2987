"""Rebuild: replay the whole log from position 0 into a new generation beside the live one.

Readers keep the old generation until the new one has caught up (blue/green); nothing but view
tables is written. The log up to the head at the start is folded first, then the events written
meanwhile are caught up as the runner does, then readers switch.

On PostgreSQL the fold is split between worker processes (one per usable CPU, at most
`MAX_WORKERS`): each owns the aggregates whose id hashes into its partition, reads only their
events (the database filters) and writes their rows, audit rows and event times. Every event of
an aggregate goes to one worker, in log order, so each aggregate is folded exactly as a single
pass would fold it; frameworks owned by another worker are loaded from the store (published
frameworks never change). SQLite has one writer, so there the fold runs in this process.

The new generation's secondary indexes are built after its rows are loaded: once over a million
rows, instead of five indexes kept up to date row by row.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from domain.application import ParIndex
from domain.store.config import StoreSettings
from projections.feeds import WHOLE_LOG, Partition, stored_pages
from projections.runner import ViewRunner
from projections.scoreboard import Scoreboard
from projections.store import ViewStore

MAX_WORKERS = 4


@dataclass(frozen=True)
class RebuildReport:
    generation: int
    events: int
    seconds: float
    activated: bool
    workers: int


@dataclass(frozen=True)
class FoldPlan:
    """What each worker folds: the log up to `stop` into `generation`."""

    generation: int
    stop: int
    chunk: int
    flush_every: int


def default_workers(views: ViewStore) -> int:
    if views.kind != "postgresql":
        return 1
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def rebuild(app: ParIndex, views: ViewStore, *, chunk: int = 10_000,
            flush_every: int = 250_000, workers: int | None = None) -> RebuildReport:
    """Replay the log into a new generation. If no runner is live, this call switches readers
    to it itself; else it leaves the generation pending and the live runner catches it up and
    switches."""
    started = time.perf_counter()
    workers = default_workers(views) if workers is None else workers
    if workers < 1 or (workers > 1 and views.kind != "postgresql"):
        raise ValueError(f"{workers} rebuild workers on {views.kind}: SQLite folds in one "
                         "process, PostgreSQL in one or more")
    generation = max([*views.known_generations(), views.active_generation() or 0]) + 1
    views.create_generation(generation, indexes=False)
    # Positions follow commit order (the library's table lock), so nothing committed later
    # can land at or below the head read now.
    plan = FoldPlan(generation, app.recorder.max_notification_id() or 0, chunk, flush_every)
    try:
        if workers == 1:
            events = fold_partition(app, views, plan, WHOLE_LOG)
        else:
            events = _fold_in_workers(app.settings, plan, workers)
        views.create_indexes(generation)
    except BaseException:
        views.drop_generation(generation)  # never pending, so no reader or runner knows it
        raise
    runner = ViewRunner(app, views)
    activated = runner.lock.try_acquire()
    try:
        with views.transaction() as cur:
            if plan.stop:
                views.write(cur, generation, {}, (), (), plan.stop)
            views.set_meta(cur, "pending_generation", str(generation))
        if activated:
            # No live runner: catch up the events written meanwhile and switch here.
            board = Scoreboard.loading_from(app)
            position = plan.stop
            while batch := app.recorder.select_notifications(start=position, limit=chunk,
                                                             inclusive_of_start=False):
                position = runner.process(board, generation, batch)
                events += len(batch)
            runner._activate(generation)
    finally:
        runner.lock.release()
    return RebuildReport(generation=generation, events=events,
                         seconds=time.perf_counter() - started, activated=activated,
                         workers=workers)


def fold_partition(app: ParIndex, views: ViewStore, plan: FoldPlan, partition: Partition, *,
                   abandoned: Callable[[], bool] = lambda: False) -> int:
    """Fold one partition's events up to `plan.stop` and write what they derive; returns how
    many events it folded. Rows are derived once, at the end (nobody reads the generation
    before it is complete); the flushes on the way only append audit rows and event times, so
    memory stays bounded. `abandoned` is asked before every page and before the final write:
    when it says yes the fold stops (`RebuildFailed`)."""
    board = Scoreboard.loading_from(app)
    to_domain_event = app.mapper.to_domain_event
    unwritten: set[UUID] = set()
    events = unflushed = 0
    with cyclic_collector_paused():
        for page in stored_pages(app, views, 0, plan.stop, plan.chunk, partition):
            _stop_if(abandoned)
            for stored in page:
                board.apply(to_domain_event(stored), stored.id)  # type: ignore[arg-type]
            events += len(page)
            unflushed += len(page)
            if unflushed >= plan.flush_every:
                _flush(views, plan.generation, board, unwritten, rows=False)
                unflushed = 0
    _stop_if(abandoned)
    _flush(views, plan.generation, board, unwritten, rows=True)
    return events


def _stop_if(abandoned: Callable[[], bool]) -> None:
    if abandoned():
        raise RebuildFailed("the rebuild that started this worker is gone (its process ended); "
                            "the worker stops, and the next rebuild's switch drops what it wrote")


@contextmanager
def cyclic_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a fold runs.

    A fold keeps millions of objects alive until it ends (every aggregate's items, the audit
    rows of a flush), and the collector's periodic passes walk them again and again: measured
    on the national benchmark's log, half of a rebuild worker's time. Reading, decoding and
    folding make no reference cycles (tests/projections/test_rebuild.py checks), so reference
    counting alone frees their garbage and nothing accumulates while the collector rests."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RebuildFailed(Exception):
    """A worker process failed; `rebuild` drops the generation it was filling."""


def _fold_in_workers(settings: StoreSettings, plan: FoldPlan, workers: int) -> int:
    """Run `python -m projections.rebuild` once per partition (a fresh interpreter: nothing of
    this process, its threads or its `__main__` is inherited) and add up the events they
    folded. The settings travel on stdin, never on a command line others can read. When one
    worker fails the others are stopped, and the first failure is raised."""
    processes = [subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(workers)]
    stopped: set[int] = set()  # the workers stopped because another one failed

    def finish(index: int) -> tuple[int, str | None]:
        process = processes[index]
        out, err = process.communicate(pickle.dumps((settings, plan, Partition(index, workers),
                                                     os.getpid())))
        if process.returncode == 0:
            return int(out), None
        for other, each in enumerate(processes):
            if other != index and each.poll() is None:
                stopped.add(other)
                each.terminate()
        return 0, (err.decode("utf-8", "replace").strip()[-2000:]
                   or f"exit status {process.returncode}")

    try:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(finish, range(workers)))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    failures = [error for index, (_, error) in enumerate(outcomes)
                if error and index not in stopped] or [error for _, error in outcomes if error]
    if failures:
        raise RebuildFailed(f"a rebuild worker failed: {failures[0]}")
    return sum(events for events, _ in outcomes)


def _worker_main() -> int:
    # A worker whose rebuild process died (killed, crashed) is re-parented: it stops at its
    # next page instead of writing into a generation nobody will activate.
    settings, plan, partition, parent = pickle.loads(sys.stdin.buffer.read())
    app = ParIndex(settings)
    views = ViewStore(settings)
    try:
        print(fold_partition(app, views, plan, partition,
                             abandoned=lambda: os.getppid() != parent))
        return 0
    finally:
        views.close()
        app.close()


def _flush(views: ViewStore, generation: int, board: Scoreboard, unwritten: set[UUID], *,
           rows: bool) -> None:
    changed, audit, times = board.take_changes()
    unwritten |= changed
    derived = board.rows(unwritten) if rows else {}
    with views.transaction() as cur:
        views.write(cur, generation, derived, audit, times, None)
    if rows:
        unwritten.clear()


if __name__ == "__main__":
    sys.exit(_worker_main())
