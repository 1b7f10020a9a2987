"""A view is a pure function of the log: folding it incrementally — in batches of any size, with
events arriving while the runner tails — gives exactly the rows a rebuild from position 0 gives,
and a blue/green rebuild beside a live runner switches readers only once it has caught up."""

from __future__ import annotations

import gc
import itertools
import pickle
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.cli import main
from domain.cycle.phases import Phase
from domain.demo import load_demo
from projections import rebuild as rebuild_module
from projections.feeds import Partition, stored_pages
from projections.queries import ReadModel
from projections.rebuild import FoldPlan, RebuildFailed, default_workers, rebuild
from projections.rows import LiveRows
from projections.store import ViewStore
from tests.builders import APPRAISER, SECRETARIAT, adjust, cycle_with_units
from tests.projections.helpers import (
    Recorder,
    assert_same_views,
    count_rows,
    head_of,
    live_runner,
    open_store,
    play,
    run_to_head,
    snapshot,
    view_position,
    view_tables,
    wait_caught_up,
    wait_until,
    walk,
)


def test_the_demo_folded_by_a_runner_equals_a_rebuild(app, views):
    load_demo(app)
    head_position = head_of(app)
    runner = run_to_head(app, views, batch_size=500)
    assert runner.status.generation == 1
    assert runner.status.events == head_position
    incremental = snapshot(views, 1)
    assert incremental["tracking"] == [("scoreboard", head_position)]
    assert len(incremental["event_times"]) == head_position
    assert len(incremental["audit"]) > 1000
    assert len(incremental["scorecards"]) > 50

    report = rebuild(app, views)
    assert (report.generation, report.events, report.activated) == (2, head_position, True)
    assert views.active_generation() == 2
    assert_same_views(snapshot(views, 2), incremental)


def test_a_runner_in_batches_of_7_tailing_a_live_scenario_equals_rebuilds(app, views):
    """Batches of 7 while the walk writes (the runner also catches up mid-walk, after each
    stage), then rebuilds with one big read, and with tiny reads and frequent flushes."""
    previous = cycle_with_units(app, units=("STC", "SNV", "STP", "SYT"), year=2024)
    previous.publish()
    scenario = cycle_with_units(app, units=("STC", "SNV", "STP", "SYT"))
    with live_runner(app, views, batch_size=7) as runner:
        for _moment, position in walk(scenario):
            wait_until(lambda p=position: view_position(views) >= p,
                       what=f"position {position}")
    tailed = snapshot(views, 1)
    assert tailed["tracking"] == [("scoreboard", head_of(app))]
    assert runner.status.events == head_of(app) > 150
    assert runner.status.batches >= head_of(app) // 7

    big = rebuild(app, views)
    assert big.activated and views.active_generation() == 2
    assert_same_views(snapshot(views, 2), tailed)
    # Small read chunks and frequent flushes: rows written several times over.
    small = rebuild(app, views, chunk=5, flush_every=11)
    assert small.generation == 3 and views.active_generation() == 3
    assert_same_views(snapshot(views, 3), tailed)
    assert view_tables(views) == {"pv_meta", *(f"pv_{t}_g3" for t in (
        "tracking", "frameworks", "cycles", "scorecards", "audit", "event_times"))}


class HoldPending:
    """The runner's view of the store, blind to a pending generation until `release()`: the test
    can then write events that certainly arrive while the new generation is pending."""

    def __init__(self, views: ViewStore):
        self._views = views
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def meta(self, key: str) -> str | None:
        if key == "pending_generation" and not self._released.is_set():
            return None
        return self._views.meta(key)

    def __getattr__(self, name: str):
        return getattr(self._views, name)


def test_blue_green_rebuild_beside_a_live_runner(app, views):
    """Readers keep generation 1 while generation 2 is rebuilt and caught up — appraisals arrive
    all the while — then switch in one step; generation 1 is dropped; generation 2 equals a
    fresh rebuild."""
    scenario = cycle_with_units(app, units=("STC", "SNV", "STP", "SYT", "SCT", "SXD"))
    read_model = ReadModel(app, views)
    for unit in scenario.units:
        scenario.submit_full_marks(unit)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1)
    appraisals = iter([(unit, code, points) for code, points in (
        ("1.1.1", "0.5"), ("1.2", "1"), ("2.2", "1"), ("2.3", "1"), ("1.3", "1"))
        for unit in scenario.units])

    def appraise(count: int) -> None:
        for unit, code, points in itertools.islice(appraisals, count):
            app.appraise(APPRAISER, scenario.scorecards[unit], 1, [adjust(code, points)])

    def observe() -> tuple[int | None, str | None, int]:
        active = views.active_generation()
        pending = views.meta("pending_generation")
        ranking = read_model.ranking(scenario.cycle_id, "SO")
        return active, pending, len(ranking["rows"])

    held = HoldPending(views)
    with live_runner(app, held, batch_size=5) as runner:  # type: ignore[arg-type]
        activations: list[tuple[int, int, int]] = []
        original_activate = runner._activate

        def activate(generation: int) -> None:
            activations.append((generation, views.position(generation), head_of(app)))
            original_activate(generation)

        runner._activate = activate  # type: ignore[method-assign]
        wait_caught_up(app, views)
        with Recorder(observe) as observed:
            wait_until(lambda: observed.samples, what="a first reading")
            appraise(6)
            report = rebuild(app, views)
            assert (report.generation, report.activated) == (2, False), \
                "a live runner holds the lock: it switches, not rebuild()"
            rebuilt_to = views.position(2)
            appraise(12)  # while generation 2 is pending
            pending_head = head_of(app)  # ... generation 1 still serves them
            wait_until(lambda: views.position(1) >= pending_head, what="generation 1 tailed")
            assert views.position(2) == rebuilt_to < pending_head
            assert (views.active_generation(), views.meta("pending_generation")) == (1, "2")
            held.release()
            appraise(12)  # while the runner catches generation 2 up
            wait_until(lambda: views.active_generation() == 2, what="generation 2 active")
            final_head = wait_caught_up(app, views)
            wait_until(lambda: observed.samples and observed.samples[-1][0] == 2,
                       what="a reader to see generation 2")
        assert not observed.errors, observed.errors
        assert runner.status.last_error is None, runner.status.last_error

    # Readers saw generation 1 (never nothing, never a half-built one), then 2, never back.
    actives = [active for active, _, _ in observed.samples]
    assert actives[0] == 1 and actives[-1] == 2
    switch = actives.index(2)
    assert set(actives[:switch]) == {1} and set(actives[switch:]) == {2}
    assert all(pending is None for _, pending, _ in observed.samples[switch:])
    assert all(rows == 6 for _, _, rows in observed.samples)
    # Activated once, only after catching up everything written while pending.
    [(generation, position, head_then)] = activations
    assert generation == 2 and pending_head <= position <= head_then
    assert views.known_generations() == [2]
    assert not any(name.endswith("_g1") for name in view_tables(views))

    green = snapshot(views, 2)
    assert green["tracking"] == [("scoreboard", final_head)]
    assert count_rows(views, "event_times", 2) == final_head
    fresh = rebuild(app, views)
    assert fresh.activated and fresh.generation == 3
    assert_same_views(snapshot(views, 3), green)


def test_a_rebuild_started_while_another_is_pending_is_the_one_that_wins(app, views):
    """Rebuild #2 starts while the runner is still catching up rebuild #1's generation: the
    newer generation must not be forgotten (left pending forever, its tables orphaned)."""
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    with live_runner(app, views) as runner:
        wait_caught_up(app, views)
        inside, release = threading.Event(), threading.Event()
        process = runner.process

        def gated(board, generation, batch):
            if generation == 2:
                inside.set()
                assert release.wait(20)
            return process(board, generation, batch)

        runner.process = gated  # type: ignore[method-assign]
        assert rebuild(app, views).generation == 2
        app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("1.2", "1")])
        assert inside.wait(20), "the runner should be catching generation 2 up"
        second = rebuild(app, views)
        assert (second.generation, second.activated) == (3, False)
        release.set()
        app.appraise(APPRAISER, scenario.scorecards["SNV"], 1, [adjust("1.2", "0.5")])
        wait_until(lambda: views.active_generation() == 3, what="generation 3 active")
        wait_caught_up(app, views)
        wait_until(lambda: views.known_generations() == [3], what="older generations dropped")
        assert runner.status.last_error is None
    expected = snapshot(views, 3)
    rebuild(app, views)
    assert_same_views(snapshot(views, 4), expected)


def test_a_read_in_flight_across_the_switch_finishes_on_the_new_generation(app, views,
                                                                           read_model):
    """A request that resolved generation 1 just before the switch (which drops generation 1)
    reads on from generation 2 instead of failing on a missing table."""
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    run_to_head(app, views)
    live = LiveRows(views, read_model.generation())
    assert live.cycle_row(scenario.cycle_id)["phase"] == Phase.APPRAISAL_1.value
    expected = read_model.audit(limit=500)
    assert rebuild(app, views).activated and views.known_generations() == [2]
    assert len(live.scorecard_rows(scenario.cycle_id)) == 2 and live.generation == 2

    stale = iter([1])  # the next lookup of the active generation returns the old one
    resolve = views.active_generation
    read_model.views.active_generation = lambda: next(stale, None) or resolve()
    assert read_model.audit(limit=500) == expected
    stale = iter([1])
    assert read_model.position() == head_of(app)
    stale = iter([1])
    assert read_model.ranking(scenario.cycle_id, "SO")["rows"]


def test_play_covers_every_audited_kind(app, views):
    """The scenario the other tests use writes every kind the audit trail knows."""
    play(cycle_with_units(app, units=("STC", "SNV", "STP")))
    run_to_head(app, views)
    with views.reading() as cur:
        cur.execute("SELECT DISTINCT kind FROM pv_audit_g1")
        kinds = {row[0] for row in cur.fetchall()}
    assert kinds == {"self_score", "appraisal_round_1", "appraisal_round_2", "survey",
                     "correction", "explanation", "evidence_attached", "evidence_withdrawn",
                     "bonus", "penalty", "bonus_penalty_withdrawn"}


def test_folding_leaves_no_cyclic_garbage(app, views, monkeypatch):
    """A rebuild pauses the cyclic collector while it folds (`cyclic_collector_paused`): safe
    only while reading, decoding and folding every kind of event leave no reference cycles
    behind, which reference counting could not free."""
    play(cycle_with_units(app, units=("STC", "SNV", "STP")))
    paused = rebuild_module.cyclic_collector_paused
    cyclic_garbage: list[str] = []

    @contextmanager
    def paused_and_checked():
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage
        try:
            with paused():
                yield
            gc.collect()
            cyclic_garbage.extend(type(each).__qualname__ for each in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()

    monkeypatch.setattr(rebuild_module, "cyclic_collector_paused", paused_and_checked)
    # Small pages and flushes: the appends made on the way run while the collector rests too.
    assert rebuild(app, views, workers=1, chunk=40, flush_every=100).events == head_of(app)
    assert cyclic_garbage == []


# -- worker processes (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_worker_processes_fold_what_one_process_folds(postgres_schema_url, clock):
    """Partitions are disjoint and cover the log; three workers (each a `python -m
    projections.rebuild` process owning a third of the aggregates) and one process build the
    same rows as the incremental runner."""
    with open_store(postgres_schema_url, clock) as (app, views):
        _workers_fold_what_one_process_folds(app, views)


def _workers_fold_what_one_process_folds(app, views):
    play(cycle_with_units(app, units=("STC", "SNV", "STP", "SYT", "SXD", "SCT")))
    run_to_head(app, views)
    incremental = snapshot(views, 1)
    head_position = head_of(app)
    for count in (1, 2, 3):
        shares = [[row.id for page in stored_pages(app, views, 0, head_position, 50,
                                                   Partition(index, count)) for row in page]
                  for index in range(count)]
        assert sorted(itertools.chain(*shares)) == list(range(1, head_position + 1))
        assert all(share == sorted(share) for share in shares)
        # Ids are derived, so the split is fixed: this log gives every worker count > 1
        # at least two workers with events (an empty partition is folded as well).
        assert sum(1 for share in shares if share) >= min(count, 2), [len(s) for s in shares]
    for generation, workers in ((2, 3), (3, 1)):
        report = rebuild(app, views, workers=workers, chunk=40, flush_every=300)
        assert (report.generation, report.workers, report.events) == (generation, workers,
                                                                       head_position)
        assert_same_views(snapshot(views, generation), incremental)


@pytest.mark.postgres
def test_postgres_a_failing_worker_stops_the_rebuild_readers_keep_their_generation(
        postgres_schema_url, clock):
    """An event no worker can decode (written around the recorder): the rebuild raises with
    the worker's error, the other worker is stopped, nothing becomes pending or active and the
    unfinished generation's tables are dropped."""
    with open_store(postgres_schema_url, clock) as (app, views):
        _a_failing_worker_stops_the_rebuild(app, views)


def _a_failing_worker_stops_the_rebuild(app, views):
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    run_to_head(app, views)
    before = snapshot(views, 1)
    with views.transaction() as cur:
        cur.execute(f"INSERT INTO {app.recorder.events_table_name} (originator_id, "
                    "originator_version, topic, state) VALUES (gen_random_uuid(), 1, "
                    "'domain.scorecard.model:Scorecard.Opened', 'not json')")
    with pytest.raises(RebuildFailed, match="Failed to deserialise"):
        rebuild(app, views, workers=2)
    assert (views.active_generation(), views.meta("pending_generation")) == (1, None)
    assert views.known_generations() == [1], "the unfinished generation is dropped"
    assert_same_views(snapshot(views, 1), before)


@pytest.mark.postgres
def test_postgres_a_worker_whose_rebuild_died_stops_without_writing(postgres_schema_url, clock,
                                                                     tmp_path):
    """A rebuild process that dies while its workers fold (SIGKILL: no cleanup of its own)
    leaves no worker writing on: each notices it has been re-parented before its next page
    and exits with an error, having written nothing."""
    with open_store(postgres_schema_url, clock) as (app, views):
        _an_orphaned_worker_stops(app, views, tmp_path)


def _an_orphaned_worker_stops(app, views, tmp_path: Path):
    play(cycle_with_units(app, units=("STC", "SNV")))
    run_to_head(app, views)
    generation = 2
    views.create_generation(generation, indexes=False)
    errors = tmp_path / "worker.err"
    # The worker's rebuild: it starts the worker as `_fold_in_workers` does, hands it its plan
    # and exits at once (os._exit: nothing of its own cleans up), as if killed mid-rebuild.
    launcher = subprocess.Popen(
        [sys.executable, "-c", (
            "import os, subprocess, sys\n"
            "payload = sys.stdin.buffer.read()\n"
            "with open(sys.argv[1], 'wb') as errors:\n"
            "    worker = subprocess.Popen([sys.executable, '-m', 'projections.rebuild'],\n"
            "        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)\n"
            "print(worker.pid, flush=True)\n"
            "worker.stdin.write(payload)\n"
            "worker.stdin.close()\n"
            "os._exit(0)\n"), str(errors)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    plan = FoldPlan(generation, head_of(app), chunk=10, flush_every=10**9)
    payload = pickle.dumps((app.settings, plan, Partition(0, 1), launcher.pid))
    out, _ = launcher.communicate(payload, timeout=60)
    worker = int(out)

    def worker_ended() -> bool:
        try:
            state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state in ("Z", "X")  # a zombie: ended, not (yet) reaped by its new parent

    wait_until(worker_ended, timeout=60, what="the orphaned worker to stop")
    assert "the rebuild that started this worker is gone" in errors.read_text()
    assert views.active_generation() == 1
    assert [count_rows(views, table, generation) for table in
            ("frameworks", "cycles", "scorecards", "audit", "event_times")] == [0] * 5


def test_sqlite_folds_in_one_process(app, views):
    if views.kind == "sqlite":
        with pytest.raises(ValueError, match="SQLite folds in one process"):
            rebuild(app, views, workers=2)
    assert rebuild(app, views).workers == (1 if views.kind == "sqlite" else default_workers(
        views))


def test_the_rebuild_command(app, views, monkeypatch, capsys):
    """`parindex rebuild [--workers N]`: the report line, and an impossible worker count
    refused before anything is written."""
    monkeypatch.setenv("PARINDEX_DATABASE_URL", app.settings.url)
    cycle_with_units(app, units=("STC", "SNV")).to_appraisal_1()
    workers = 2 if views.kind == "postgresql" else 1
    assert main(["rebuild", "--workers", str(workers)]) == 0
    out = capsys.readouterr().out
    assert f"generation 1 from {head_of(app)} events" in out
    assert f"{workers} worker process(es)); now active" in out
    assert main(["rebuild", "--workers", "0" if workers == 2 else "2"]) == 2
    assert "SQLite folds in one process" in capsys.readouterr().err
    assert views.known_generations() == [1]
