"""`make bench-national`: the projections on a national-scale log, against the issue's targets.

One run, on a fresh PostgreSQL schema (`natbench_<hex>` in the database of
`PARINDEX_BENCH_POSTGRES_URL`, default postgresql://postgres@127.0.0.1:5432/test; dropped at the
end unless --keep), and with --sqlite also on a SQLite file:

1. generates a log of at least --events events (default 1,000,000) through parindex
   (`benchmarks/national_log.py`: 34 provinces, one cycle each, about 100 sub-criteria per
   framework, the whole workflow from self-assessment to corrections);
2. measures (a) the rate at which the store hands out those events decoded into domain events
   (`recorder.select_notifications` in pages of 10,000 + `mapper.to_domain_event` in this
   process: the library's own read + decode, the issue's floor under any rebuild; `rebuild`
   itself reads tuple rows with `projections.feeds.stored_pages`), twice, before and after (b);
3. (b) times `projections.rebuild.rebuild` of all views into a fresh generation with its default
   workers (on PostgreSQL one process per usable CPU, at most 4; the verdict figure), and on
   PostgreSQL a second one with `workers=1` right after it, for comparison; CPU time is this
   process's and its worker processes' (`RUSAGE_CHILDREN`), not the database server's;
4. (c) times requests through `projections.queries.ReadModel`: a group ranking, a scorecard, an
   audit-trail page (one cycle, 100 rows, random cursors) and an as-of ranking (a random earlier
   position), median and p99 each;
5. replays two slices of the log the way one rebuild worker folds them (first and last events:
   `stored_pages`, `mapper.to_domain_event`, `Scoreboard.apply`, one flush), timing the
   read of each page, decode, fold, deriving rows,
   upserting them and appending audit rows and event times, and profiles them with cProfile;
6. prints the figures with the issue's targets and writes docs/performance-projections.md
   (a --quick smoke run: about 60,000 events, var/performance-projections-quick.md).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import os
import pstats
import random
import resource
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from benchmarks.machine import describe
from benchmarks.national_log import (
    YEAR,
    GenerationReport,
    NationalLog,
    composition,
    plan_for,
)
from benchmarks.run import conninfo, probe_postgres, redact
from domain.application import ParIndex
from domain.store.config import settings_from_url
from projections.feeds import stored_pages
from projections.history import versions_at
from projections.queries import AsOf, ReadModel
from projections.rebuild import RebuildReport, cyclic_collector_paused, rebuild
from projections.scoreboard import Scoreboard
from projections.store import ViewStore

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "performance-projections.md"
QUICK_OUTPUT = ROOT / "var" / "performance-projections-quick.md"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 60_000
CHUNK = 10_000  # (a)'s page, in events; rebuild()'s page, in positions
REQUESTS = 200
QUICK_REQUESTS = 50
WARMUP = 10
PAGE = 100
SLICE_SHARE = 0.08  # of the log, per profiled slice
SLICE_MAX = 40_000
FLUSH_EVERY = 250_000  # rebuild()'s default
PROFILED_REQUESTS = 20
BUDGET_SECONDS = 900


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float
    unit: str  # "ratio" (at least) or "ms" (p99 below)


TARGETS = (
    Target("rebuild", "full rebuild rate ≥ 50 % of the read + decode rate", 0.5, "ratio"),
    Target("ranking", "group ranking p99 < 20 ms", 20.0, "ms"),
    Target("scorecard", "scorecard p99 < 20 ms", 20.0, "ms"),
    Target("audit", "audit-trail page p99 < 30 ms", 30.0, "ms"),
    Target("asof", "as-of ranking p99 < 200 ms", 200.0, "ms"),
)
QUERY_LABELS = {
    "ranking": "group ranking (live)",
    "scorecard": "scorecard (live)",
    "audit": f"audit-trail page (one cycle, {PAGE} rows, random cursor)",
    "asof": "as-of ranking (random earlier position)",
}


def log(message: str) -> None:
    print(message, flush=True)


# -- stores -------------------------------------------------------------------------------------


@dataclass
class Store:
    kind: str  # "postgresql" or "sqlite"
    title: str
    url: str
    app: ParIndex
    where: str  # schema or file, for the report


@contextmanager
def postgres_store(url: str, keep: bool) -> Iterator[Store]:
    import psycopg
    from psycopg import sql

    info = conninfo(settings_from_url(url))
    schema = f"natbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**info, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in url else "?"
    store_url = f"{url}{separator}schema={schema}"
    try:
        store = Store("postgresql", "PostgreSQL", store_url,
                      ParIndex(settings_from_url(store_url)), f"schema {schema}")
        try:
            yield store
        finally:
            store.app.close()
    finally:
        if keep:
            log(f"  kept schema {schema}: {redact(store_url)}")
        else:
            with psycopg.connect(**info, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            log(f"  dropped schema {schema}")


@contextmanager
def sqlite_store(keep: bool) -> Iterator[Store]:
    if keep:
        path = ROOT / "var" / f"natbench-{uuid.uuid4().hex[:12]}.sqlite3"
        store = Store("sqlite", "SQLite", f"sqlite:///{path}",
                      ParIndex(settings_from_url(f"sqlite:///{path}")), str(path))
        try:
            yield store
        finally:
            store.app.close()
            log(f"  kept {path}")
        return
    with tempfile.TemporaryDirectory(prefix="parindex-natbench-") as directory:
        path = Path(directory) / "events.sqlite3"
        store = Store("sqlite", "SQLite", f"sqlite:///{path}",
                      ParIndex(settings_from_url(f"sqlite:///{path}")), "a temporary file")
        try:
            yield store
        finally:
            store.app.close()


def analyze(store: Store, views: ViewStore | None = None) -> None:
    """Planner statistics for freshly filled tables (autovacuum would gather them within a
    minute or so; gathering them now makes runs repeatable)."""
    if store.kind == "postgresql":
        recorder: Any = store.app.recorder
        with recorder.datastore.transaction(commit=True) as cur:
            cur.execute(f'ANALYZE "{recorder.datastore.schema}"."{recorder.events_table_name}"')
        if views is not None:
            generation = views.active_generation()
            with views.transaction() as cur:
                for table in ("scorecards", "cycles", "audit", "event_times"):
                    cur.execute(f"ANALYZE pv_{table}_g{generation}")
    else:
        with views.transaction() if views is not None else _sqlite(store) as cur:
            cur.execute("ANALYZE")


@contextmanager
def _sqlite(store: Store) -> Iterator[Any]:
    recorder: Any = store.app.recorder
    with recorder.datastore.transaction(commit=True) as cur:
        yield cur


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended. A
    rebuild on PostgreSQL folds in worker processes, so most of its CPU is theirs and
    `time.process_time()` alone would miss it. The database server's CPU is in neither."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


# -- (a) read + decode ----------------------------------------------------------------------------


def read_decode(app: ParIndex) -> tuple[int, float, float]:
    """Every event, in pages of CHUNK, decoded into domain events (then dropped): (events,
    seconds, CPU seconds of this process)."""
    position = events = 0
    cpu = time.process_time()
    started = time.perf_counter()
    while True:
        batch = app.recorder.select_notifications(start=position, limit=CHUNK,
                                                  inclusive_of_start=False)
        if not batch:
            break
        for notification in batch:
            app.mapper.to_domain_event(notification)
        position = batch[-1].id
        events += len(batch)
    return events, time.perf_counter() - started, time.process_time() - cpu


# -- (c) queries ----------------------------------------------------------------------------------


@dataclass
class Latency:
    samples: list[float] = field(default_factory=list)  # milliseconds
    rows: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def time_queries(store: Store, views: ViewStore, generation: GenerationReport, requests: int,
                 seed: int = 20251) -> tuple[dict[str, Latency], dict[str, pstats.Stats]]:
    """Latencies per query; then a cProfile of a few more requests of each."""
    app = store.app
    model = ReadModel(app, views)
    rng = random.Random(seed)
    provinces = generation.provinces
    head = app.recorder.max_notification_id() or 0
    active = views.active_generation()
    spans = {}
    with views.reading() as cur:
        for province in provinces:
            cur.execute(f"SELECT min(position), max(position) FROM pv_audit_g{active} "
                        "WHERE cycle_id = %s", (str(province.cycle_id),))
            low, high = cur.fetchone()
            spans[province.cycle_id] = (int(low), int(high))

    def ranking() -> int:
        province = rng.choice(provinces)
        return len(model.ranking(province.cycle_id, rng.choice(("SO", "XA")))["rows"])

    def scorecard() -> int:
        unit = rng.choice(rng.choice(provinces).units)
        return len(model.scorecard(unit.card_id)["fields"])

    def audit() -> int:
        province = rng.choice(provinces)
        low, high = spans[province.cycle_id]
        return len(model.audit(cycle_ref=province.cycle_id, after=rng.randint(low - 1, high),
                               limit=PAGE)["rows"])

    def as_of() -> int:
        province = rng.choice(provinces)
        earliest = province.opened_at + len(province.units) + 1  # after the enrolment
        position = rng.randint(min(earliest, head), head)
        return len(model.ranking(province.cycle_id, rng.choice(("SO", "XA")),
                                 AsOf(position=position))["rows"])

    queries: dict[str, Callable[[], int]] = {"ranking": ranking, "scorecard": scorecard,
                                             "audit": audit, "asof": as_of}
    results = {}
    for key, query in queries.items():
        for _ in range(WARMUP):
            query()
        gc.collect()
        latency = Latency()
        for _ in range(requests):
            started = time.perf_counter()
            rows = query()
            latency.samples.append((time.perf_counter() - started) * 1000)
            latency.rows.append(rows)
        results[key] = latency
        log(f"  {QUERY_LABELS[key]}: median {latency.median:.1f} ms, p99 {latency.p99:.1f} ms "
            f"({requests} requests)")
    profiles = {}
    for key, query in queries.items():
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(PROFILED_REQUESTS):
            query()
        profiler.disable()
        profiles[key] = pstats.Stats(profiler)
    return results, profiles


AUDIT_SQL = ("SELECT position, event_id, recorded_at, cycle_id, scorecard_id, unit_code, "
             "item_code, kind, old_value, new_value, actor_id, actor_role, reason, decision_ref "
             "FROM pv_audit_g{generation} WHERE 1 = 1 AND cycle_id = %s AND position > %s "
             "ORDER BY position LIMIT %s")


@dataclass(frozen=True)
class QueryPlan:
    setting: str
    index: str
    removed: int  # rows the index scan read and the filter dropped
    milliseconds: float


def audit_plans(store: Store, views: ViewStore, generation: GenerationReport,
                samples: int = 5, seed: int = 5) -> list[QueryPlan]:
    """PostgreSQL's plan for the statement `ReadModel.audit` sends for a cycle page (same SQL),
    at a few random cursors: with the server's settings, and with random_page_cost = 1.1 (the
    usual value for SSDs) for comparison. Empty on SQLite."""
    if store.kind != "postgresql":
        return []
    rng = random.Random(seed)
    active = views.active_generation()
    sql = AUDIT_SQL.format(generation=active)
    plans = []
    with views.transaction() as cur:
        for _ in range(samples):
            province = rng.choice(generation.provinces)
            cur.execute(f"SELECT min(position), max(position) FROM pv_audit_g{active} WHERE "
                        "cycle_id = %s", (str(province.cycle_id),))
            low, high = cur.fetchone()
            after = rng.randint(int(low), int(high))
            for setting in ("server default", "random_page_cost = 1.1"):
                if setting != "server default":
                    cur.execute("SET LOCAL random_page_cost = 1.1")
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql,
                            (str(province.cycle_id), after, PAGE + 1))
                plan = cur.fetchone()[0][0]
                node = plan["Plan"]
                while node.get("Plans") and "Index Name" not in node:
                    node = node["Plans"][0]
                plans.append(QueryPlan(setting, node.get("Index Name", node["Node Type"]),
                                  int(node.get("Rows Removed by Filter", 0)),
                                  float(plan["Execution Time"])))
            cur.execute("RESET random_page_cost")
    return plans


def verify(store: Store, views: ViewStore, generation: GenerationReport,
           rng: random.Random) -> str:
    """The views agree with the write side: every scorecard is there, and sampled totals equal
    the domain's own score sheets."""
    model = ReadModel(store.app, views)
    cards = [u for p in generation.provinces for u in p.units]
    with views.reading() as cur:
        cur.execute(f"SELECT count(*) FROM pv_scorecards_g{views.active_generation()}")
        count = int(cur.fetchone()[0])
    if count != len(cards):
        raise AssertionError(f"the views hold {count} scorecards, not {len(cards)}")
    for unit in rng.sample(cards, min(20, len(cards))):
        _, _, sheet = store.app.score_sheet(unit.card_id)
        shown = model.scorecard(unit.card_id)["totals"]["total"]
        if shown != str(sheet.total):
            raise AssertionError(f"scorecard {unit.card_id}: view total {shown}, domain "
                                 f"{sheet.total}")
    return (f"all {count:,} scorecards present; totals of {min(20, len(cards))} sampled "
            "scorecards equal the domain's score sheets")


# -- where the rebuild's time goes -------------------------------------------------------------


@dataclass
class SliceTiming:
    label: str
    first: int
    last: int
    events: int = 0
    wait: float = 0.0  # reading the next page of `stored_pages`
    decode: float = 0.0
    fold: float = 0.0
    rows: float = 0.0  # take_changes + Scoreboard.rows (Python)
    upsert: float = 0.0  # ViewStore.write of the derived rows (scorecards, cycles, frameworks)
    append: float = 0.0  # ViewStore.write of the audit rows, event times and tracking position
    audit_rows: int = 0
    card_rows: int = 0

    @property
    def total(self) -> float:
        return self.wait + self.decode + self.fold + self.rows + self.upsert + self.append


def _board_at(app: ParIndex, views: ViewStore, generation: GenerationReport,
              position: int) -> Scoreboard:
    """A scoreboard holding every aggregate as it stood at `position` (what a rebuild has in
    memory when it gets there)."""
    board = Scoreboard.loading_from(app)
    ids: list[UUID] = [*(p.cycle_id for p in generation.provinces),
                       *(u.card_id for p in generation.provinces for u in p.units)]
    ids += [UUID(str(row)) for row in _framework_ids(app, generation)]
    for aggregate_id, version in versions_at(app, views, ids, position).items():
        board.adopt(app.repository.get(aggregate_id, version=version))
    return board


def _framework_ids(app: ParIndex, generation: GenerationReport) -> list[UUID]:
    cycle = app.cycle(generation.provinces[0].cycle_id)
    return [cycle.framework_of(group) for group in cycle.groups]


def replay_slice(app: ParIndex, views: ViewStore, scratch: int, board: Scoreboard,
                 timing: SliceTiming) -> None:
    """Fold events (first, last] as one rebuild worker does (`projections.rebuild`'s
    `fold_partition`, one partition, the cyclic collector paused while it folds) and write
    them to generation `scratch` in one flush, timing each part."""
    pages = stored_pages(app, views, timing.first, timing.last, CHUNK)
    to_domain_event = app.mapper.to_domain_event
    with cyclic_collector_paused():  # as the worker folds
        while True:
            started = time.perf_counter()
            page = next(pages, None)
            waited = time.perf_counter()
            if page is None:
                break
            events = [to_domain_event(stored) for stored in page]
            decoded = time.perf_counter()
            for event, stored in zip(events, page, strict=True):
                board.apply(event, stored.id)
            folded = time.perf_counter()
            timing.wait += waited - started
            timing.decode += decoded - waited
            timing.fold += folded - decoded
            timing.events += len(page)
    started = time.perf_counter()
    changed, audit, times = board.take_changes()
    rows = board.rows(changed)
    derived = time.perf_counter()
    with views.transaction() as cur:  # the worker's writes, in one flush of two calls
        views.write(cur, scratch, rows, [], [], None)  # its final derivation, once
        upserted = time.perf_counter()
        views.write(cur, scratch, {}, audit, times, None)  # what every flush appends
    timing.rows += derived - started
    timing.upsert += upserted - derived
    timing.append += time.perf_counter() - upserted
    timing.audit_rows = len(audit)
    timing.card_rows = len(rows["scorecards"])


@dataclass
class Profile:
    slices: list[SliceTiming]
    stats: pstats.Stats
    seconds: float  # profiled run time (with the profiler's overhead)


def profile_rebuild(store: Store, views: ViewStore, generation: GenerationReport
                    ) -> Profile:
    app = store.app
    head = app.recorder.max_notification_id() or 0
    size = min(SLICE_MAX, max(1_000, int(head * SLICE_SHARE)))
    bounds = [("first events (self-assessment)", 0, size),
              ("last events (appraisal, explanations, surveys, publication)", head - size, head)]
    scratch = max([*views.known_generations(), views.active_generation() or 0]) + 1
    timings = []
    profiler = cProfile.Profile()
    profiled = 0.0
    try:
        for label, first, last in bounds:
            for profiled_run in (False, True):
                views.drop_generation(scratch)
                views.create_generation(scratch, indexes=False)  # as rebuild() loads
                board = (Scoreboard.loading_from(app) if first == 0 else
                         _board_at(app, views, generation, first))
                timing = SliceTiming(label, first, last)
                if profiled_run:
                    started = time.perf_counter()
                    profiler.enable()
                    replay_slice(app, views, scratch, board, timing)
                    profiler.disable()
                    profiled += time.perf_counter() - started
                else:
                    replay_slice(app, views, scratch, board, timing)
                    timings.append(timing)
                    log(f"  slice {label}: {timing.events:,} events in {timing.total:.1f} s "
                        f"(page read {timing.wait:.1f}, decode {timing.decode:.1f}, fold "
                        f"{timing.fold:.1f}, rows {timing.rows:.1f}, upsert {timing.upsert:.1f}, "
                        f"append {timing.append:.1f})")
    finally:
        views.drop_generation(scratch)
    return Profile(timings, pstats.Stats(profiler), profiled)


def _where(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    path = Path(filename)
    if "site-packages/" in filename:
        return f"{filename.split('site-packages/', 1)[1]}:{line} {function}"
    with suppress(ValueError):
        return f"{path.relative_to(ROOT)}:{line} {function}"
    parts = path.parts
    for index, part in enumerate(parts):
        if part.startswith("python3"):
            return f"{'/'.join(parts[index + 1:])}:{line} {function}"
    return f"{path.name}:{line} {function}"


def top_functions(stats: pstats.Stats, key: str, count: int) -> list[tuple[str, int, float,
                                                                          float]]:
    """(where, calls, own seconds, cumulative seconds), by `key` ("tottime" or "cumtime")."""
    entries = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, function), (_, calls, own, cumulative, _) in raw.items():
        entries.append((_where(filename, line, function), calls, own, cumulative))
    index = 2 if key == "tottime" else 3
    return sorted(entries, key=lambda e: e[index], reverse=True)[:count]


# -- one store ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildRun:
    """One timed `rebuild()`: its own report (events, elapsed seconds, workers) and the CPU
    seconds of this process and its worker processes while it ran."""

    report: RebuildReport
    cpu: float

    @property
    def rate(self) -> float:
        return self.report.events / self.report.seconds

    @property
    def cpu_rate(self) -> float:
        return self.report.events / self.cpu

    def describe(self) -> str:
        return (f"{self.report.events:,} events in {self.report.seconds:.1f} s "
                f"({self.rate:,.0f} events/s, {self.cpu:.1f} s CPU in this process and its "
                f"workers), {processes(self.report.workers)}, generation "
                f"{self.report.generation}, activated: {self.report.activated}")


def processes(workers: int) -> str:
    return "folded in this process" if workers == 1 else f"{workers} worker processes"


def timed_rebuild(app: ParIndex, views: ViewStore, workers: int | None = None) -> RebuildRun:
    """`rebuild(app, views)` with its default workers (None), or with `workers`; the CPU is
    counted when it returns, after it has waited for its workers."""
    cpu = cpu_seconds()
    report = rebuild(app, views, workers=workers)
    return RebuildRun(report, cpu_seconds() - cpu)


@dataclass
class StoreResult:
    store: Store
    generation: GenerationReport
    read_decode: list[tuple[int, float, float]]
    rebuild: RebuildRun  # default workers: the verdict figure
    single: RebuildRun | None  # workers=1 right after, for comparison (PostgreSQL only)
    parts: dict[str, tuple[float, float]]  # seconds and 1-minute load average after it
    check: str
    queries: dict[str, Latency]
    profile: Profile
    query_stats: dict[str, pstats.Stats]
    audit_plans: list[QueryPlan]

    @property
    def read_rates(self) -> list[float]:
        return [events / seconds for events, seconds, _ in self.read_decode]

    @property
    def read_cpu_rate(self) -> float:
        return statistics.mean(events / cpu for events, _, cpu in self.read_decode)

    @property
    def cpu_ratio(self) -> float:
        """Rebuild rate / read + decode rate on CPU time, the rebuild's counting its worker
        processes (less sensitive to other work on the machine; the database server's own
        CPU is not counted)."""
        return self.rebuild.cpu_rate / self.read_cpu_rate

    @property
    def read_rate(self) -> float:
        return statistics.mean(self.read_rates)

    @property
    def rebuild_events(self) -> int:
        return self.rebuild.report.events

    @property
    def rebuild_seconds(self) -> float:
        return self.rebuild.report.seconds

    @property
    def rebuild_rate(self) -> float:
        return self.rebuild.rate

    def value(self, target: Target) -> float:
        if target.key == "rebuild":
            return self.rebuild_rate / self.read_rate
        return self.queries[target.key].p99

    def met(self, target: Target) -> bool:
        value = self.value(target)
        return value >= target.limit if target.unit == "ratio" else value < target.limit


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_store(store: Store, events: int, requests: int) -> StoreResult:
    app = store.app
    plan = plan_for(events)
    parts: dict[str, tuple[float, float]] = {}
    last = time.perf_counter()

    def part(name: str) -> None:
        """Time since the previous part, added to `name`'s (the checks come in two)."""
        nonlocal last
        now = time.perf_counter()
        parts[name] = (parts.get(name, (0.0, 0.0))[0] + now - last, _load())
        last = now

    log(f"{store.title}: generating about {events:,} events — {plan.provinces} provinces × "
        f"{plan.units} units")
    generation = NationalLog(app, plan, log).run()
    generation.composition = composition(app)
    log(f"  generated {generation.events:,} events in {generation.seconds:.0f} s "
        f"({generation.events / generation.seconds:,.0f} events/s)")
    # Measure with a freshly started application (empty aggregate cache), as a process that
    # rebuilds or serves reads would be, and without the generator's working state.
    app.close()
    app = store.app = ParIndex(settings_from_url(store.url))
    gc.collect()
    views = ViewStore(app.settings)
    try:
        analyze(store)
        part("generation")
        log("(a) read + decode, pass 1")
        reads = [read_decode(app)]
        part("read + decode, pass 1")
        log(f"  {reads[-1][0]:,} events in {reads[-1][1]:.1f} s "
            f"({reads[-1][0] / reads[-1][1]:,.0f} events/s)")
        log("(b) full rebuild of all views into a fresh generation, default workers")
        rebuilt = timed_rebuild(app, views)
        part(f"rebuild ({processes(rebuilt.report.workers)})")
        log(f"  {rebuilt.describe()}")
        check = verify(store, views, generation, random.Random(7))
        part("check")
        log(f"  check: {check}")
        single = None
        if store.kind == "postgresql":  # SQLite always folds in one process
            log("(b) again with workers=1, for comparison (replaces that generation)")
            single = timed_rebuild(app, views, workers=1)
            part("rebuild (workers=1)")
            log(f"  {single.describe()}")
            verify(store, views, generation, random.Random(7))
            part("check")
            log("  check: the same")
        log("(a) read + decode, pass 2")
        reads.append(read_decode(app))
        part("read + decode, pass 2")
        log(f"  {reads[-1][0]:,} events in {reads[-1][1]:.1f} s "
            f"({reads[-1][0] / reads[-1][1]:,.0f} events/s)")
        analyze(store, views)
        log(f"(c) queries through ReadModel, {requests} requests each after {WARMUP} warm-up")
        queries, query_stats = time_queries(store, views, generation, requests)
        plans = audit_plans(store, views, generation)
        part("queries and their profiles")
        log("where the rebuild's time goes: two slices replayed as one rebuild worker folds "
            "them, then profiled")
        profile = profile_rebuild(store, views, generation)
        part("slices and profile")
    finally:
        views.close()
    return StoreResult(store, generation, reads, rebuilt, single, parts, check, queries,
                       profile, query_stats, plans)


# -- reporting ----------------------------------------------------------------------------------


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def verdict_lines(result: StoreResult) -> list[tuple[str, str, str, str]]:
    """(target, measured, limit, verdict) per target."""
    lines = []
    for target in TARGETS:
        value = result.value(target)
        if target.unit == "ratio":
            measured = (f"{value:.0%} ({number(result.rebuild_rate)} of "
                        f"{number(result.read_rate)} events/s)")
            limit = f"≥ {target.limit:.0%}"
        else:
            measured = f"p99 {value:.1f} ms (median {result.queries[target.key].median:.1f} ms)"
            limit = f"< {target.limit:g} ms"
        lines.append((target.label, measured, limit, "met" if result.met(target) else "NOT met"))
    return lines


def command_line() -> str:
    args = sys.argv[1:]
    if os.environ.get("MAKELEVEL"):
        return "make bench-national" + (f" BENCH_ARGS={shlex.quote(shlex.join(args))}"
                                        if args else "")
    python = Path(sys.executable)
    with suppress(ValueError):
        python = python.relative_to(ROOT)
    return f"{python} -m benchmarks.national" + (f" {shlex.join(args)}" if args else "")


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


STEP_NOTES = {
    "Scorecard.SelfScoreRecorded": "first self-assessment (API batch) and edit rounds",
    "Scorecard.EvidenceAttached": "one file per scored item, more in edit rounds, "
                                  "supplementary files with explanations",
    "Scorecard.EvidenceWithdrawn": "files replaced during self-assessment",
    "Scorecard.ItemAppraised": "round 1 (every item) and round 2 (explained or flagged items)",
    "Scorecard.ExplanationSubmitted": "cut or flagged items explained",
    "Scorecard.SurveyPointsApplied": "one import per province (SIPAS, staff survey)",
    "Scorecard.PointsCorrected": "after publication, under a PPC decision",
}


def rebuild_split(result: StoreResult) -> list[tuple[str, float]]:
    """A rebuild's work split by part, estimated from the slices as if one process did it
    all: per-event costs of reading pages, decoding, folding and appending audit rows and
    event times (mean of the two slices), and per-scorecard costs of deriving and upserting
    the rows, which each worker does once per scorecard of its partition, at the end (the
    flushes every 250,000 events only append)."""
    slices = result.profile.slices
    events = result.rebuild_events
    per_event = {part: statistics.mean(getattr(s, part) / s.events for s in slices)
                 for part in ("wait", "decode", "fold", "append")}
    per_row = {part: statistics.mean(getattr(s, part) / max(1, s.card_rows) for s in slices)
               for part in ("rows", "upsert")}
    cards = sum(len(p.units) for p in result.generation.provinces)
    return [("page read (stored_pages)",
             per_event["wait"] * events),
            ("decode (to_domain_event)", per_event["decode"] * events),
            ("fold (Scoreboard.apply)", per_event["fold"] * events),
            (f"rows (Scoreboard.rows: {cards:,} scorecards, once each)",
             per_row["rows"] * cards),
            (f"upsert SQL (those {cards:,} rows, once each)", per_row["upsert"] * cards),
            ("append SQL (an audit row and an event-time row per event)",
             per_event["append"] * events)]


def cost_summary(result: StoreResult) -> list[str]:
    split = rebuild_split(result)
    estimated = sum(seconds for _, seconds in split)
    workers = result.rebuild.report.workers
    cards = sum(len(p.units) for p in result.generation.provinces)
    measured = f"{result.rebuild_seconds:.1f} s ({processes(workers)})"
    if result.single is not None:
        measured += f" and {result.single.report.seconds:.1f} s (with `workers=1`)"
    out = [f"Estimated split of a rebuild's work as one process would do it (the slices' "
           f"per-event and per-scorecard costs × this log's {result.rebuild_events:,} events "
           f"and {cards:,} scorecards; each scorecard's rows are derived and upserted once, at "
           f"the end of its worker's partition). It adds up to {estimated:.1f} s and leaves out "
           "creating the tables, starting the worker processes, building the secondary "
           f"indexes after the load and the switch. The rebuild measured {measured}."
           + ("" if workers == 1 else
              f" With {workers} workers the wall time is roughly this work divided among "
              f"them; they share the machine's {os.cpu_count()} CPUs with each other and with "
              "the database server (which also reads and filters each worker's pages)."), "",
           "| part | seconds | share of the estimate |", "|---|---:|---:|"]
    out += [f"| {part} | {seconds:.1f} | {seconds / estimated:.0%} |" for part, seconds in split]
    read = result.rebuild_events / result.read_rate
    ranked = sorted(split, key=lambda entry: entry[1], reverse=True)
    out += ["", f"What dominates: {ranked[0][0]} ({ranked[0][1] / estimated:.0%}), then "
            f"{ranked[1][0]} ({ranked[1][1] / estimated:.0%}). Reading and decoding alone take "
            f"{read:.1f} s at the measured read + decode rate; the target (rebuild ≥ 50 % of "
            f"that rate) allows {2 * read:.1f} s for the whole rebuild."]
    return out


def rebuild_lines(result: StoreResult) -> list[str]:
    """(b) and the CPU figures, as result bullets: the default-workers rebuild (the verdict
    figure) and, on PostgreSQL, the single-process one for comparison."""
    rebuilt, single = result.rebuild, result.single
    report = rebuilt.report
    out = [f"- (b) full rebuild with its default workers ({processes(report.workers)}): "
           f"{report.events:,} events in {report.seconds:.1f} s = {number(rebuilt.rate)} "
           "events/s, into a fresh generation "
           f"({'activated by the rebuild itself' if report.activated else 'left pending'}). "
           f"Check: {result.check}."]
    if single is not None:
        out.append(
            "- For comparison, not a verdict: the same rebuild with `workers=1` (folded in "
            "this process) right after it, into another fresh generation that replaced the "
            f"first (the queries below read it): {single.report.events:,} events in "
            f"{single.report.seconds:.1f} s = {number(single.rate)} events/s; the "
            f"{report.workers} workers took {report.seconds / single.report.seconds:.0%} of its "
            "time. Check: the same.")
    out.append(
        "- On CPU time instead of the clock (user + system of this process and its rebuild "
        "workers; what other work on the machine disturbs least; the database server's CPU "
        f"is not in it): read + decode {number(result.read_cpu_rate)} events/s, rebuild "
        f"({processes(report.workers)}) {number(rebuilt.cpu_rate)} events/s "
        f"({rebuilt.cpu:.1f} s of CPU), ratio {result.cpu_ratio:.0%}"
        + ("." if single is None else
           f"; rebuild with `workers=1` {number(single.cpu_rate)} events/s ({single.cpu:.1f} s), "
           f"ratio {single.cpu_rate / result.read_cpu_rate:.0%}."))
    return out


def describe_result(result: StoreResult, quick: bool) -> list[str]:
    gen = result.generation
    plan = gen.plan
    cards = sum(len(p.units) for p in gen.provinces)
    out = [f"## {result.store.title}", ""]
    if quick:
        out += ["**A --quick smoke run: a small log; do not quote these figures.**", ""]
    trees = gen.trees
    out += [
        "### The log",
        "",
        f"{gen.events:,} events (target {plan.target:,}): {len(gen.provinces)} provinces, one "
        f"{YEAR} cycle each, {plan.units} units per province "
        f"({cards:,} scorecards, groups SO and XA), frameworks SO-2025 with "
        f"{sum(1 for _ in trees['SO'].items())} items and XA-2025 with "
        f"{sum(1 for _ in trees['XA'].items())} items (the demo's frameworks, every item split "
        f"into three sub-criteria). {gen.rounds} self-assessment rounds (the last edits "
        f"{gen.last_round_share * 90:.0f} % of items, the others 90 %; the first declares "
        "every item), so each item is self-scored about "
        f"{1 + (gen.rounds - 2) * 0.9 + gen.last_round_share * 0.9:.1f} times. Written in "
        f"{gen.seconds:.0f} s ({gen.events / gen.seconds:,.0f} events/s, snapshots every 100 "
        "scorecard events included) into " + result.store.where + ".",
        "",
        "| event type | events | share | what |",
        "|---|---:|---:|---|",
    ]
    total = sum(gen.composition.values())
    for name, count in gen.composition.most_common():
        out.append(f"| {name} | {count:,} | {count / total:.1%} | {STEP_NOTES.get(name, '')} |")
    out += ["", "Generation steps (events in the log after each, seconds since the start):", ""]
    out += [f"- {step}: {events:,} events at {seconds:.0f} s" for step, events, seconds
            in gen.steps]
    out += ["", "### Results", "", "| target (from the issue) | measured | limit | verdict |",
            "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | **{d}** |" for a, b, c, d in verdict_lines(result)]
    reads = ", ".join(f"{number(r)}" for r in result.read_rates)
    out += [
        "",
        f"- (a) read + decode: {number(result.read_rate)} events/s (mean of two passes over "
        f"the whole log, {reads} events/s, before and after the "
        f"{'rebuilds' if result.single else 'rebuild'}).",
        *rebuild_lines(result),
        "- Run time by part, and the 1-minute load average at its end: " + ", ".join(
            f"{part} {seconds:.0f} s (load {load:.1f})"
            for part, (seconds, load) in result.parts.items())
        + f"; the machine has {os.cpu_count()} CPUs, so a load above {os.cpu_count()} means "
        "this run shared them with other work.",
        "",
        "| query | requests | median | p99 | max | rows per answer (mean) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, latency in result.queries.items():
        out.append(f"| {QUERY_LABELS[key]} | {len(latency.samples)} | {latency.median:.1f} ms "
                   f"| {latency.p99:.1f} ms | {max(latency.samples):.1f} ms | "
                   f"{statistics.mean(latency.rows):.0f} |")
    if result.audit_plans:
        out += ["", "The audit page's plan: `EXPLAIN ANALYZE` of the statement `ReadModel.audit` "
                "sends for a cycle page (same SQL), at random cursors, with the server's "
                "settings and, for comparison, with `SET LOCAL random_page_cost = 1.1`:", "",
                "| planner setting | index used | rows read and dropped by the filter | "
                "execution |", "|---|---|---:|---:|"]
        out += [f"| {p.setting} | `{p.index}` | {p.removed:,} | {p.milliseconds:.2f} ms |"
                for p in result.audit_plans]
    out += ["", "### Where the rebuild's time goes", "",
            "Two slices of the log replayed the way one rebuild worker folds its partition "
            "(`projections.rebuild.fold_partition`, here with the whole log as one partition): "
            f"windows of {CHUNK:,} positions from `projections.feeds.stored_pages` (tuple rows "
            "read with the view store's connection, in the folding thread), "
            "`mapper.to_domain_event`, "
            "`Scoreboard.apply` (Python's cyclic garbage collector paused, as a worker pauses "
            "it while it folds: with it running, a worker took twice as long), then one "
            "flush: `take_changes`, `rows`, `ViewStore.write` in "
            "one transaction, called twice to time the upsert of the derived rows (which a "
            "worker does once, at the end) apart from the appended audit rows and event times "
            f"(which it does every {FLUSH_EVERY:,} events). They go into a scratch generation "
            "without secondary indexes, as a rebuild loads, which is dropped. The last slice "
            "starts from every aggregate loaded as it stood at its first position. Percentages "
            "are shares of each slice's time.", "",
            "| slice | events | events/s | page read | decode | fold (apply) | rows | upsert SQL "
            "| append SQL | audit rows | scorecard rows |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in result.profile.slices:
        out.append(
            f"| {s.label} ({s.first + 1:,}–{s.last:,}) | {s.events:,} | "
            f"{number(s.events / s.total)} | {s.wait / s.total:.0%} | "
            f"{s.decode / s.total:.0%} | {s.fold / s.total:.0%} | {s.rows / s.total:.0%} | "
            f"{s.upsert / s.total:.0%} | {s.append / s.total:.0%} | {s.audit_rows:,} | "
            f"{s.card_rows:,} |")
    out += ["", *cost_summary(result), ""]
    out += ["", f"cProfile of the same two slices ({result.profile.seconds:.0f} s with the "
            "profiler), top functions by own time:", "",
            "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
    for where, calls, own, cumulative in top_functions(result.profile.stats, "tottime", 20):
        out.append(f"| `{where}` | {calls:,} | {own:.2f} | {cumulative:.2f} |")
    out += ["", "Top by cumulative time:", "", "| function | calls | own s | cumulative s |",
            "|---|---:|---:|---:|"]
    for where, calls, own, cumulative in top_functions(result.profile.stats, "cumtime", 25):
        out.append(f"| `{where}` | {calls:,} | {own:.2f} | {cumulative:.2f} |")
    out += ["", "### Where the queries' time goes", "",
            f"cProfile of {PROFILED_REQUESTS} more requests of each query, top functions by "
            "cumulative time (seconds over all of them):", ""]
    for key, stats in result.query_stats.items():
        out += [f"{QUERY_LABELS[key]}:", "", "| function | calls | own s | cumulative s |",
                "|---|---:|---:|---:|"]
        for where, calls, own, cumulative in top_functions(stats, "cumtime", 16):
            out.append(f"| `{where}` | {calls:,} | {own:.3f} | {cumulative:.3f} |")
        out.append("")
    return out


def report(results: list[StoreResult], machine: list[tuple[str, str]], quick: bool,
           notes: list[str], started: datetime, seconds: float, cpu: float,
           requests: int) -> str:
    invoked = command_line()
    out = [
        "# Projections at national scale",
        "",
        "Written by `benchmarks/national.py`; do not edit by hand. Regenerate with "
        "`make bench-national`. Compare only figures taken in the same run: the speed of a "
        "shared machine drifts by tens of percent between runs.",
        "",
    ]
    if quick:
        out += ["**This is a --quick smoke run: do not quote these figures.**", ""]
    out += [
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Command: `{invoked}`" + ("" if invoked.startswith("make")
                                      else " (what `make bench-national` runs)"),
        f"- Run time: {seconds:.0f} s (generation included); this process and its rebuild "
        f"workers used {cpu:.0f} s of CPU (the database server's work is not in that figure)",
        f"- Stores: {', '.join(r.store.title for r in results)}",
        "",
    ]
    out += [f"> {note}" for note in notes] + ([""] if notes else [])
    out += ["## Verdicts", ""]
    for result in results:
        for target, measured, _limit, verdict in verdict_lines(result):
            out.append(f"- {result.store.title}: {target} — {measured}: **{verdict}**")
    out += ["", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in machine]
    out += [
        "",
        "## Method",
        "",
        "- The log: `benchmarks/national_log.py` (see its docstring). Batch acts go through "
        "the ParIndex API; the later self-score edit rounds with their evidence, and the "
        "explanations, are made with the same public `Scorecard` methods on loaded scorecards "
        "and saved with one `app.save(*scorecards)` per province and step. `app.clock` is a "
        "simulated clock walking the provincial calendar; the cycles of all provinces advance "
        "side by side, so their events interleave. Snapshots every 100 scorecard events, as "
        "configured.",
        f"- (a) read + decode: `app.recorder.select_notifications(start, limit={CHUNK:,}, "
        "inclusive_of_start=False)` page after page and `app.mapper.to_domain_event` on every "
        "notification, in this process — the library's own read + decode, the floor the issue "
        "sets under any rebuild. `rebuild()` no longer reads this way: it reads tuple rows with "
        "`projections.feeds.stored_pages` (and decodes them with the same "
        "`mapper.to_domain_event`), and on PostgreSQL in several processes.",
        "- (b) `projections.rebuild.rebuild(app, ViewStore(settings))` with its default "
        "workers, on views that do not exist yet (a fresh generation, no live runner, so it "
        "switches readers itself). On PostgreSQL that is one `python -m projections.rebuild` "
        "process per usable CPU (at most 4), each owning a hash partition of the aggregates: "
        "it reads only their events (`stored_pages`, windows of "
        f"{CHUNK:,} positions), decodes and folds them "
        f"(`Scoreboard.apply`), appends audit rows and event times every {FLUSH_EVERY:,} "
        "events, and derives and upserts its scorecard, cycle and framework rows once, at the "
        "end; then the secondary indexes are built over the loaded rows and readers switch. "
        "On SQLite the fold runs in this process. events/s = events folded / its own elapsed "
        "time (creating the tables, starting the workers, folding, writing, building the "
        "indexes and the switch). On PostgreSQL a second rebuild with `workers=1` (the fold "
        "in this process) follows at once, for comparison only; it makes another generation, "
        "which replaces the first. CPU time: this process's and, from `getrusage("
        "RUSAGE_CHILDREN)`, its worker processes' (user + system), never the database "
        "server's.",
        f"- (c) {requests} timed requests per query through `ReadModel` after {WARMUP} "
        "untimed ones, one at a time, random provinces, groups, scorecards, cursors and "
        "positions (seeded); p99 is the nearest-rank 99th percentile. Audit pages: "
        f"`audit(cycle_ref=…, after=<random position in the cycle's span>, limit={PAGE})`. "
        "As-of ranking: `ranking(…, AsOf(position=<random position after the cycle's "
        "enrolment>))`. On PostgreSQL the events table and the view tables are ANALYZEd "
        "before the reads (autovacuum would do it shortly after a bulk load).",
        "",
    ]
    for result in results:
        out += describe_result(result, quick)
    return "\n".join(out)


def print_summary(results: list[StoreResult]) -> None:
    print()
    for result in results:
        print(f"{result.store.title}: {result.generation.events:,} events")
        print(f"  (a) read + decode: {number(result.read_rate)} events/s "
              f"(passes: {', '.join(number(r) for r in result.read_rates)})")
        print(f"  (b) full rebuild:  {number(result.rebuild_rate)} events/s "
              f"({result.rebuild_seconds:.1f} s, {processes(result.rebuild.report.workers)}; "
              "on CPU time of this process and its workers the ratio to (a) is "
              f"{result.cpu_ratio:.0%})")
        if result.single is not None:
            print(f"      with workers=1: {number(result.single.rate)} events/s "
                  f"({result.single.report.seconds:.1f} s; for comparison, not a verdict)")
        for key, latency in result.queries.items():
            print(f"  (c) {QUERY_LABELS[key]}: median {latency.median:.1f} ms, "
                  f"p99 {latency.p99:.1f} ms")
        for target, measured, _limit, verdict in verdict_lines(result):
            print(f"  target {target}: {measured} → {verdict.upper()}")
    print()


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.national",
        description="Generate a national-scale log and measure read + decode, full rebuild "
                    "and query latency against the issue's targets.")
    parser.add_argument("--events", type=int, default=None,
                        help=f"events to generate (default {DEFAULT_EVENTS:,}; --quick: "
                             f"{QUICK_EVENTS:,})")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on a small log; writes "
                             f"{QUICK_OUTPUT.relative_to(ROOT)} unless --output is given")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL schema (and the SQLite file) afterwards")
    parser.add_argument("--sqlite", action="store_true",
                        help="also run on a SQLite file (after PostgreSQL)")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip PostgreSQL (needs --sqlite)")
    parser.add_argument("--requests", type=int, default=None,
                        help=f"timed requests per query (default {REQUESTS}; --quick: "
                             f"{QUICK_REQUESTS})")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"report path (default {DEFAULT_OUTPUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if args.no_postgres and not args.sqlite:
        parser.error("--no-postgres leaves no store: add --sqlite")
    if args.events is not None and args.events < 5_000:
        parser.error("--events must be at least 5,000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    cpu = cpu_seconds()
    load_before = load_average()
    notes: list[str] = []
    stores: list[Callable[[], Any]] = []
    postgres_info = None
    if not args.no_postgres:
        url = os.environ.get("PARINDEX_BENCH_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL
        postgres_info, error = probe_postgres(url)
        if postgres_info is None:
            log(f"PostgreSQL unreachable at {redact(url)} ({error}); it is the target store, "
                "so stopping (use --no-postgres --sqlite for SQLite alone).")
            return 2
        stores.append(lambda: postgres_store(url, args.keep))
    if args.sqlite:
        stores.append(lambda: sqlite_store(args.keep))
    results = []
    for open_store in stores:
        with open_store() as store:
            results.append(run_store(store, events, requests))
    seconds = time.perf_counter() - clock
    cpu = cpu_seconds() - cpu
    print_summary(results)
    if any(r.generation.events < events for r in results):
        notes.append("The log ended below the requested size (see the log section).")
    if not args.quick and seconds > BUDGET_SECONDS:
        notes.append(f"This run took {seconds / 60:.0f} minutes, over the budget of about "
                     f"{BUDGET_SECONDS // 60} minutes for a full run; see the run time by part "
                     "and the load averages below (a load above the number of CPUs means the "
                     "machine was shared with other work). This process and its rebuild "
                     f"workers used {cpu / 60:.0f} minutes of CPU.")
    machine = [*describe(postgres_info),
               ("load average (1 min)", f"{load_before} at the start, {load_average()} at "
                                        "the end (other work on the machine slows a run)")]
    document = report(results, machine, args.quick, notes, started, seconds, cpu, requests)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    with suppress(ValueError):
        output = output.resolve().relative_to(Path.cwd())
    log(f"Wrote {output} in {seconds:.0f} s total ({cpu:.0f} s CPU in this process and its "
        "rebuild workers).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
