"""The machine and software a benchmark ran on, for the report."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(postgres: dict[str, str] | None, sqlite: str | None = None
             ) -> list[tuple[str, str]]:
    """(label, value) rows; `postgres` holds the server's version and durability settings,
    `sqlite` the pragmas the benchmark's database ran with."""
    import psycopg

    rows = [
        ("CPU", f"{cpu_model()}, {cpus()} usable (nproc)"),
        ("memory", memory()),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()} "
                   f"({sys.executable})"),
        ("eventsourcing", _version("eventsourcing")),
        ("psycopg", f"{psycopg.__version__} ({psycopg.pq.__impl__} implementation, "
                    f"libpq {psycopg.pq.version() // 10000}.{psycopg.pq.version() % 10000})"),
        ("SQLite", f"{sqlite3.sqlite_version} (a file in a temporary directory; "
                   f"{sqlite or 'WAL mode'}, as the library leaves it)"),
    ]
    if postgres:
        rows.append(("PostgreSQL", f"{postgres['server_version']} at {postgres['where']} "
                                   f"(fsync={postgres['fsync']}, "
                                   f"synchronous_commit={postgres['synchronous_commit']})"))
    else:
        rows.append(("PostgreSQL", "not measured in this run"))
    return rows
