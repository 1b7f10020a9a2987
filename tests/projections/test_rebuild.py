"""A view is a pure function of the log: folding it incrementally — in batches of any size, with
events arriving while the runner tails — gives exactly the rows a rebuild from position 0 gives,
and a blue/green rebuild beside a live runner switches readers only once it has caught up."""

from __future__ import annotations

import itertools
import threading

from domain.cycle.phases import Phase
from domain.demo import load_demo
from projections.queries import ReadModel
from projections.runner import rebuild
from projections.store import ViewStore
from tests.builders import APPRAISER, SECRETARIAT, adjust, cycle_with_units
from tests.projections.helpers import (
    Recorder,
    assert_same_views,
    count_rows,
    head_of,
    live_runner,
    play,
    run_to_head,
    snapshot,
    view_position,
    view_tables,
    wait_caught_up,
    wait_until,
    walk,
)


def test_the_demo_folded_in_batches_of_7_equals_one_rebuild(app, views):
    load_demo(app)
    head_position = head_of(app)
    runner = run_to_head(app, views, batch_size=7)
    assert runner.status.generation == 1
    assert runner.status.events == head_position
    assert runner.status.batches >= head_position // 7
    incremental = snapshot(views, 1)
    assert incremental["tracking"] == [("scoreboard", head_position)]
    assert len(incremental["event_times"]) == head_position
    assert len(incremental["audit"]) > 1000
    assert len(incremental["scorecards"]) > 50

    report = rebuild(app, views)
    assert (report.generation, report.events, report.activated) == (2, head_position, True)
    assert views.active_generation() == 2
    assert_same_views(snapshot(views, 2), incremental)


def test_a_runner_tailing_a_live_scenario_equals_rebuilds_of_any_chunking(app, views):
    scenario = cycle_with_units(app, units=("STC", "SNV", "STP", "SYT"))
    with live_runner(app, views, batch_size=3):
        for _moment, position in walk(scenario):
            wait_until(lambda p=position: view_position(views) >= p,
                       what=f"position {position}")
    tailed = snapshot(views, 1)
    assert tailed["tracking"] == [("scoreboard", head_of(app))]

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
            appraise(6)
            report = rebuild(app, views)
            assert (report.generation, report.activated) == (2, False), \
                "a live runner holds the lock: it switches, not rebuild()"
            rebuilt_to = views.position(2)
            appraise(12)  # while generation 2 is pending
            pending_head = wait_caught_up(app, views)  # ... generation 1 still serves them
            assert views.position(2) == rebuilt_to < pending_head
            assert (views.active_generation(), views.meta("pending_generation")) == (1, "2")
            held.release()
            appraise(12)  # while the runner catches generation 2 up
            wait_until(lambda: views.active_generation() == 2, what="generation 2 active")
            final_head = wait_caught_up(app, views)
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
    assert generation == 2 and position == head_then and position >= pending_head
    assert views.known_generations() == [2]
    assert not any(name.endswith("_g1") for name in view_tables(views))

    green = snapshot(views, 2)
    assert green["tracking"] == [("scoreboard", final_head)]
    assert count_rows(views, "event_times", 2) == final_head
    fresh = rebuild(app, views)
    assert fresh.activated and fresh.generation == 3
    assert_same_views(snapshot(views, 3), green)


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
