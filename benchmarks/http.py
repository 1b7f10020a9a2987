"""`python -m benchmarks.http`: self-score writes over HTTP (uvicorn, PostgreSQL) with 1, 4 and
16 concurrent clients, next to the same commands called directly on a ParIndex in the same run.

In a fresh PostgreSQL schema (`bench_http_<hex>` in PARINDEX_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test; dropped at the end) it prepares a cycle in
self-assessment with one scorecard per client and server, issues unit-officer tokens, and then:

1. direct: `ParIndex.record_self_scores` from 1, 4 and 16 threads of this process (each thread
   on its own scorecard; and 4 and 16 threads on ONE scorecard, different items, which takes
   the load-change-save retry path), measured before AND after the HTTP runs, and once more
   (16 threads, own scorecards) right before each server starts;
2. HTTP: `POST /api/v1/scorecards/{id}/self-scores` with a bearer token, from 1, 4 and 16
   keep-alive connections of a small asyncio client on loopback, against three servers started
   in turn: `parindex serve --no-projections` (one uvicorn process), `parindex serve` (with the
   in-process projection runner) and `parindex serve-workers --workers 2` (what a production
   replica runs: two worker processes, each on its own SO_REUSEPORT listener);
3. in-process, one thread: the parts of one command (loads with and without their deepcopy,
   the bearer lookup) and the same POST through the ASGI app without uvicorn.

Every client (thread or connection) runs a closed loop — next request when the previous one
answered — for a warm-up, then a timed window (bounded request counts as well). Only requests
that complete inside the window count. Each request writes one event: own scorecards alternate
item 2.4 between 1 and 0.5 points; the shared scorecard gets a new note on one of the 8
self-scored items per request. It prints a table and verdicts against the issue's targets
(16 clients: at least 50 % of the direct rate, p99 under 100 ms), and writes
docs/performance-http.md (a --quick smoke run writes var/performance-http-quick.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from benchmarks.machine import cpus, describe
from benchmarks.run import (
    conninfo,
    load_average,
    markdown_table,
    probe_postgres,
    redact,
    text_table,
)
from benchmarks.scenario import ALL_ITEMS_A, SECRETARIAT, Province, officer
from domain.actors import Role
from domain.application import ParIndex
from domain.errors import DomainError
from domain.scorecard.model import SelfScoreEntry
from domain.store.config import settings_from_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "performance-http.md"
QUICK_OUTPUT = ROOT / "var" / "performance-http-quick.md"
LOG_DIR = ROOT / "var" / "benchmark-http-logs"  # server logs of runs that went wrong
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
CLIENTS = (1, 4, 16)
SHARED_CLIENTS = (4, 16)  # one scorecard, many writers (1 writer is the "own" case)
MAX_CLIENTS = max(CLIENTS)
TARGET_SHARE = 0.5  # at 16 clients, HTTP ≥ 50 % of the direct rate
TARGET_P99_MS = 100.0
REQUEST_TIMEOUT = 30.0
OWN_ITEM = "2.4"  # judgement item: points "1" / "0.5" alternately, one event per request
SHARED_ITEMS = list(ALL_ITEMS_A)  # the 8 self-scored items, one per writer
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Plan:
    warmup: float  # seconds per case before the timed window
    window: float  # seconds timed per case
    max_per_client: int  # bound on requests (commands) per client and case
    breakdown_ops: int


FULL = Plan(warmup=1.0, window=5.0, max_per_client=20_000, breakdown_ops=200)
QUICK = Plan(warmup=0.3, window=1.0, max_per_client=2_000, breakdown_ops=30)


def log(message: str) -> None:
    print(message, flush=True)


# -- measurements -------------------------------------------------------------------------------


@dataclass
class Result:
    side: str  # "direct (before)", "parindex serve --no-projections", ...
    load: str  # "own" (one scorecard per client) or "shared" (all clients, one scorecard)
    clients: int
    window: float
    latencies: list[float]  # seconds, requests completed inside the window
    unwritten: int = 0  # answered 200 but wrote nothing (should stay 0)
    errors: Counter[str] = field(default_factory=Counter)
    error_sample: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # cores used during the window
    conflicts: int | None = None  # saves that lost a race and were retried (direct only)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.window

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.latencies) * 1000 if self.latencies else None

    @property
    def p99_ms(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] * 1000


def _proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(pid: int) -> list[int]:
    found = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found += _children(int(entry.name))
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


class CpuMeter:
    """CPU used (in cores) by the server's processes, PostgreSQL's processes, this process (the
    clients, or the direct application) and the whole machine, between two samples. Processes
    are compared pid by pid: one that exits in between drops out (its share is lost, never
    negative), one that starts counts from zero."""

    def __init__(self, server_pids: list[int] | None = None) -> None:
        self.server_pids = server_pids or []

    def sample(self) -> dict[str, Any]:
        times = os.times()
        busy, _total = _machine_busy()
        return {"server": {p: _proc_ticks(p) for p in self.server_pids},
                "postgres": {p: _proc_ticks(p) for p in _postgres_pids()},
                "this process": times.user + times.system,
                "machine": busy / TICK, "clock": time.perf_counter()}

    @staticmethod
    def used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        seconds = after["clock"] - before["clock"]

        def ticks(key: str) -> float:
            return sum(max(0, value - before[key].get(pid, 0))
                       for pid, value in after[key].items()) / TICK

        return {"server": ticks("server") / seconds, "postgres": ticks("postgres") / seconds,
                "this process": (after["this process"] - before["this process"]) / seconds,
                "machine": (after["machine"] - before["machine"]) / seconds}


# -- the store ----------------------------------------------------------------------------------


class CountingParIndex(ParIndex):
    """ParIndex counting the saves that lost a race (IntegrityError: another writer took the
    version first); `_retrying` then reloads and runs the command again."""

    name = ParIndex.name  # the library names a subclass's tables after the subclass otherwise

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conflicts = 0
        self._conflicts_lock = threading.Lock()

    def _save(self, *aggregates: Any) -> int | None:
        try:
            return super()._save(*aggregates)
        except IntegrityError:
            with self._conflicts_lock:
                self.conflicts += 1
            raise


@contextmanager
def bench_schema(url: str) -> Iterator[str]:
    """A fresh schema; yields the store URL that selects it; drops it at the end."""
    import psycopg
    from psycopg import sql

    info = conninfo(settings_from_url(url))
    schema = f"bench_http_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**info, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"{url}{'&' if '?' in url else '?'}schema={schema}"
    finally:
        with psycopg.connect(**info, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        log(f"dropped schema {schema}")


def insert_stats(url: str) -> tuple[int, int]:
    """(rows ever inserted into the events table — aborted inserts included —, rows stored):
    their difference counts the saves PostgreSQL rolled back on a version conflict."""
    import psycopg
    from psycopg import sql

    settings = settings_from_url(url)
    schema = settings.library_env["POSTGRES_SCHEMA"]
    table = f"{ParIndex.name.lower()}_events"
    with psycopg.connect(**conninfo(settings), autocommit=True) as conn:
        row = conn.execute("SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = %s "
                           "AND relname = %s", (schema, table)).fetchone()
        stored = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchone()
    return (int(row[0]) if row else 0), int(stored[0])


@dataclass
class Workload:
    """Who writes where: scorecards per client for each side, and their tokens."""

    province: Province
    own: dict[str, list[tuple[str, UUID, str]]]  # side -> [(unit, scorecard, token)] per client
    shared: dict[str, tuple[str, UUID, list[str]]]  # side -> (unit, scorecard, tokens)
    flips: Counter[UUID] = field(default_factory=Counter)


SIDES = ("direct", "serve", "serve+projections", "serve-workers 2")


def prepare(app: ParIndex) -> Workload:
    units = len(SIDES) * (MAX_CLIENTS + 1)
    province = Province(app, units=units)
    own: dict[str, list[tuple[str, UUID, str]]] = {}
    shared: dict[str, tuple[str, UUID, list[str]]] = {}
    for side in SIDES:
        own[side] = []
        for _ in range(MAX_CLIENTS):
            unit = province.take_unit()
            secret, _result = app.issue_token(SECRETARIAT, officer(unit).id,
                                              Role.UNIT_OFFICER, unit)
            own[side].append((unit, province.scorecards[unit], secret))
        unit = province.take_unit()
        tokens = [app.issue_token(SECRETARIAT, f"{unit.lower()}.chuyen-vien-{k}",
                                  Role.UNIT_OFFICER, unit)[0] for k in range(MAX_CLIENTS)]
        shared[side] = (unit, province.scorecards[unit], tokens)
    return Workload(province, own, shared)


# -- what each request (command) sends -------------------------------------------------------


def own_entries(workload: Workload, card: UUID) -> list[SelfScoreEntry]:
    """Item 2.4 flipped between 1 and 0.5 points: always a change, one event."""
    workload.flips[card] += 1
    return [SelfScoreEntry(OWN_ITEM, points="1" if workload.flips[card] % 2 else "0.5")]


def shared_entries(client: int, request: int, tag: str) -> list[SelfScoreEntry]:
    """Client k writes item k mod 8 with a note of its own: always a change, one event."""
    base = SHARED_ITEMS[client % len(SHARED_ITEMS)]
    return [SelfScoreEntry(base.item_code, base.declared, base.points,
                           note=f"{tag} client {client} request {request}")]


def as_body(entries: list[SelfScoreEntry]) -> bytes:
    items = []
    for entry in entries:
        item: dict[str, Any] = {"item_code": entry.item_code}
        if entry.declared is not None:
            item["declared"] = entry.declared
        if entry.points is not None:
            item["points"] = str(entry.points)
        if entry.note:
            item["note"] = entry.note
        items.append(item)
    return json.dumps({"items": items}, ensure_ascii=False).encode("utf-8")


# -- direct: threads calling the application -------------------------------------------------


def run_direct(app: CountingParIndex, workload: Workload, load: str, clients: int, plan: Plan,
               side: str) -> Result:
    unit, shared_card, _ = workload.shared["direct"]
    tag = f"{side} {clients}"

    def command(client: int, index: int) -> bool:
        if load == "own":
            own_unit, card, _ = workload.own["direct"][client]
            result = app.record_self_scores(officer(own_unit), card,
                                            own_entries(workload, card))
        else:
            result = app.record_self_scores(officer(unit), shared_card,
                                            shared_entries(client, index, tag))
        return result.position is not None

    records: list[list[tuple[float, float, str]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []
    refused: list[str] = []
    barrier = threading.Barrier(clients + 1)
    times: dict[str, float] = {}

    def worker(client: int) -> None:
        barrier.wait()
        out = records[client]
        index = 0
        try:
            while index < plan.max_per_client and time.perf_counter() < times["end"]:
                started = time.perf_counter()
                try:
                    outcome = "wrote" if command(client, index) else "unchanged"
                except DomainError as error:  # e.g. StaleVersion after 30 lost races
                    outcome = type(error).__name__
                    if not refused:
                        refused.append(f"{outcome}: {error}")
                ended = time.perf_counter()
                out.append((ended, ended - started, outcome))
                index += 1
        except BaseException as error:  # report, don't hang the run
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    meter = CpuMeter()
    begin = time.perf_counter()
    times["window"] = begin + plan.warmup
    times["end"] = times["window"] + plan.window
    barrier.wait()
    time.sleep(max(0.0, times["window"] - time.perf_counter()))
    conflicts_before = app.conflicts
    cpu_before = meter.sample()
    time.sleep(max(0.0, times["end"] - time.perf_counter()))
    cpu_after = meter.sample()
    conflicts = app.conflicts - conflicts_before
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"direct {load} x{clients} failed: {failures[0]!r}") from failures[0]
    result = Result(side, load, clients, plan.window, [], cpu=CpuMeter.used(cpu_before,
                                                                           cpu_after),
                    conflicts=conflicts)
    for out in records:
        for ended, latency, outcome in out:
            if not (times["window"] <= ended - latency and ended <= times["end"]):
                continue
            if outcome in ("wrote", "unchanged"):
                result.latencies.append(latency)
                result.unwritten += outcome == "unchanged"
            else:
                result.errors[outcome] += 1
    result.error_sample = refused[0] if refused else ""
    return result


# -- HTTP: an asyncio client on loopback -------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.read()
    return status, body, headers.get("connection", "").lower() == "close"


async def _client(port: int, path: str, token: str, make_body: Callable[[int], bytes],
                  times: dict[str, float], max_requests: int,
                  out: list[tuple[float, float, str, bool, bytes]]) -> None:
    """One keep-alive connection in a closed loop; a dropped connection or a timeout counts as
    an error and the client reconnects."""
    head = (f"POST {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\n"
            f"authorization: Bearer {token}\r\ncontent-type: application/json\r\n")
    writer: asyncio.StreamWriter | None = None
    try:
        index = 0
        while index < max_requests and time.perf_counter() < times["end"]:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
            body = make_body(index)
            request = (head + f"content-length: {len(body)}\r\n\r\n").encode() + body
            index += 1
            started = time.perf_counter()
            try:
                writer.write(request)
                status, payload, closing = await asyncio.wait_for(_read_response(reader),
                                                                  REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                ended = time.perf_counter()
                kind = "timeout" if isinstance(error, TimeoutError) else "dropped"
                out.append((ended, ended - started, kind, False, repr(error).encode()))
                writer.close()
                writer = None
                continue
            ended = time.perf_counter()
            wrote = status == 200 and json.loads(payload).get("position") is not None
            out.append((ended, ended - started, str(status), wrote,
                        b"" if status == 200 else payload))
            if closing:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()


async def _drive(port: int, clients: list[tuple[str, str, Callable[[int], bytes]]],
                 plan: Plan, meter: CpuMeter) -> tuple[list[list[Any]], dict[str, float],
                                                       dict[str, float]]:
    records: list[list[Any]] = [[] for _ in clients]
    begin = time.perf_counter()
    times = {"window": begin + plan.warmup, "end": begin + plan.warmup + plan.window}
    samples: dict[str, dict[str, Any]] = {}

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, times["window"] - time.perf_counter()))
        samples["before"] = meter.sample()
        await asyncio.sleep(max(0.0, times["end"] - time.perf_counter()))
        samples["after"] = meter.sample()

    await asyncio.gather(sampler(), *(
        _client(port, path, token, make_body, times, plan.max_per_client, records[k])
        for k, (path, token, make_body) in enumerate(clients)))
    return records, times, CpuMeter.used(samples["before"], samples["after"])


def run_http(port: int, workload: Workload, side: str, label: str, load: str, clients: int,
             plan: Plan, meter: CpuMeter) -> Result:
    tag = f"{label} {clients}"
    plan_clients: list[tuple[str, str, Callable[[int], bytes]]] = []
    for k in range(clients):
        if load == "own":
            _, card, token = workload.own[side][k]

            def make(index: int, card: UUID = card) -> bytes:
                return as_body(own_entries(workload, card))
        else:
            _, card, tokens = workload.shared[side]
            token = tokens[k]

            def make(index: int, client: int = k) -> bytes:
                return as_body(shared_entries(client, index, tag))
        plan_clients.append((f"/api/v1/scorecards/{card}/self-scores", token, make))
    meter.server_pids = _children(meter.server_pids[0]) if meter.server_pids else []
    records, times, cpu = asyncio.run(_drive(port, plan_clients, plan, meter))
    result = Result(label, load, clients, plan.window, [], cpu=cpu)
    for out in records:
        for ended, latency, status, wrote, payload in out:
            if not (times["window"] <= ended - latency and ended <= times["end"]):
                continue
            if status != "200":
                result.errors[status] += 1
                if not result.error_sample:
                    result.error_sample = payload[:300].decode("utf-8", "replace")
                continue
            result.latencies.append(latency)
            result.unwritten += not wrote
    return result


# -- servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    side: str  # key into the workload
    label: str
    argv: list[str]
    workers: int
    projections: bool
    shown: str  # the command as a reader would type it
    note: str = ""


def servers(port: int, log_level: str = "warning") -> list[Server]:
    bin_dir = Path(sys.executable).parent
    parindex = str(bin_dir / "parindex")
    common = ["--host", HOST, "--port", str(port), "--log-level", log_level]
    # info level: the workers log "Application startup complete." (counted before the runs)
    # and a worker's death; parindex's access log goes to the same stream
    workers = [parindex, "serve-workers", "--workers", "2", "--host", HOST, "--port", str(port),
               "--log-level", "info"]
    return [
        Server("serve", "parindex serve --no-projections",
               [parindex, "serve", "--no-projections", *common], 1, False,
               shlex.join(["parindex", "serve", "--no-projections", *common])),
        Server("serve+projections", "parindex serve (projection runner in-process)",
               [parindex, "serve", *common], 1, True, shlex.join(["parindex", "serve", *common])),
        Server("serve-workers 2", "parindex serve-workers --workers 2", workers, 2, False,
               shlex.join(["parindex", *workers[1:]]),
               "the production replica: no projection runner (`parindex project` runs apart), "
               "each worker on its own SO_REUSEPORT listener (api/listeners.py)"),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\nconnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


START_ATTEMPTS = 5
STARTUP_FAILED = ("Application startup failed", "failed to start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the group this run started
            process.wait(timeout=10)


def _wait_ready(server: Server, process: subprocess.Popen[bytes], port: int,
                log_path: Path) -> str | None:
    """None once the server answers (with every worker started), else why not."""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        failed = next((line for line in text.splitlines()
                       if any(mark in line for mark in STARTUP_FAILED)), None)
        if failed or process.poll() is not None:
            cause = [line for line in text.splitlines() if "Error" in line]
            return (f"{failed or f'exited with {process.returncode}'}"
                    + (f" ({cause[-1].strip()})" if cause else ""))
        if not answered:
            with suppress(OSError, ValueError, IndexError):
                answered = http_get(port, "/health", timeout=2)[0] < 500
        started = text.count("Application startup complete.")
        if answered and (server.workers == 1 or started >= server.workers):
            time.sleep(1.0 if server.workers > 1 else 0.0)  # the supervisor's first check
            if not any(mark in log_path.read_text(errors="replace")
                       for mark in STARTUP_FAILED):
                return None
        time.sleep(0.2)
    return "did not answer within 60 s"


@contextmanager
def running(server: Server, port: int, env: dict[str, str], log_path: Path,
            failed_starts: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """The server, started (up to START_ATTEMPTS times: a start that fails is recorded in
    `failed_starts`, with its log kept under var/)."""
    for attempt in range(1, START_ATTEMPTS + 1):
        with log_path.open("wb") as output:
            process = subprocess.Popen(server.argv, cwd=ROOT, env=env, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        why = _wait_ready(server, process, port, log_path)
        if why is None:
            break
        _stop(process)
        kept = LOG_DIR / f"{server.side.replace(' ', '_')}-start-{attempt}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(log_path.read_text(errors="replace"), encoding="utf-8")
        failed_starts.append(f"{why} (log: {kept.relative_to(ROOT)})")
        log(f"  start {attempt} failed: {why}")
    else:
        raise RuntimeError(f"{server.label} did not start in {START_ATTEMPTS} attempts")
    try:
        yield process
    finally:
        _stop(process)


def projection_lag(port: int) -> dict[str, Any]:
    """The views' lag behind the store, from /health."""
    with suppress(OSError, ValueError, KeyError):
        status, body = http_get(port, "/health")
        health = json.loads(body)
        lags = [view["lag"] for view in health.get("views", [])]
        return {"status": status, "lag": max(lags) if lags else None,
                "head": health["store"]["head_position"]}
    return {"status": None, "lag": None, "head": None}


def wait_for_projections(port: int, seconds: float) -> tuple[int | None, float | None]:
    """(lag right after the writes stopped, seconds until the views caught up)."""
    first = projection_lag(port)["lag"]
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        lag = projection_lag(port)["lag"]
        if lag == 0:
            return first, time.perf_counter() - started
        time.sleep(0.2)
    return first, None


# -- in-process breakdown ------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    wall_ms: float  # median
    cpu_ms: float  # this process's CPU per call (all threads), mean


async def _asgi_post(app: Any, path: str, token: str, body: bytes) -> int:
    """One POST through the ASGI app in this process: no socket, no uvicorn."""
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the app never waits for a disconnect here
        return {"type": "http.disconnect"}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": (HOST, 1), "server": (HOST, 80),
             "headers": [(b"host", HOST.encode()),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    return status


def breakdown(app: ParIndex, workload: Workload, ops: int) -> list[Part]:
    """The parts of one self-score command: one thread, cache warm, medians."""
    from api.app import create_app
    from projections.store import ViewStore

    unit, card, token = workload.own["direct"][0]
    cycle_id = workload.province.cycle_id
    actor = officer(unit)
    repository = app.repository

    def timed(name: str, action: Callable[[], Any]) -> Part:
        action()
        values = []
        cpu = time.process_time()
        for _ in range(ops):
            started = time.perf_counter()
            action()
            values.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
        return Part(name, statistics.median(values) * 1000, cpu / ops * 1000)

    parts = [
        timed("command: record_self_scores in-process",
              lambda: app.record_self_scores(actor, card, own_entries(workload, card))),
        timed("load the cycle (cache hit, fast-forward query, deepcopy)",
              lambda: app.cycle(cycle_id)),
        timed("load the cycle without the deepcopy",
              lambda: repository.get(cycle_id, deepcopy_from_cache=False)),
        timed("load the scorecard (cache hit, fast-forward query, deepcopy)",
              lambda: app.scorecard(card)),
        timed("load the scorecard without the deepcopy",
              lambda: repository.get(card, deepcopy_from_cache=False)),
        timed("authenticate(token): load the token aggregate", lambda: app.authenticate(token)),
    ]
    views = ViewStore(app.settings)
    try:
        asgi = create_app(app, views, None)
        path = f"/api/v1/scorecards/{card}/self-scores"

        async def posts() -> Part:
            # One long-lived task, as under uvicorn: AnyIO keeps its worker threads for the
            # lifetime of the root task, so they are reused from call to call.
            values = []
            cpu = 0.0
            for index in range(ops + 5):
                body = as_body(own_entries(workload, card))
                started, cpu_started = time.perf_counter(), time.process_time()
                status = await _asgi_post(asgi, path, token, body)
                if index >= 5:
                    values.append(time.perf_counter() - started)
                    cpu += time.process_time() - cpu_started
                if status != 200:
                    raise RuntimeError(f"in-process ASGI POST answered {status}")
            return Part("the same POST through the ASGI app in-process (FastAPI, "
                        "authentication, 2 thread-pool hops; no uvicorn, no socket)",
                        statistics.median(values) * 1000, cpu / ops * 1000)

        parts.append(asyncio.run(posts()))
    finally:
        views.close()
    return parts


# -- reporting ----------------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


BEFORE, AFTER = "direct (before)", "direct (after)"
PAIRED = "direct, before starting "  # + the server's label


def direct_rate(results: list[Result], load: str, clients: int) -> float | None:
    """The mean of the direct runs before and after the HTTP runs."""
    rates = [r.rate for r in results if r.side in (BEFORE, AFTER) and r.load == load
             and r.clients == clients]
    return statistics.mean(rates) if rates else None


def paired_direct(results: list[Result], label: str) -> Result | None:
    """The direct run at 16 threads taken right before this server started."""
    return next((r for r in results if r.side == PAIRED + label), None)


def other_cpu(r: Result) -> float | None:
    """Cores busy with work that is neither the server, PostgreSQL nor this process: other
    programs on the machine."""
    if "machine" not in r.cpu:
        return None
    return max(0.0, r.cpu["machine"] - r.cpu.get("server", 0.0) - r.cpu.get("postgres", 0.0)
               - r.cpu.get("this process", 0.0))


def table(results: list[Result]) -> list[list[str]]:
    header = ["side", "writers", "clients", "requests/s", "median ms", "p99 ms",
              "÷ direct", "errors", "retries", "server CPU", "PG CPU", "client/app CPU",
              "other CPU"]
    lines = [header]
    for r in results:
        direct = direct_rate(results, r.load, r.clients)
        is_direct = r.side.startswith("direct")
        share = "–" if is_direct or not direct else f"{r.rate / direct:.0%}"
        paired = None if is_direct else paired_direct(results, r.side)
        if paired and r.load == "own" and r.clients == MAX_CLIENTS and paired.rate:
            share += f" (paired {r.rate / paired.rate:.0%})"
        errors = ", ".join(f"{n}×{code}" for code, n in sorted(r.errors.items())) or "0"
        if r.unwritten:
            errors += f" ({r.unwritten} wrote nothing)"
        lines.append([
            r.side, "own scorecard" if r.load == "own" else "one scorecard", str(r.clients),
            number(r.rate), number(r.median_ms), number(r.p99_ms), share, errors,
            "–" if r.conflicts is None else f"{r.conflicts:,}",
            "–" if is_direct else cores(r.cpu.get("server")),
            cores(r.cpu.get("postgres")), cores(r.cpu.get("this process")),
            cores(other_cpu(r))])
    return lines


def verdicts(results: list[Result]) -> list[str]:
    """At 16 clients: the rate against the direct rate (own scorecards: the direct run taken
    right before that server started, else the mean of before and after), and p99."""
    out = []
    for load, what in (("own", "own scorecards"), ("shared", "one shared scorecard")):
        mean = direct_rate(results, load, MAX_CLIENTS)
        for r in results:
            if r.side.startswith("direct") or r.load != load or r.clients != MAX_CLIENTS:
                continue
            paired = paired_direct(results, r.side) if load == "own" else None
            direct = paired.rate if paired else mean
            share = r.rate / direct if direct else 0.0
            p99 = r.p99_ms if r.p99_ms is not None else float("inf")
            rate_ok = share >= TARGET_SHARE
            p99_ok = p99 < TARGET_P99_MS
            refused = sum(r.errors.values())
            against = (f"the direct {number(direct)} commands/s measured just before that "
                       "server started"
                       + (f"; {r.rate / mean:.0%} of the before/after mean {number(mean)}"
                          if mean else "")
                       if paired else f"the direct {number(direct)} commands/s (before/after "
                       "mean)")
            out.append(
                f"{r.side}, {MAX_CLIENTS} clients on {what}: {number(r.rate)} requests/s = "
                f"{share:.0%} of {against} — {'PASS' if rate_ok else 'FAIL'} (target ≥ "
                f"{TARGET_SHARE:.0%}); p99 {number(p99)} ms — {'PASS' if p99_ok else 'FAIL'} "
                f"(target < {TARGET_P99_MS:.0f} ms)"
                + (f"; {refused} requests failed "
                   f"({', '.join(f'{n}×{kind}' for kind, n in sorted(r.errors.items()))}) — "
                   "FAIL (target: none)" if refused else ""))
    return out


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _server_stack() -> str:
    """What uvicorn's "auto" picks here: httptools or h11, uvloop or asyncio."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} and the {loop} event loop (what uvicorn's 'auto' finds installed)"


def command_line() -> str:
    python = Path(sys.executable)
    with suppress(ValueError):
        python = python.relative_to(ROOT)
    args = sys.argv[1:]
    return f"{python} -m benchmarks.http" + (f" {shlex.join(args)}" if args else "")


def _find(results: list[Result], side_prefix: str, load: str, clients: int) -> Result | None:
    for r in results:
        if r.side.startswith(side_prefix) and r.load == load and r.clients == clients:
            return r
    return None


def _paired_share(results: list[Result], r: Result | None) -> str:
    paired = paired_direct(results, r.side) if r else None
    if r is None or paired is None or not paired.rate:
        return "–"
    return f"{r.rate / paired.rate:.0%}"


def _per_op_ms(r: Result | None, key: str) -> float | None:
    """CPU milliseconds of `key` per request (command) during the window."""
    if r is None or not r.rate or key not in r.cpu:
        return None
    return r.cpu[key] / r.rate * 1000


def _part(parts: list[Part], prefix: str) -> Part | None:
    return next((p for p in parts if p.name.startswith(prefix)), None)


SERVE = "parindex serve --no-projections"


def _gave_up(results: list[Result]) -> str:
    """Commands on the shared scorecard that lost the race 30 times and were refused."""
    failed = [(r, sum(n for kind, n in r.errors.items() if kind in ("409", "StaleVersion")))
              for r in results if r.load == "shared"]
    failed = [(r, n) for r, n in failed if n]
    if not failed:
        return " No command gave up."
    return (" Commands that lost all 30 races and were refused (StaleVersion; HTTP 409): "
            + "; ".join(f"{r.side} at {r.clients}: {n} of {n + len(r.latencies)}"
                        for r, n in failed) + ".")


def findings(results: list[Result], parts: list[Part], extras: dict[str, Any]) -> list[str]:
    """What limits throughput, from this run's figures."""
    lines = []
    n = MAX_CLIENTS
    d1, d16 = direct_rate(results, "own", 1), direct_rate(results, "own", n)
    h1, h16 = _find(results, SERVE, "own", 1), _find(results, SERVE, "own", n)
    direct16 = [r for r in results if r.side.startswith("direct") and r.load == "own"
                and r.clients == n]
    everything = [r for r in results if r.cpu]
    if everything:
        busy = statistics.mean(r.cpu.get("machine", 0.0) for r in everything)
        others = statistics.mean(other_cpu(r) or 0.0 for r in everything)
        lines.append(
            f"The machine: {cpus()} cores, on average {busy:.2f} of them busy during the timed "
            f"windows, {others:.2f} with other programs (load average "
            f"{extras.get('load', '?')}). Every figure here is what parindex got of a "
            + ("shared, saturated machine: expect more on a quiet one."
               if others > 0.3 * cpus() else "mostly quiet machine."))
    if d1 and d16:
        app_ms = statistics.mean(_per_op_ms(r, "this process") or 0.0 for r in direct16)
        lines.append(
            f"Direct commands go from {number(d1)}/s on 1 thread to {number(d16)}/s on {n} "
            f"({d16 / d1:.1f}×). Every save is one call of the insert function, which takes "
            "the EXCLUSIVE lock on the events table (gap-free global positions), inserts and "
            "hashes the events and commits, so saves are serialised, but only for the "
            "server's own work: the lock is never held across a round trip to the "
            "application. The rest of a command — two aggregate loads (scorecard and cycle; "
            "over HTTP a third, the token), each with a fast-forward query, checks, encoding — "
            "is Python under one GIL per process. CPU per command "
            f"in-process: {number(app_ms)} ms at {n} threads.")
    if h1 and h16 and d1:
        asgi = _part(parts, "the same POST")
        command = _part(parts, "command:")
        text = (f"HTTP, one client: median {number(h1.median_ms)} ms against "
                f"{number(1000 / d1)} ms per direct command (1 thread). ")
        if asgi and command:
            text += (f"The same POST through the ASGI app in this process (no uvicorn, no "
                     f"socket) costs {asgi.wall_ms:.1f} ms ({asgi.cpu_ms:.1f} ms CPU) against "
                     f"{command.wall_ms:.1f} ms ({command.cpu_ms:.1f} ms CPU) for the bare "
                     "command: FastAPI and pydantic, the bearer lookup (one more aggregate "
                     "load with its query) and two hops into AnyIO's thread pool "
                     "(`current_actor` is a sync dependency — it reads the token from the "
                     "store — and the route is a sync function), each a thread wake-up that "
                     "waits for a free core on a busy machine. ")
        server16 = _per_op_ms(h16, "server")
        server1 = _per_op_ms(h1, "server")
        text += (f"The server process used {number(server1)} ms of CPU per request at 1 client "
                 f"and {number(server16)} ms at {n} "
                 f"({cores(h16.cpu.get('server'))} cores for {number(h16.rate)} requests/s; "
                 f"uvicorn's HTTP parsing and the socket come on top of the ASGI figure), "
                 f"PostgreSQL {cores(h16.cpu.get('postgres'))} cores, the client "
                 f"{cores(h16.cpu.get('this process'))}.")
        lines.append(text)
    if h16 and h16.rate and h16.p99_ms and d16:
        paired = paired_direct(results, h16.side)
        mean_ms = 1000 * n / h16.rate
        tail = h16.p99_ms / mean_ms
        needed = n * tail / (TARGET_P99_MS / 1000)
        server_ms = _per_op_ms(h16, "server")
        ceiling = 1000 / server_ms if server_ms else None
        direct_p99 = paired.p99_ms if paired else None
        text = (
            f"Latency at {n} clients follows from throughput: {n} clients that each wait for "
            f"their answer make the mean latency {n} ÷ requests/s (Little's law). "
            f"`{SERVE}` did {number(h16.rate)} requests/s, so a mean of {mean_ms:.0f} ms, and "
            f"its p99 was {tail:.1f}× that mean; a p99 under {TARGET_P99_MS:.0f} ms with the "
            f"same spread needs about {number(needed)} requests/s. ")
        if ceiling:
            text += (f"At {number(server_ms)} ms of server CPU per request one uvicorn process "
                     f"tops out near {number(ceiling)} requests/s even with a whole core (it "
                     "cannot use more: one GIL). ")
        if direct_p99 is not None and paired:
            text += (f"The direct commands measured just before that server started did "
                     f"{number(paired.rate)}/s with a p99 of {number(direct_p99)} ms"
                     + (" — inside the target, so here the HTTP layer's extra CPU per write "
                        "(above) is what pushes p99 over it."
                        if direct_p99 < TARGET_P99_MS else
                        " — over the target even without HTTP, so the write path itself (the "
                        "serialised save and the Python around it) must get faster first."))
        lines.append(text)
    w16 = _find(results, "parindex serve-workers", "own", n)
    if h16 and w16:
        lines.append(
            f"Two workers (`parindex serve-workers --workers 2`): {number(w16.rate)} requests/s "
            f"at {n} clients, {_paired_share(results, w16)} of the direct rate measured just "
            f"before that server started, against {number(h16.rate)} "
            f"({_paired_share(results, h16)}) for one process; p99 {number(w16.p99_ms)} ms "
            f"against {number(h16.p99_ms)} ms. Each worker listens on its own SO_REUSEPORT "
            "socket, so the kernel spreads the clients' connections over both (with one shared "
            "socket, as uvicorn's supervisor does, whichever worker woke first accepted the "
            "whole burst and the second idled); a second process escapes the first one's GIL, "
            f"but on this {cpus()}-core machine it competes for CPU with PostgreSQL, the client "
            "and whatever else runs.")
    p16 = _find(results, "parindex serve (projection", "own", n)
    if h16 and p16:
        lag = extras.get("projection_lag")
        catch = extras.get("projection_catch_up")
        lag_text = ""
        if lag is not None:
            lag_text = (f" When the writes stopped the views were {lag:,} events behind"
                        + (f" and caught up {catch:.1f} s later." if catch is not None
                           else " and had not caught up within 30 s."))
        start = extras.get("projection_start")
        if start and start[0] is not None:
            lag_text += (f" (At start it had {start[0]:,} events of earlier runs to project; "
                         + (f"it caught up in {start[1]:.1f} s, before the first timed run.)"
                            if start[1] is not None else "it had not caught up within 60 s.)"))
        lines.append(
            f"The in-process projection runner: {number(p16.rate)} requests/s at {n} clients "
            f"with it ({_paired_share(results, p16)} of the direct rate measured just before "
            "that server started), "
            f"{number(h16.rate)} without ({_paired_share(results, h16)}), p99 "
            f"{number(p16.p99_ms)} ms against {number(h16.p99_ms)} ms; it shares the "
            f"process's GIL with the request threads (server CPU {cores(p16.cpu.get('server'))} "
            f"cores against {cores(h16.cpu.get('server'))}).{lag_text}")
    s16 = _find(results, SERVE, "shared", n)
    ds = [r for r in results if r.side.startswith("direct") and r.load == "shared"
          and r.clients == n]
    if s16:
        conflicts = extras.get("http_conflicts", {}).get(SERVE)
        retried = sum(r.conflicts or 0 for r in ds)
        done = sum(len(r.latencies) for r in ds)
        lines.append(
            f"One scorecard, {n} writers on different items: {number(s16.rate)} requests/s, "
            f"median {number(s16.median_ms)} ms, p99 {number(s16.p99_ms)} ms over HTTP "
            f"(direct: {number(direct_rate(results, 'shared', n))} commands/s). A save that "
            "loses the race for the next version fails on the (id, version) key, is rolled "
            "back, and `ParIndex._retrying` reloads and runs the command again after a jittered "
            "back-off (up to 30 tries, up to 5 ms × try)"
            + (f"; in-process, {retried:,} saves were retried for {done:,} commands at {n} "
               f"threads ({retried / done:.1f} per command)" if ds and done else "")
            + (f"; the server rolled back {conflicts:,} inserts in its two shared-scorecard "
               "runs (PostgreSQL's n_tup_ins minus stored rows)" if conflicts is not None
               else "")
            + ". Whoever retries also holds a connection and a thread-pool slot meanwhile."
            + _gave_up(results))
    for label in extras.get("not_started", []):
        lines.append(f"`{label}` did not start in {START_ATTEMPTS} attempts and was not "
                     "measured (see the start-up race below).")
    failed = {label: starts for label, starts in extras.get("failed_starts", {}).items()
              if starts}
    if failed:
        lines.append(
            "Start-up race: "
            + "; ".join(f"{len(starts)} start(s) of `{label}` failed" for label, starts
                        in failed.items())
            + " (each then started again). Every process runs the recorder's DDL when it "
            "builds its ParIndex, including the library's `CREATE OR REPLACE FUNCTION "
            "<schema>.es_insert_events_uuid(...)`; two workers doing it at the same moment "
            "collide with PostgreSQL's \"tuple concurrently updated\", that worker's lifespan "
            "fails, and uvicorn's supervisor then stops the whole server. First failure: "
            + next(iter(failed.values()))[0].replace("ERROR:", "").strip() + ".")
    cycle, cycle_bare = _part(parts, "load the cycle ("), _part(parts, "load the cycle with")
    card, card_bare = _part(parts, "load the scorecard ("), _part(parts, "load the scorecard w")
    token, command = _part(parts, "authenticate"), _part(parts, "command:")
    if cycle and cycle_bare and card and card_bare and token and command:
        loads = cycle_bare.wall_ms + card.wall_ms
        lines.append(
            f"Inside one command ({command.wall_ms:.1f} ms, {command.cpu_ms:.1f} ms CPU, one "
            f"thread, cache warm): it loads the cycle read-only (cache hit and fast-forward "
            f"query, no copy: {cycle_bare.wall_ms:.2f} ms; a copy of the cached cycle of "
            f"{extras.get('units', '?')} units would add "
            f"{max(0.0, cycle.wall_ms - cycle_bare.wall_ms):.2f} ms) and the scorecard with the "
            f"copy it changes ({card.wall_ms:.2f} ms, of which "
            f"{max(0.0, card.wall_ms - card_bare.wall_ms):.2f} ms is the copy: "
            "`Scorecard.__deepcopy__` copies only its top-level dicts). The rest, "
            f"{max(0.0, command.wall_ms - loads):.1f} ms, is the checks, the new event and "
            "the save (one call of the insert function: lock, insert, hashes, commit). Over "
            f"HTTP the bearer lookup adds {token.wall_ms:.2f} ms per request (token aggregate: "
            "query and copy).")
    return lines


def report(results: list[Result], parts: list[Part], extras: dict[str, Any],
           machine: list[tuple[str, str]], plan: Plan, quick: bool, started: datetime,
           seconds: float) -> str:
    out = [
        "# Self-score writes over HTTP",
        "",
        "Written by `benchmarks/http.py`; do not edit by hand. Regenerate with "
        "`.venv/bin/python -m benchmarks.http`. Compare only figures taken in the same run: "
        "the speed of a shared machine drifts by tens of percent between runs.",
        "",
    ]
    if quick:
        out += ["**This is a --quick smoke run (short windows): do not quote these figures.**",
                ""]
    out += [
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command_line()}`",
        f"- Run time: {seconds:.0f} s",
        "- Target (issue): at 16 clients, HTTP ≥ 50 % of the direct rate measured in the same "
        "run, p99 < 100 ms.",
        f"- Method: each case runs every client (HTTP connection or thread) in a closed loop — "
        f"the next request when the previous one answered — for a {plan.warmup:g} s warm-up, "
        f"then a {plan.window:g} s timed window (at most {plan.max_per_client:,} requests per "
        "client). Only requests completed inside the window count; latency runs from sending "
        "the request to the last byte of the answer. Every request writes one event. The "
        "direct cases run before and after the HTTP cases (*÷ direct* compares with their "
        "mean), and the 16-thread own-scorecard case once more right before each server starts "
        "(*paired*: the same minutes' machine).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {label} | {value} |" for label, value in machine]
    out += ["", "## Results", "", markdown_table(table(results)), "",
            "Columns: *writers* — each client writes its own unit's scorecard, or all clients "
            "write one scorecard (each a different item); *÷ direct* — requests/s against the "
            "mean of the two direct runs with the same clients and writers; *errors* — non-200 "
            "answers; *retries* — saves that lost the race for the next version and were run "
            "again (counted in-process, direct rows only; the servers' are under Setup); "
            "*CPU* columns — cores used during the window by the server process(es), all "
            "PostgreSQL processes, this process (the asyncio client, or the application for "
            "direct rows), and everything else on the machine.",
            "", "## Verdicts", ""]
    out += [f"- {line}" for line in verdicts(results)]
    out += ["", "## What limits throughput", ""]
    out += [f"- {line}" for line in findings(results, parts, extras)]
    if parts:
        out += ["", "## One command, in-process", "",
                f"One thread, cache warm, {plan.breakdown_ops} calls each, right after the "
                "direct (before) cases.", "",
                "| part | median ms | CPU ms per call |", "|---|---:|---:|"]
        out += [f"| {p.name} | {p.wall_ms:.2f} | {p.cpu_ms:.2f} |" for p in parts]
    out += ["", "## Setup", ""]
    out += [f"- {line}" for line in extras.get("setup", [])]
    out.append("")
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http",
        description="Self-score writes over HTTP (uvicorn, PostgreSQL) with 1, 4 and 16 "
                    "clients against direct application-level commands; prints a table and "
                    "writes a report.")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run with short windows; writes "
                             f"{QUICK_OUTPUT.relative_to(ROOT)} unless --output is given")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the report (default "
                             f"{DEFAULT_OUTPUT.relative_to(ROOT)})")
    return parser.parse_args(argv)


def _direct_suite(url: str, workload: Workload, plan: Plan, side: str,
                  parts: list[Part] | None) -> list[Result]:
    app = CountingParIndex(settings_from_url(url))
    try:
        results = []
        for load, counts in (("own", CLIENTS), ("shared", SHARED_CLIENTS)):
            for clients in counts:
                result = run_direct(app, workload, load, clients, plan, side)
                log(f"  {side}, {load}, {clients} threads: {number(result.rate)}/s, median "
                    f"{number(result.median_ms)} ms, p99 {number(result.p99_ms)} ms, "
                    f"retries {result.conflicts}"
                    + (f", errors {dict(result.errors)}: {result.error_sample}"
                       if result.errors else ""))
                results.append(result)
        if parts is not None:
            parts += breakdown(app, workload, plan.breakdown_ops)
        return results
    finally:
        app.close()


def _paired_direct(url: str, workload: Workload, plan: Plan, label: str) -> Result:
    """Direct, 16 threads on own scorecards, from a fresh application closed right after (its
    connections' statistics must be flushed before the server's conflicts are counted)."""
    app = CountingParIndex(settings_from_url(url))
    try:
        result = run_direct(app, workload, "own", MAX_CLIENTS, plan, PAIRED + label)
    finally:
        app.close()
    log(f"  direct before starting it, own, {MAX_CLIENTS} threads: {number(result.rate)}/s, median "
        f"{number(result.median_ms)} ms, p99 {number(result.p99_ms)} ms")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_before = load_average()
    base_url = (os.environ.get("PARINDEX_BENCH_POSTGRES_URL", "").strip()
                or DEFAULT_POSTGRES_URL)
    postgres_info, error = probe_postgres(base_url)
    if postgres_info is None:
        log(f"PostgreSQL unreachable at {redact(base_url)} ({error}); this benchmark needs it.")
        return 2
    results: list[Result] = []
    parts: list[Part] = []
    extras: dict[str, Any] = {"http_conflicts": {}, "setup": []}
    with bench_schema(base_url) as url, \
            tempfile.TemporaryDirectory(prefix="parindex-http-bench-") as scratch:
        log(f"store: {redact(url)}")
        app = ParIndex(settings_from_url(url))
        try:
            setup_started = time.perf_counter()
            workload = prepare(app)
            recorder = type(app.recorder)
            extras["setup"].append(
                f"One cycle in self-assessment with {len(workload.province.scorecards)} "
                f"units (the cycle aggregate every command loads holds them all): "
                f"{MAX_CLIENTS} own scorecards and one shared scorecard for each of the "
                f"{len(SIDES)} sides (direct and {len(SIDES) - 1} servers), with unit-officer "
                f"tokens; prepared in {time.perf_counter() - setup_started:.1f} s.")
            extras["units"] = len(workload.province.scorecards)
            extras["setup"].append(
                f"Recorder: {recorder.__module__}.{recorder.__name__} "
                f"(APPLICATION_RECORDER_TOPIC="
                f"{app.settings.library_env.get('APPLICATION_RECORDER_TOPIC', 'default')}); "
                f"pool {app.settings.library_env['POSTGRES_POOL_SIZE']} + "
                f"{app.settings.library_env['POSTGRES_MAX_OVERFLOW']} connections per process.")
        finally:
            app.close()
        log(f"prepared {len(workload.province.scorecards)} scorecards; direct (before):")
        results += _direct_suite(url, workload, plan, BEFORE, parts)

        env = {**os.environ, "PARINDEX_DATABASE_URL": url,
               "PARINDEX_BLOB_DIR": str(Path(scratch) / "blobs")}
        port = free_port()
        for server in servers(port):
            log(f"{server.label} on {HOST}:{port}:")
            # The direct rate to pair with this server's 16-client run, taken before the
            # server starts (its projection runner would otherwise project these writes).
            results.append(_paired_direct(url, workload, plan, server.label))
            time.sleep(0.5)  # the closed application's backends flush their statistics
            before = insert_stats(url)
            log_path = Path(scratch) / f"{server.side}.log"
            failed_starts = extras.setdefault("failed_starts", {}).setdefault(server.label, [])
            with ExitStack() as stack:
                try:
                    process = stack.enter_context(
                        running(server, port, env, log_path, failed_starts))
                except RuntimeError as error:  # every attempt failed: report it, go on
                    log(f"  skipped: {error}")
                    extras.setdefault("not_started", []).append(server.label)
                    continue
                meter = CpuMeter(_children(process.pid))
                if server.projections:  # measure the steady state, not the first catch-up
                    lag, catch = wait_for_projections(port, 60.0)
                    extras["projection_start"] = (lag, catch)
                    log(f"  projections: {lag} events behind at start, caught up in "
                        f"{'–' if catch is None else f'{catch:.1f} s'}")
                for load, counts in (("own", CLIENTS), ("shared", SHARED_CLIENTS)):
                    for clients in counts:
                        result = run_http(port, workload, server.side, server.label, load,
                                          clients, plan, meter)
                        log(f"  {load}, {clients} clients: {number(result.rate)}/s, median "
                            f"{number(result.median_ms)} ms, p99 {number(result.p99_ms)} ms, "
                            f"server {cores(result.cpu.get('server'))} cores"
                            + (f", errors {dict(result.errors)}: {result.error_sample}"
                               if result.errors else ""))
                        results.append(result)
                if server.projections:
                    lag, catch = wait_for_projections(port, 30.0)
                    extras["projection_lag"], extras["projection_catch_up"] = lag, catch
                    log(f"  projections: lag {lag} when the writes stopped, caught up in "
                        f"{'–' if catch is None else f'{catch:.1f} s'}")
            server_log = log_path.read_text(errors="replace")
            restarts = [line for line in server_log.splitlines()
                        if "died" in line or line.startswith("ERROR:")]
            extras.setdefault("restarts", {})[server.label] = len(restarts)
            broken = any(kind != "409" for r in results if r.side == server.label
                         for kind in r.errors)  # dropped connections, timeouts, 5xx
            if restarts or broken:
                kept = LOG_DIR / f"{server.side.replace(' ', '_')}.log"
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(server_log, encoding="utf-8")
                extras.setdefault("logs", {})[server.label] = kept
                log(f"  the server's log shows {len(restarts)} worker deaths or errors; "
                    f"kept in {kept}")
            time.sleep(0.5)  # closed backends flush their statistics
            after = insert_stats(url)
            extras["http_conflicts"][server.label] = ((after[0] - before[0])
                                                      - (after[1] - before[1]))
        log("direct (after):")
        results += _direct_suite(url, workload, plan, AFTER, None)
        for server in servers(port):
            extras["setup"].append(
                f"`{server.shown}`{' ' + server.note if server.note else ''}: "
                f"{server.workers} uvicorn worker process(es), projection runner "
                f"{'in-process' if server.projections else 'off'}; PostgreSQL rolled back "
                f"{extras['http_conflicts'].get(server.label, 0):,} event inserts during its "
                "runs (version conflicts, all in the shared-scorecard runs)"
                + (f"; its log shows {extras['restarts'][server.label]} worker deaths or "
                   "errors" if extras.get("restarts", {}).get(server.label) else "")
                + (f" (log kept in {extras['logs'][server.label].relative_to(ROOT)})"
                   if server.label in extras.get("logs", {}) else "")
                + "." + (f" Starts that failed before the measured one: "
                         f"{'; '.join(extras['failed_starts'][server.label])}."
                         if extras.get("failed_starts", {}).get(server.label) else ""))
        extras["setup"].append(
            "Client: one asyncio event loop in the benchmark process, one keep-alive HTTP/1.1 "
            f"connection per client, on loopback; uvicorn {_version('uvicorn')} with "
            f"{_server_stack()}; sync routes and dependencies run in AnyIO's thread pool "
            "(40 threads).")

    seconds = time.perf_counter() - clock
    extras["load"] = f"{load_before} at the start, {load_average()} at the end"
    lines = table(results)
    print()
    print(text_table(lines))
    print()
    for line in verdicts(results):
        print(f"- {line}")
    print()
    for line in findings(results, parts, extras):
        print(f"- {line}")
    print()
    machine = [*describe(postgres_info),
               ("load average (1 min)", f"{extras['load']} (other work on the machine slows "
                                        "a run)")]
    machine = [(label, value) for label, value in machine if label != "SQLite"]
    document = report(results, parts, extras, machine, plan, args.quick, started, seconds)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    with suppress(ValueError):
        output = output.resolve().relative_to(Path.cwd())
    log(f"Wrote {output} in {seconds:.0f} s total.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
