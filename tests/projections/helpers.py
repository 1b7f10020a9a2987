"""Helpers for the projection tests: a live runner thread, waiting, view snapshots, a scenario
walk that writes every kind of event an auditor follows, and PostgreSQL/subprocess plumbing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from domain.application import ParIndex
from domain.cycle.phases import Phase
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision
from domain.store.blobs import StoredBlob
from domain.store.config import StoreSettings, settings_from_url
from projections.rows import BOOLEAN_COLUMNS, columns
from projections.runner import ViewRunner
from projections.store import ViewStore
from tests.builders import (
    APPRAISER,
    COUNCIL,
    SECRETARIAT,
    Scenario,
    adjust,
    full_marks,
    head,
    new_import_id,
    officer,
)

T = TypeVar("T")
VIEW_TABLES = ("frameworks", "cycles", "scorecards", "audit", "event_times")
ROOT = Path(__file__).resolve().parents[2]


# -- waiting ----------------------------------------------------------------------------------

def wait_until(check: Callable[[], T], timeout: float = 20.0, what: str = "a condition",
               interval: float = 0.01) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def head_of(app: ParIndex) -> int:
    return app.recorder.max_notification_id() or 0


def view_position(views: ViewStore) -> int:
    """The tracking position of the generation readers use (0 before the first one exists)."""
    generation = views.active_generation()
    return 0 if generation is None else views.position(generation)


def wait_caught_up(app: ParIndex, views: ViewStore, timeout: float = 30.0) -> int:
    """Wait until the active generation's tracking position equals the log's head."""
    target = head_of(app)
    wait_until(lambda: views.meta("pending_generation") is None
               and view_position(views) >= target, timeout,
               f"the views to reach position {target} (at {view_position(views)})")
    return target


@contextmanager
def open_store(url: str, clock: Callable[[], Any] | None = None
               ) -> Iterator[tuple[ParIndex, ViewStore]]:
    """An application and its view store on `url`, closed after the block (for tests that run
    on one store only and so cannot use the parametrised `app` fixture)."""
    app = ParIndex(settings_from_url(url), clock=clock)
    views = ViewStore(app.settings)
    try:
        yield app, views
    finally:
        views.close()
        app.close()


# -- runners ----------------------------------------------------------------------------------

@contextmanager
def live_runner(app: ParIndex, views: ViewStore, **options: Any) -> Iterator[ViewRunner]:
    """A ViewRunner on a thread for the duration of the block; stopped and joined after."""
    runner = ViewRunner(app, views, **{"idle_seconds": 0.05, **options})
    thread, stop = runner.start_thread()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the runner thread did not stop"


@contextmanager
def live_runner_later(app: ParIndex, views: ViewStore, delay: float) -> Iterator[None]:
    """A runner thread that starts `delay` seconds into the block (a reader waits meanwhile)."""
    stop = threading.Event()
    runner = ViewRunner(app, views, idle_seconds=0.05)
    thread = threading.Thread(target=lambda: stop.wait(delay) or runner.run(stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the runner thread did not stop"


def run_to_head(app: ParIndex, views: ViewStore, **options: Any) -> ViewRunner:
    """Run a runner thread until the views reach the head, then stop it."""
    with live_runner(app, views, **options) as runner:
        wait_caught_up(app, views)
    assert runner.status.last_error is None, runner.status.last_error
    return runner


# -- snapshots --------------------------------------------------------------------------------

def _normal(names: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(bool(value) if name in BOOLEAN_COLUMNS and value is not None else value
                 for name, value in zip(names, row, strict=True))


def snapshot(views: ViewStore, generation: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table of a generation, as normalised tuples in key order; the
    tracking position under "tracking"."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with views.reading() as cur:
        for table in VIEW_TABLES:
            names = columns(table)
            cur.execute(f"SELECT {', '.join(names)} FROM pv_{table}_g{generation} ORDER BY 1")
            tables[table] = [_normal(names, tuple(row)) for row in cur.fetchall()]
        cur.execute(f"SELECT view_name, position FROM pv_tracking_g{generation}")
        tables["tracking"] = [tuple(row) for row in cur.fetchall()]
    return tables


def assert_same_views(actual: dict[str, list[tuple[Any, ...]]],
                      expected: dict[str, list[tuple[Any, ...]]]) -> None:
    """Table by table, with the first differing row in the message."""
    assert actual.keys() == expected.keys()
    for table in expected:
        got, want = actual[table], expected[table]
        if got != want:
            diff = next(((a, b) for a, b in zip(got, want, strict=False) if a != b), None)
            raise AssertionError(f"table {table}: {len(got)} rows vs {len(want)} expected; "
                                 f"first difference:\n  got  {diff and diff[0]}\n"
                                 f"  want {diff and diff[1]}")


def view_tables(views: ViewStore) -> set[str]:
    """Names of every pv_* table in the store."""
    with views.reading() as cur:
        if views.kind == "postgresql":
            cur.execute("SELECT table_name FROM information_schema.tables WHERE "
                        "table_schema = %s AND table_name LIKE 'pv%%'", (views.schema,))
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                        "name LIKE 'pv%'")
        return {row[0] for row in cur.fetchall()}


def count_rows(views: ViewStore, table: str, generation: int) -> int:
    with views.reading() as cur:
        cur.execute(f"SELECT count(*) FROM pv_{table}_g{generation}")
        return int(cur.fetchone()[0])


def all_events(app: ParIndex) -> list[tuple[int, Any]]:
    """(position, domain event) of every stored event, in log order."""
    out: list[tuple[int, Any]] = []
    after = 0
    while batch := app.recorder.select_notifications(start=after, limit=5000,
                                                     inclusive_of_start=False):
        out.extend((n.id, app.mapper.to_domain_event(n)) for n in batch)
        after = batch[-1].id
    return out


# -- a scenario that writes every audited kind of event ---------------------------------------

EXPLAINED_TEXT = "Đơn vị đã bổ sung quyết định ban hành kèm theo"
CORRECTION_REF = "QĐ 141/QĐ-UBND"
EVIDENCE = StoredBlob(sha256="ab" * 32, size=2048)
EVIDENCE_2 = StoredBlob(sha256="cd" * 32, size=1024)


def walk(s: Scenario) -> Iterator[tuple[str, int]]:
    """Drive a cycle opened by `cycle_with_units` (units STC, SNV and more) to publication and a
    correction, with survey imports, self-scores (one item dropped as not applicable), evidence
    attached and withdrawn, two appraisal rounds with adjustments, an explanation, bonus,
    penalty and a withdrawal. Yields (moment, position of the last command) after each stage;
    the caller may act or read in between."""
    app = s.app
    first, second, *others = s.units
    card = s.scorecards
    app.apply_survey_points(SECRETARIAT, s.cycle_id, new_import_id(), [
        {"unit_code": unit, "item_code": code, "points": points}
        for unit, code, points in ((first, "8.1", "3"), (first, "8.2", "2.5"),
                                   (second, "8.1", "2"))])
    app.apply_survey_points(SECRETARIAT, s.cycle_id, new_import_id(), [
        {"unit_code": second, "item_code": "8.2", "points": "2.75"},
        *({"unit_code": unit, "item_code": "8.1", "points": "1.5"} for unit in others)])
    app.record_self_scores(officer(first), card[first], full_marks())
    app.attach_evidence(officer(first), card[first], "1.1.1", EVIDENCE, "ke-hoach.pdf",
                        "application/pdf")
    app.attach_evidence(officer(first), card[first], "1.1.1", EVIDENCE_2, "nham.pdf",
                        "application/pdf")
    app.withdraw_evidence(officer(first), card[first], "1.1.1", EVIDENCE_2.sha256,
                          "Tải nhầm tệp")
    app.submit_self_assessment(head(first), card[first])
    app.record_self_scores(officer(second), card[second], [
        *(e for e in full_marks() if e.item_code not in ("2.1", "2.4")),
        SelfScoreEntry("2.1", not_applicable=True, note="Không được giao soạn thảo"),
        SelfScoreEntry("2.4", points="0.5")])
    app.submit_self_assessment(head(second), card[second])
    for unit in others:
        app.record_self_scores(officer(unit), card[unit], full_marks())
        app.submit_self_assessment(head(unit), card[unit])
    last = app.advance_phase(SECRETARIAT, s.cycle_id, Phase.APPRAISAL_1).position
    yield "submitted", last

    app.appraise(APPRAISER, card[first], 1, [
        adjust("2.4", "0", request_explanation=True),
        adjust("1.2", "1", "Chậm 1 báo cáo quý")])
    app.appraise(APPRAISER, card[second], 1, [
        AppraisalEntry("1.3", Decision.ACCEPTED, request_explanation=True)])
    app.award_bonus(APPRAISER, card[first], "b1", "1.5", "Sáng kiến cấp tỉnh")
    app.impose_penalty(APPRAISER, card[second], "p1", "0.75", "Trễ báo cáo quý II")
    for unit in s.units:
        app.accept_remaining(APPRAISER, card[unit], 1)
    last = app.advance_phase(SECRETARIAT, s.cycle_id, Phase.EXPLANATION).position
    yield "round_1", last

    app.explain(officer(first), card[first], "2.4", EXPLAINED_TEXT)
    app.explain(head(second), card[second], "1.3", "Đã kiểm tra 3/10 đơn vị trực thuộc")
    app.clock.now = s.deadline(Phase.EXPLANATION) + timedelta(minutes=1)
    app.advance_phase(SECRETARIAT, s.cycle_id, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, card[first], 2, [adjust("2.4", "0.5", "Giải trình hợp lý một phần")])
    for unit in s.units:
        app.accept_remaining(APPRAISER, card[unit], 2)
    app.advance_phase(SECRETARIAT, s.cycle_id, Phase.COUNCIL)
    app.award_bonus(COUNCIL, card[second], "b2", "1", "Giải thưởng CCHC")
    last = app.withdraw_bonus_or_penalty(SECRETARIAT, card[second], "p1",
                                         "Đã khắc phục").position
    yield "council", last

    app.approve_results(COUNCIL, s.cycle_id, "Biên bản họp Hội đồng số 02/BB-HĐ")
    last = app.publish_results(SECRETARIAT, s.cycle_id, "QĐ 140/QĐ-UBND",
                               date(2026, 2, 14)).position
    yield "published", last

    last = app.correct_points(SECRETARIAT, card[first], "1.2", "1.5",
                              "Báo cáo quý đã nộp đúng hạn qua hệ thống", CORRECTION_REF).position
    yield "corrected", last


def play(s: Scenario) -> int:
    """Run the whole walk; the head position."""
    for _ in walk(s):
        pass
    return head_of(s.app)


# -- PostgreSQL and subprocess plumbing --------------------------------------------------------

def pg_connect(settings: StoreSettings):
    import psycopg

    env = settings.library_env
    return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                           dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                           password=env["POSTGRES_PASSWORD"] or None, autocommit=True)


def pg_schema(settings: StoreSettings) -> str:
    return settings.library_env.get("POSTGRES_SCHEMA") or "public"


def parindex_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("parindex")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "api.cli", *args]


def start_worker(store_url: str, log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`parindex project ARGS` as a subprocess on the store, its output appended to a file."""
    env = {**os.environ, "PARINDEX_DATABASE_URL": store_url}
    with open(log_path, "ab") as log:
        return subprocess.Popen(parindex_command("project", *args), cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


class Recorder:
    """Collects values from a polling thread until stopped (for observing a live system)."""

    def __init__(self, sample: Callable[[], T], interval: float = 0.005):
        self.samples: list[Any] = []
        self.errors: list[BaseException] = []
        self._sample = sample
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except BaseException as error:  # reported by the test
                self.errors.append(error)
            self._stop.wait(self._interval)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
