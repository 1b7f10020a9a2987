"""`make bench`: how fast parindex writes, on SQLite and PostgreSQL, next to the raw drivers.

In one run, on a SQLite file in a temporary directory and on a fresh PostgreSQL schema
(`PARINDEX_BENCH_POSTGRES_URL`, default postgresql://postgres@127.0.0.1:5432/test; the schema
is dropped at the end), it measures:

1. direct saves through the ParIndex application: 1 event per save, 10 events per save,
   100 new aggregates per save;
2. the same rows written with the raw driver (sqlite3 / psycopg 3) into a table shaped like the
   library's, 1, 10 and 100 rows per transaction;
3. ParIndex commands (record_self_scores: load + change + save) on a fresh scorecard and on one
   that already holds 1,000 events, with the aggregate cache warm and cold, and the cost of
   replaying those 1,000 events without a snapshot.

Every case is warmed up, then timed in several repetitions (medians reported); within a
repetition the cases of a store run one after another, so the library and raw figures of a row
come from the same minutes. It prints a table and writes docs/performance.md (a --quick smoke
run writes var/performance-quick.md instead, unless --output says otherwise). Numbers only:
there are no thresholds.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import cases as bench_cases
from benchmarks.cases import Case
from benchmarks.machine import describe
from benchmarks.raw import RawPostgres, RawSQLite
from benchmarks.scenario import Province
from domain.application import ParIndex
from domain.store.config import StoreSettings, settings_from_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "performance.md"
QUICK_OUTPUT = ROOT / "var" / "performance-quick.md"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
NOISY = 0.3  # a spread above this gets a warning in the report
UNITS = 30  # units enrolled in the benchmark's province (the cycle is loaded by every command)


@dataclass(frozen=True)
class Plan:
    repetitions: int
    repetition_seconds: float  # the warm-up sizes each repetition to about this long
    warmup_seconds: float
    min_ops: int


FULL = Plan(repetitions=9, repetition_seconds=0.4, warmup_seconds=0.3, min_ops=5)
QUICK = Plan(repetitions=2, repetition_seconds=0.1, warmup_seconds=0.05, min_ops=2)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    raw: str | None  # what the raw driver does for this row, if it has a counterpart


ROWS = (
    Row("save-1", "save: 1 event per save", "events/s", "1 row per transaction"),
    Row("save-10", "save: 10 events of one aggregate per save", "events/s",
        "10 rows per transaction"),
    Row("save-100", "save: 100 new aggregates per save", "events/s", "100 rows per transaction"),
    Row("cmd-fresh", "command: record_self_scores, fresh scorecard", "commands/s", None),
    Row("cmd-1000", "command: record_self_scores, 1,000-event scorecard, cache warm",
        "commands/s", None),
    Row("cmd-1000-cold", "command: record_self_scores, 1,000-event scorecard, cache cold",
        "commands/s", None),
    Row("replay-1000", "load: replay all 1,001 events of that scorecard, no snapshot",
        "loads/s", None),
)
STORES = (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))


def log(message: str) -> None:
    print(message, flush=True)


# -- timing -------------------------------------------------------------------------------------


def _timed(case: Case, ops: int) -> float:
    case.begin()
    gc.collect()
    started = time.perf_counter()
    for _ in range(ops):
        case.op()
    elapsed = time.perf_counter() - started
    case.check(ops)
    return elapsed


def measure(cases: list[Case], plan: Plan) -> None:
    """Warm each case up (sizing its repetitions), then time the repetitions round-robin.

    The parindex and raw cases of a row run back to back (alternating which goes first), so
    each repetition gives a pair taken seconds apart; the rows rotate between repetitions."""
    for case in cases:
        case.begin()
        ops, started = 0, time.perf_counter()
        while ops < case.max_ops and (ops < plan.min_ops or
                                      time.perf_counter() - started < plan.warmup_seconds):
            case.op()
            ops += 1
        rate = ops / (time.perf_counter() - started)
        case.check(ops)
        case.ops = max(plan.min_ops, min(case.max_ops, round(rate * plan.repetition_seconds)))
    rows: dict[str, list[Case]] = {}
    for case in cases:
        rows.setdefault(case.key, []).append(case)
    groups = list(rows.values())
    for repetition in range(plan.repetitions):
        shift = repetition % len(groups)
        for group in groups[shift:] + groups[:shift]:
            for case in group if repetition % 2 == 0 else group[::-1]:
                elapsed = _timed(case, case.ops)
                case.rates.append(case.ops * case.per_op / elapsed)
        log(f"  repetition {repetition + 1}/{plan.repetitions} done")


# -- stores -------------------------------------------------------------------------------------


def conninfo(settings: StoreSettings) -> dict[str, Any]:
    env = settings.library_env
    return {"host": env["POSTGRES_HOST"], "port": int(env["POSTGRES_PORT"]),
            "dbname": env["POSTGRES_DBNAME"], "user": env["POSTGRES_USER"],
            "password": env["POSTGRES_PASSWORD"] or None}


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def probe_postgres(url: str) -> tuple[dict[str, str] | None, str | None]:
    """The server's version and durability settings, or why it cannot be reached."""
    import psycopg

    try:
        info = conninfo(settings_from_url(url))
        with psycopg.connect(**info, connect_timeout=3) as conn:
            found = {name: str(conn.execute(f"SHOW {name}").fetchone()[0])
                     for name in ("server_version", "fsync", "synchronous_commit")}
    except Exception as error:  # any failure to reach it means "not available"
        detail = " ".join(str(error).split()) or "no detail"  # libpq's message spans lines
        return None, f"{type(error).__name__}: {detail}"
    found["where"] = f"{info['host']}:{info['port']}/{info['dbname']}"
    return found, None


@contextmanager
def sqlite_store() -> Iterator[tuple[ParIndex, RawSQLite]]:
    with tempfile.TemporaryDirectory(prefix="parindex-bench-") as directory:
        path = Path(directory) / "events.sqlite3"
        app = ParIndex(settings_from_url(f"sqlite:///{path}"))
        raw = RawSQLite(str(path))
        try:
            yield app, raw
        finally:
            raw.close()
            app.close()


@contextmanager
def postgres_store(url: str) -> Iterator[tuple[ParIndex, RawPostgres]]:
    import psycopg
    from psycopg import sql

    info = conninfo(settings_from_url(url))
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**info, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        separator = "&" if "?" in url else "?"
        app = ParIndex(settings_from_url(f"{url}{separator}schema={schema}"))
        try:
            raw = RawPostgres(info, schema)
            try:
                yield app, raw
            finally:
                raw.close()
        finally:
            app.close()
    finally:
        with psycopg.connect(**info, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        log(f"  dropped schema {schema}")


def run_store(app: ParIndex, raw: RawSQLite | RawPostgres, plan: Plan
              ) -> tuple[dict[tuple[str, str], Case], dict[str, Any]]:
    samples = bench_cases.stored_samples(app)
    log(f"  setting up a province with {UNITS} units")
    province = Province(app, units=max(UNITS, 3 * (plan.repetitions + 1)))
    command_cases, runs = bench_cases.commands(app, province, plan.repetitions, log)
    cases = (bench_cases.library_saves(app) + bench_cases.raw_inserts(raw, samples)
             + command_cases)
    measure(cases, plan)
    details: dict[str, Any] = {
        "state_bytes": {name: len(state) for name, (_, state) in samples.items()},
        "versions": {key: run.versions for key, run in runs.items()},
    }
    if isinstance(raw, RawSQLite):
        details["sqlite"] = f"journal_mode={raw.journal_mode}, synchronous={raw.synchronous}"
    return {(case.key, case.flavour): case for case in cases}, details


# -- reporting ----------------------------------------------------------------------------------


def median(case: Case | None) -> float | None:
    return statistics.median(case.rates) if case and case.rates else None


def number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def paired_ratio(library: Case | None, raw: Case | None) -> float | None:
    """The median of the per-repetition ratios parindex/raw (each pair taken seconds apart, so
    a slow spell of the machine hits both sides of a pair alike)."""
    if library is None or raw is None or not library.rates:
        return None
    return statistics.median(a / b for a, b in zip(library.rates, raw.rates, strict=True))


def ratio(library: Case | None, raw: Case | None) -> str:
    value = paired_ratio(library, raw)
    return "–" if value is None else f"{value:.2f}"


def spread(case: Case) -> float:
    """(slowest − fastest repetition) / median, as a fraction."""
    return (max(case.rates) - min(case.rates)) / statistics.median(case.rates)


def table(results: dict[str, dict[tuple[str, str], Case]]) -> list[list[str]]:
    header = ["case", "unit"]
    for store, title in STORES:
        if store in results:
            header += [f"{title} parindex", f"{title} raw", "parindex/raw"]
    lines = [header]
    for row in ROWS:
        line = [row.label, row.unit]
        for store, _ in STORES:
            if store not in results:
                continue
            library = results[store].get((row.key, "parindex"))
            raw = results[store].get((row.key, "raw"))
            line += [number(median(library)), number(median(raw)), ratio(library, raw)]
        lines.append(line)
    return lines


def text_table(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for index, line in enumerate(lines):
        cells = [cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])
                 for i, cell in enumerate(line)]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def markdown_table(lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(lines[0]) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(lines[0]) - 2)) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    return "\n".join(out)


def _ms(rate: float | None) -> str:
    return "–" if not rate else f"{1000 / rate:.1f} ms"


def meaning(results: dict[str, dict[tuple[str, str], Case]]) -> list[str]:
    """What the numbers mean for parindex, from this run's figures."""
    store = "postgresql" if "postgresql" in results else "sqlite"
    title = dict(STORES)[store]
    got = results[store]

    def m(key: str, flavour: str = "parindex") -> float | None:
        return median(got.get((key, flavour)))

    lines = []
    one, hundred = m("save-1"), m("save-100")
    if one and hundred:
        lines.append(
            f"Batch writes: on {title} a save of 100 events writes {number(hundred)} events/s, "
            f"{hundred / one:.0f}× the {number(one)} events/s of one event per save. Each save is "
            "one transaction (on PostgreSQL with a table lock and a NOTIFY), so acts that produce "
            "many events — enrolment, survey imports, locking overdue sheets — "
            "should stay one save each, as ParIndex does them.")
    ratios = []
    for store_key, store_title in STORES:
        if store_key in results:
            got_here = results[store_key]
            r1 = ratio(got_here.get(("save-1", "parindex")), got_here.get(("save-1", "raw")))
            r100 = ratio(got_here.get(("save-100", "parindex")),
                         got_here.get(("save-100", "raw")))
            ratios.append(f"{store_title} {r1} at 1 event and {r100} at 100")
    if ratios:
        lines.append(
            "Library against raw driver (parindex/raw): " + "; ".join(ratios) + ". The "
            "library's own work (its transaction handling — on PostgreSQL also the table lock "
            "and the NOTIFY — and the Python mapping and transcoding of every event) is what "
            "separates the two; the disk's commit is paid by both.")
    fresh, warm, cold = m("cmd-fresh"), m("cmd-1000"), m("cmd-1000-cold")
    noise = min((spread(case) for case in (got.get(("cmd-fresh", "parindex")),
                                           got.get(("cmd-1000", "parindex"))) if case),
                default=0.0) / 2
    replay = m("replay-1000")
    if fresh and warm and cold:
        slower = fresh / warm - 1
        history = ("its history makes no difference beyond this run's noise"
                   if abs(slower) <= max(0.15, noise)
                   else f"here {abs(slower):.0%} {'slower' if slower > 0 else 'faster'} than "
                        "on a fresh one")
        lines.append(
            f"A command (load + change + save of one event) costs {_ms(fresh)} on a fresh "
            f"scorecard and {_ms(warm)} on a 1,000-event scorecard on {title} while the "
            "scorecard sits in the aggregate cache (it is fast-forwarded, not reloaded): "
            f"{history}. When it is not cached — after a restart, or once the 2,000-aggregate "
            f"cache has evicted it — a command costs {_ms(cold)}: the latest snapshot plus up "
            "to 99 events.")
    if replay and cold:
        lines.append(
            f"Without snapshots that load would replay all 1,001 events: {_ms(replay)} for the "
            f"load alone ({number(replay * 1001)} events/s decoded and applied), so the snapshot "
            "every 100 scorecard events is what keeps busy scorecards cheap to open cold.")
    if warm:
        lines.append(
            f"These are single-writer figures: about {number(warm)} commands/s on {title}. "
            "Writes to one events table are serialised (PostgreSQL: an EXCLUSIVE table lock "
            "per insert transaction; SQLite: one writer), so more workers are not expected to "
            "multiply them; this run does not measure concurrency.")
    return lines[:5]


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def command_line() -> str:
    args = sys.argv[1:]
    if os.environ.get("MAKELEVEL"):
        return "make bench" + (f" BENCH_ARGS={shlex.quote(shlex.join(args))}" if args else "")
    python = Path(sys.executable)
    with suppress(ValueError):
        python = python.relative_to(ROOT)
    return f"{python} -m benchmarks.run" + (f" {shlex.join(args)}" if args else "")


def report(results: dict[str, dict[tuple[str, str], Case]], details: dict[str, dict[str, Any]],
           machine: list[tuple[str, str]], plan: Plan, quick: bool, notes: list[str],
           started: datetime, seconds: float) -> str:
    lines = table(results)
    invoked = command_line()
    first = next(iter(details.values()), {})
    state_bytes = first.get("state_bytes", {})

    def versions(key: str, default: str) -> str:
        spans = first.get("versions", {}).get(key)
        if not spans:
            return default
        return f"{min(a for a, _ in spans):,}–{max(b for _, b in spans):,}"

    out = [
        "# Performance of parindex's event store",
        "",
        "Written by `benchmarks/run.py`; do not edit by hand. Regenerate with `make bench`. "
        "Compare only figures taken in the same run: the "
        "speed of a shared machine drifts by tens of percent between runs.",
        "",
    ]
    if quick:
        out += ["**This is a --quick smoke run (few, short repetitions): do not quote these "
                "figures.**", ""]
    out += [
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Command: `{invoked}`"
        + ("" if invoked.startswith("make bench") else " (what `make bench` runs)"),
        f"- Run time: {seconds:.0f} s",
        f"- Method: each case is warmed up, then timed in {plan.repetitions} repetitions of "
        f"about {plan.repetition_seconds:g} s (commands: at most "
        f"{bench_cases.MAX_COMMANDS_PER_SCORECARD} per repetition, each repetition on its own "
        "scorecard); the table shows medians. In every repetition the parindex and raw cases "
        "of a row run back to back, and *parindex/raw* is the median of those per-repetition "
        "ratios (so it can differ a little from the quotient of the two medians).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {label} | {value} |" for label, value in machine]
    out += ["", "## Results", "", markdown_table(lines), ""]
    worst = max((spread(case) for got in results.values() for case in got.values()),
                default=0.0)
    if worst > NOISY:
        notes = [*notes, (
            "The machine was not quiet during this run (see the load average above): the "
            f"repetitions of one case differ by up to {worst:.0%} of its median (see "
            "Repetitions below). Medians and paired ratios damp this, but the absolute figures "
            "understate a quiet machine; rerun `make bench` when nothing else runs before "
            "quoting them.")]
    if notes:
        out += [f"> {note}" for note in notes] + [""]
    out += [
        "What the rows do:",
        "",
        "- **save** rows: `ParIndex.save` of a stand-in aggregate whose events carry the fields of "
        "a scorecard's events (actor, role, UUIDs, Decimal points, declared values) through "
        "parindex's transcoder into parindex's events table; it is never snapshotted. "
        "1 event per save appends one event to one aggregate; 10 appends ten to one aggregate; "
        "100 creates 100 aggregates in one save.",
        "- **raw** columns: the same stored rows (topic and state bytes as parindex stores them"
        + (f": {state_bytes.get('recorded')} and {state_bytes.get('started')} bytes of state"
           if state_bytes else "")
        + ") inserted with sqlite3 / psycopg 3 into a table with the library's DDL, in the same "
        "database, one `BEGIN … COMMIT` per batch (psycopg pipelines `executemany`).",
        "- **command** rows: `ParIndex.record_self_scores` on item 1.1.1 with alternating values "
        "(one event per command), as a unit officer: load scorecard and cycle, check, save, "
        "and a snapshot at every 100th scorecard version. *Fresh*: the commands wrote scorecard "
        f"versions {versions('cmd-fresh', '2–100')}. *1,000-event*: the scorecard first holds "
        "1,001 events (1,000 self-scores, snapshots at every 100); the commands wrote versions "
        f"{versions('cmd-1000', '1,002–1,100')} (warm) and "
        f"{versions('cmd-1000-cold', '1,002–1,100')} (cold). *Cache warm*: as configured "
        "(`AGGREGATE_CACHE_MAXSIZE=2000`, fast-forward). *Cache cold*: the scorecard is "
        "evicted before every command, so it loads from its latest snapshot (the cycle stays "
        "cached).",
        "- **load** row: the scorecard's 1,001 events read and applied without a snapshot — "
        "what every cold load of a busy scorecard would cost without snapshots.",
        "",
        "## What this means for parindex",
        "",
    ]
    out += [f"- {line}" for line in meaning(results)]
    out += ["", "## Repetitions", "",
            "Every timed repetition (operations per repetition in brackets), with its spread "
            "((fastest − slowest) / median):", ""]
    for store, title in STORES:
        if store not in results:
            continue
        for row in ROWS:
            for flavour in ("parindex", "raw"):
                case = results[store].get((row.key, flavour))
                if case is None:
                    continue
                values = ", ".join(number(rate) for rate in case.rates)
                out.append(f"- {title}, {row.label}, {flavour} [{case.ops}]: {values} "
                           f"{row.unit} (spread {spread(case):.0%})")
    out.append("")
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Measure parindex's write throughput on SQLite and PostgreSQL next to the "
                    "raw drivers; print a table and write a report.")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 short repetitions; writes "
                             f"{QUICK_OUTPUT.relative_to(ROOT)} unless --output is given")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--require-postgres", action="store_true",
                        help="fail if PostgreSQL cannot be reached (default: measure SQLite "
                             "only, saying so)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the report (default "
                             f"{DEFAULT_OUTPUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if args.no_postgres and args.require_postgres:
        parser.error("--no-postgres and --require-postgres contradict each other")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_before = load_average()
    notes: list[str] = []

    stores: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite_store)]
    postgres_info = None
    url = os.environ.get("PARINDEX_BENCH_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL
    if args.no_postgres:
        note = "PostgreSQL skipped (--no-postgres): SQLite only."
        log(note)
        notes.append(note)
    else:
        postgres_info, error = probe_postgres(url)
        if postgres_info is None:
            if args.require_postgres:
                log(f"PostgreSQL unreachable at {redact(url)} ({error}); --require-postgres "
                    "was given, so stopping.")
                return 2
            note = (f"PostgreSQL unreachable at {redact(url)} ({error}): measuring SQLite "
                    "only. Start it or set PARINDEX_BENCH_POSTGRES_URL "
                    "(--require-postgres makes this an error).")
            log(note)
            notes.append(note)
        else:
            stores.append(("postgresql", lambda: postgres_store(url)))

    results: dict[str, dict[tuple[str, str], Case]] = {}
    details: dict[str, dict[str, Any]] = {}
    for store, open_store in stores:
        log(f"{dict(STORES)[store]}:")
        with open_store() as (app, raw):
            results[store], details[store] = run_store(app, raw, plan)

    lines = table(results)
    seconds = time.perf_counter() - clock
    print()
    print(text_table(lines))
    print()
    for line in meaning(results):
        print(f"- {line}")
    print()
    machine = [*describe(postgres_info, details.get("sqlite", {}).get("sqlite")),
               ("load average (1 min)", f"{load_before} at the start, {load_average()} at the "
                                        "end (other work on the machine slows a run)")]
    document = report(results, details, machine, plan, args.quick, notes, started, seconds)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    with suppress(ValueError):
        output = output.resolve().relative_to(Path.cwd())
    log(f"Wrote {output} in {seconds:.0f} s total.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
