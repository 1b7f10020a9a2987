"""`python -m benchmarks.integrity`: what the tamper-evident log costs, on SQLite and PostgreSQL.

In one run it measures:

1. the write path with and without hashing: `ParIndex.save` (1 event per save, 10 events per
   save, 100 new aggregates per save) into a store with the library's plain application
   recorder and into one with parindex's integrity recorder (same kind of store, side by side:
   two SQLite files in one temporary directory, two PostgreSQL schemas). Each repetition runs
   both back to back; the verdict uses the median of the per-repetition ratios (target: hashing
   at most 10 % slower);
2. full verification (`domain.store.integrity.verify`: every leaf recomputed from the stored
   rows, the chain, the Merkle root) of a log of --events events (target: at least 100,000
   events/s), plus the checkpointer's first round (loads every leaf, signs) and a proof.

It prints the numbers and verdicts and writes docs/performance-integrity.md (--quick: a smoke
run, written to var/performance-integrity-quick.md unless --output says otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.sql import SQL, Composed, Identifier, Literal

from benchmarks.cases import library_saves, new_entry
from benchmarks.machine import describe
from benchmarks.run import DEFAULT_POSTGRES_URL, conninfo, load_average, probe_postgres, redact
from domain.application import ParIndex
from domain.store.checkpoints import generate_key_file, load_signing_key
from domain.store.config import StoreSettings, settings_from_url
from domain.store.integrity import Checkpointer, ProofService, verify
from domain.store.recorders import IntegrityRecorder, PostgresIntegrityRecorder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "performance-integrity.md"
QUICK_OUTPUT = ROOT / "var" / "performance-integrity-quick.md"
MAX_OVERHEAD = 0.10
MIN_VERIFY_RATE = 100_000
CASES = (("save-1", "save: 1 event per save"),
         ("save-10", "save: 10 events of one aggregate per save"),
         ("save-100", "save: 100 new aggregates per save"))


@dataclass(frozen=True)
class Plan:
    repetitions: int
    repetition_seconds: float
    events: int  # size of the log that is verified
    verify_runs: int


FULL = Plan(repetitions=11, repetition_seconds=1.0, events=200_000, verify_runs=3)
QUICK = Plan(repetitions=2, repetition_seconds=0.1, events=10_000, verify_runs=1)


def log(message: str) -> None:
    print(message, flush=True)


def plain(settings: StoreSettings) -> StoreSettings:
    """The same store without parindex's recorder: the library's own."""
    env = {k: v for k, v in settings.library_env.items() if k != "APPLICATION_RECORDER_TOPIC"}
    return dataclasses.replace(settings, library_env=env)


class UnhashedPostgresRecorder(PostgresIntegrityRecorder):
    """parindex's PostgreSQL write path (one call of the insert function, under the same
    table lock) with the hashing left out: the baseline that isolates what hashing costs."""

    def _insert_function_ddl(self) -> Composed:
        schema = Identifier(self.datastore.schema)
        return SQL(
            "CREATE FUNCTION {schema}.{function}(events {schema}.{event_type}[], "
            "lock_timeout text) RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$ BEGIN "
            "PERFORM set_config('lock_timeout', lock_timeout, true); "
            "LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE; "
            "PERFORM pg_notify({channel}, ''); "
            "RETURN QUERY INSERT INTO {schema}.{events} "
            "(originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
            "RETURNING notification_id; END $fn$").format(
            schema=schema, function=Identifier(self.insert_function_name),
            event_type=Identifier(self.stored_event_type_name),
            events=Identifier(self.events_table_name), channel=Literal(self.channel_name))


def unhashed(settings: StoreSettings) -> StoreSettings:
    env = {**settings.library_env,
           "APPLICATION_RECORDER_TOPIC": f"{__name__}:{UnhashedPostgresRecorder.__name__}"}
    return dataclasses.replace(settings, library_env=env)


# -- stores ------------------------------------------------------------------------------------


@contextmanager
def sqlite_urls(count: int) -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory(prefix="parindex-bench-integrity-") as directory:
        yield [f"sqlite:///{directory}/store{i}.sqlite3" for i in range(count)]


@contextmanager
def postgres_urls(url: str, count: int) -> Iterator[list[str]]:
    import psycopg
    from psycopg import sql

    info = conninfo(settings_from_url(url))
    schemas = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with psycopg.connect(**info, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if "?" in url else "?"
        yield [f"{url}{separator}schema={schema}" for schema in schemas]
    finally:
        with psycopg.connect(**info, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# -- the write path ----------------------------------------------------------------------------


SIDES = ("library", "unhashed", "hashed")
SIDE_LABELS = {"library": "library's recorder", "unhashed": "parindex's path, no hashing",
               "hashed": "parindex's recorder"}


@dataclass
class Trial:
    """One write-path case on two or three stores, saves alternating one by one."""

    key: str
    ops: dict[str, Callable[[], Any]]  # side -> one save
    per_op: int
    count: int = 0
    rates: dict[str, list[float]] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        """What hashing is compared with: the same write path without it where parindex's
        path differs from the library's (PostgreSQL), else the library's recorder."""
        return "unhashed" if "unhashed" in self.ops else "library"

    def ratio(self, side: str, baseline: str) -> float:
        """Median over repetitions of side/baseline throughput."""
        return statistics.median(a / b for a, b in zip(self.rates[side], self.rates[baseline],
                                                       strict=True))

    @property
    def slower(self) -> float:
        return 1 - self.ratio("hashed", self.baseline)

    @property
    def spread(self) -> tuple[float, float]:
        """The lowest and highest per-repetition cost of hashing."""
        costs = [1 - a / b for a, b in zip(self.rates["hashed"], self.rates[self.baseline],
                                           strict=True)]
        return min(costs), max(costs)

    def median(self, side: str) -> float | None:
        return statistics.median(self.rates[side]) if side in self.rates else None


def _interleaved(trial: Trial, order: list[str]) -> dict[str, float]:
    """`trial.count` saves on each store, alternating one by one in `order` (so all sample the
    same moments of a machine whose load drifts); each side's events/s over its own time."""
    clock = time.perf_counter
    spent = dict.fromkeys(order, 0.0)
    ops = [(side, trial.ops[side]) for side in order]
    gc.collect()
    gc.disable()
    try:
        for _ in range(trial.count):
            for side, op in ops:
                started = clock()
                op()
                spent[side] += clock() - started
    finally:
        gc.enable()
    return {side: trial.count * trial.per_op / spent[side] for side in order}


def write_path(apps: dict[str, ParIndex], plan: Plan) -> list[Trial]:
    cases = {side: {case.key: case for case in library_saves(app)} for side, app in apps.items()}
    trials = [Trial(key, {side: cases[side][key].op for side in apps},
                    cases["hashed"][key].per_op) for key, _ in CASES]
    for trial in trials:  # warm up and size a repetition (every store)
        started = time.perf_counter()
        rounds = 0
        while time.perf_counter() - started < plan.repetition_seconds / 2 or rounds < 3:
            for op in trial.ops.values():
                op()
            rounds += 1
        trial.count = max(3, int(rounds * plan.repetition_seconds * 2 / len(trial.ops)
                                 / max(time.perf_counter() - started, 1e-9)))
    for repetition in range(plan.repetitions):
        for trial in trials:
            order = list(trial.ops)
            shift = repetition % len(order)  # each side goes first in turn
            for side, rate in _interleaved(trial, order[shift:] + order[:shift]).items():
                trial.rates.setdefault(side, []).append(rate)
    return trials


# -- verification ------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    events: int
    fill_seconds: float
    verify_rates: list[float]
    checkpoint_seconds: float
    proof_ms: float

    @property
    def rate(self) -> float:
        return statistics.median(self.verify_rates)


def verification(app: ParIndex, plan: Plan, key_dir: Path) -> VerifyResult:
    recorder = app.recorder
    assert isinstance(recorder, IntegrityRecorder)
    started = time.perf_counter()
    written = 0
    while written < plan.events:
        batch = min(100, plan.events - written)
        app.save(*[new_entry() for _ in range(batch)])
        written += batch
    fill_seconds = time.perf_counter() - started
    rates = []
    for _ in range(plan.verify_runs):
        gc.collect()
        report = verify(recorder)
        if not report.ok:
            raise SystemExit(f"the benchmark log does not verify: {report.first_problem}")
        rates.append(report.events / report.seconds)
    generate_key_file(key_dir / "bench.key", overwrite=True)
    started = time.perf_counter()
    signed = Checkpointer(recorder, load_signing_key(key_dir / "bench.key")).run_once(force=True)
    checkpoint_seconds = time.perf_counter() - started
    assert signed is not None and signed.tree_size == plan.events
    proofs = ProofService(recorder)
    proofs.inclusion(1)  # warms the in-memory tree
    started = time.perf_counter()
    for position in range(1, plan.events, max(1, plan.events // 50)):
        proofs.inclusion(position)
    proof_ms = (time.perf_counter() - started) * 1000 / len(range(1, plan.events,
                                                                  max(1, plan.events // 50)))
    return VerifyResult(plan.events, fill_seconds, rates, checkpoint_seconds, proof_ms)


# -- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def lines_for(store: str, trials: list[Trial]) -> list[str]:
    out = []
    labels = dict(CASES)
    for trial in trials:
        cells = [f"{rate:,.0f}" if (rate := trial.median(side)) is not None else "–"
                 for side in SIDES]
        versus_library = 1 - trial.ratio("hashed", "library")
        low, high = trial.spread
        out.append(f"| {store} | {labels[trial.key]} | {' | '.join(cells)} | "
                   f"{trial.slower:+.1%} | {low:+.1%} … {high:+.1%} | "
                   f"{verdict(trial.slower <= MAX_OVERHEAD)} | {versus_library:+.1%} |")
    return out


def report(results: dict[str, tuple[list[Trial], VerifyResult]], machine: list[tuple[str, str]],
           plan: Plan, notes: list[str], started: datetime, seconds: float,
           quick: bool) -> str:
    command = f"{Path(sys.executable).name} -m benchmarks.integrity" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    out = ["# Performance of the tamper-evident event log", "",
           "Written by `benchmarks/integrity.py`; do not edit by hand. Regenerate with "
           "`.venv/bin/python -m benchmarks.integrity`. Compare only figures taken in the same "
           "run.", "",
           f"- Date: {started:%Y-%m-%d %H:%M} UTC",
           f"- Command: `{command}`" + (" (a quick smoke run: too short to quote)" if quick
                                        else ""),
           f"- Run time: {seconds:.0f} s",
           f"- Method: each write-path case runs {plan.repetitions} repetitions of about "
           f"{plan.repetition_seconds} s; within a repetition the saves alternate one by one "
           "between the stores (so all see the same moments of a machine whose load drifts; "
           "each store goes first in turn), and each store's rate is its events over its own "
           "summed time. The table shows median events/s; *hashing costs* = 1 − the median of "
           "the per-repetition ratios of parindex's recorder to the same write path without "
           "hashing (PostgreSQL) or to the library's recorder (SQLite, where parindex's path is "
           "the library's plus the hashes). "
           f"Verification runs over a log of {plan.events:,} events "
           f"({plan.verify_runs} runs, median).", "",
           "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in machine]
    out += ["", "## Write path: with and without hashing", "",
            f"Target: hashing costs at most {MAX_OVERHEAD:.0%} of the write throughput.", "",
            "| store | case | library's recorder (events/s) | parindex's path, no hashing "
            "(events/s) | parindex's recorder (events/s) | hashing costs | per repetition "
            "(lowest … highest) | verdict | against the library's recorder |",
            "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for store, (trials, _) in results.items():
        out += lines_for(store, trials)
    out += ["", "The stores:", "",
            "- *library's recorder*: eventsourcing's own application recorder, no integrity "
            "rows. On PostgreSQL its save takes the table lock, inserts, waits for the "
            "positions to come back (a round trip with the lock held), then commits.",
            "- *parindex's recorder*: PostgreSQL — one statement, the insert function "
            "(domain/store/recorders.py): under the same table lock it inserts the events, "
            "computes each leaf (SHA-256 over position, id, version, topic and stored bytes) "
            "and the chain in SQL, inserts the integrity row and returns the positions; one "
            "round trip, the lock held only while the server works. SQLite — the library's "
            "insert, then the hashes in Python and the integrity row, in the same transaction.",
            "- *parindex's path, no hashing* (PostgreSQL only): the same single-statement "
            "function without the integrity work (benchmarks/integrity.py, "
            "`UnhashedPostgresRecorder`): what the write path would cost if parindex did not "
            "hash, hence the baseline of *hashing costs*.",
            "- *against the library's recorder*: how much slower (negative: faster) a save is "
            "with parindex's recorder than with the library's own.", ""]
    out += ["", "Where the cost goes (measured while writing this benchmark, same machine):", "",
            "- A save writes ONE integrity row holding the leaves of all its events (up to 60), "
            "so the second table's row, its index entry and its WAL are paid per save, not per "
            "event (docs/integrity.md). With a row per event (parindex 0.1) the same cases "
            "cost +9.3 / +11.7 / +12.5 % on PostgreSQL and +9.5 / +11.0 / +7.9 % on SQLite "
            "(the previous version of this report, run 2026-12-04 15:32 UTC).",
            "- PostgreSQL, 1 event (app-level saves, one variant of the insert function at a "
            "time against the unhashed path, same run): the leaf's SHA-256 about +3 %, reading "
            "the head of the log (an index probe) +2.3 %, the integrity row's INSERT +1.8 %, "
            "the chain's SHA-256 +0.5 %, the rest the extra PL/pgSQL statements. Each costs "
            "several times what it costs in a warm server-side loop: between saves the "
            "backend waits for the commit's fsync and for this process, and its caches go "
            "cold. Forms that were no cheaper: the head read folded into the INSERT, one "
            "statement of CTEs, leaves gathered by aggregates (up to 3 points more at 10 "
            "events), the new rows read back after a RETURN QUERY, leaves hashed in Python "
            "from predicted positions (3 to 5 points more).",
            "- PostgreSQL, 10 events: without the per-event SHA-256 the path costs +6.7 % "
            "instead of +8.6 %: the rest is the head read, the loop over the INSERT's "
            "RETURNING rows and the row write, paid once per save.",
            "- SQLite, 1 event: the integrity row's INSERT about +5 % (half of it the extra "
            "WAL page a commit writes and fsyncs, synchronous=FULL), the hashing in Python "
            "about +4 % (2.6 µs in a warm loop, several times that between SQLite's work). The "
            "head of the log is not read again when the new rowid follows the head this "
            "recorder wrote last.", ""]
    out += ["", "## Verification", "",
            f"Target: full verification at least {MIN_VERIFY_RATE:,} events/s.", "",
            "| store | events | verify (events/s) | verdict | first checkpoint round (s) | "
            "inclusion proof (ms) | log written at (events/s) |",
            "|---|---:|---:|---|---:|---:|---:|"]
    for store, (_, result) in results.items():
        out.append(f"| {store} | {result.events:,} | {result.rate:,.0f} | "
                   f"{verdict(result.rate >= MIN_VERIFY_RATE)} | "
                   f"{result.checkpoint_seconds:.2f} | {result.proof_ms:.2f} | "
                   f"{result.events / result.fill_seconds:,.0f} |")
    out += ["", "What the figures mean:", "",
            "- *verify*: `parindex verify` without evidence files: every events row and "
            "integrity row read back, every leaf recomputed, the chain and the leaf sequence "
            "checked, the RFC 6962 root computed (and compared with any checkpoint). The log "
            "is written 100 events a save, so its integrity rows hold 60 and 40 leaves; a log "
            "of 1-event saves has a row per event and takes the verifier's other bulk path: "
            "40,000 such saves verified at 229,000 (SQLite) and 237,000 (PostgreSQL) events/s "
            "while writing this.",
            "- *first checkpoint round*: a fresh `Checkpointer` loads every leaf hash into "
            "memory, checks the chain, computes the root and signs (later rounds only read "
            "new rows).",
            "- *inclusion proof*: `ProofService.inclusion` with a warm in-memory tree "
            "(reads the event row, recomputes its leaf, builds the audit path).",
            ""]
    if notes:
        out += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.integrity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--events", type=int, help="size of the verified log")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--output", type=Path, help="where to write the report")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.events:
        plan = dataclasses.replace(plan, events=args.events)
    output = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_before = load_average()
    notes: list[str] = []

    stores: list[tuple[str, Callable[[int], Any]]] = [("SQLite", sqlite_urls)]
    url = os.environ.get("PARINDEX_BENCH_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL
    postgres_info = None
    if not args.no_postgres:
        postgres_info, error = probe_postgres(url)
        if postgres_info is None:
            notes.append(f"PostgreSQL unreachable at {redact(url)} ({error}): SQLite only.")
            log(notes[-1])
        else:
            stores.append(("PostgreSQL", lambda count: postgres_urls(url, count)))

    results: dict[str, tuple[list[Trial], VerifyResult]] = {}
    with tempfile.TemporaryDirectory() as key_dir:
        for name, urls in stores:
            log(f"{name}:")
            with urls(4) as (library_url, unhashed_url, hashed_url, verify_url):
                apps = {"library": ParIndex(plain(settings_from_url(library_url)))}
                if name == "PostgreSQL":
                    apps["unhashed"] = ParIndex(unhashed(settings_from_url(unhashed_url)))
                apps["hashed"] = ParIndex(settings_from_url(hashed_url))
                try:
                    assert not isinstance(apps["library"].recorder, IntegrityRecorder)
                    assert type(apps["hashed"].recorder).__module__ == "domain.store.recorders"
                    log(f"  write path: {', '.join(SIDE_LABELS[side] for side in apps)}, "
                        "side by side")
                    trials = write_path(apps, plan)
                finally:
                    for each in apps.values():
                        each.close()
                app = ParIndex(settings_from_url(verify_url))
                try:
                    log(f"  writing {plan.events:,} events, then verifying them")
                    result = verification(app, plan, Path(key_dir))
                finally:
                    app.close()
            results[name] = (trials, result)
            for line in lines_for(name, trials):
                log("  " + line)
            log(f"  verify: {result.rate:,.0f} events/s over {result.events:,} events "
                f"({verdict(result.rate >= MIN_VERIFY_RATE)}); first checkpoint round "
                f"{result.checkpoint_seconds:.2f} s; inclusion proof {result.proof_ms:.2f} ms")

    seconds = time.perf_counter() - clock
    machine = [*describe(postgres_info),
               ("load average (1 min)", f"{load_before} at the start, {load_average()} at the "
                                        "end (other work on the machine slows a run)")]
    document = report(results, machine, plan, notes, started, seconds, args.quick)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    log(f"\nwrote {output}")
    failed = [name for name, (trials, result) in results.items()
              if any(t.slower > MAX_OVERHEAD for t in trials) or result.rate < MIN_VERIFY_RATE]
    log("verdict: " + ("all targets met" if not failed else
                       f"targets missed on {', '.join(failed)} (see the report)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
