#!/usr/bin/env python3
"""Restore drill: prove that a backup of a parindex store restores with nothing lost.

    .venv/bin/python scripts/restore_drill.py                      # a fresh demo store
    .venv/bin/python scripts/restore_drill.py --source "$PARINDEX_DATABASE_URL" \\
        --blob-dir /srv/parindex/blobs                             # a real store (read-only)

Steps (docs/operations.md):

1. Source: the store named by --source, or a new schema on --server loaded with
   `parindex demo` (about 6,000 events) and a few evidence files.
2. Back up: `pg_dump -Fc` of the store's schema (of the whole database when the store uses
   `public`), then a tar archive of the evidence directory.
3. Restore into a NEW database on the same server (`pg_restore --single-transaction
   --exit-on-error --no-owner`), and the archive into a new directory.
4. Compare, up to the restored head position H: event count and positions, a SHA-256 per
   aggregate over its stored events (position, version, type, bytes), the integrity rows and
   the signed checkpoints; every evidence file (names, sizes, SHA-256).
5. Rebuild every view in the restored store from its events and compare every group ranking of
   every cycle with the source's ranking as of H (rebuilt from the source's events).
6. `parindex verify` on the restored store and evidence (hash chain, checkpoints, files).
7. Append one event to the restored store: it must land after H (the position sequence came
   back too).

Nothing is written to the source except, when missing, the empty `pv_meta` table the view code
creates. The restored database (and a source schema the drill made) is dropped at the end unless
--keep. Exit status 0 when every check passed, 1 otherwise; --json prints the report.
Needs pg_dump/pg_restore (same major version as the server or newer) and tar on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.store.config import StoreSettings, settings_from_url  # noqa: E402

DEFAULT_SERVER = os.environ.get("PARINDEX_TEST_POSTGRES_URL",
                                "postgresql://postgres@127.0.0.1:5432/test")
EVENTS, INTEGRITY, CHECKPOINTS = "parindex_events", "parindex_integrity", "parindex_checkpoints"


@dataclass
class Report:
    checks: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        mark = "ok  " if ok else "FAIL"
        print(f"  [{mark}] {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks)


def say(text: str) -> None:
    print(text, flush=True)


# -- connections and commands ---------------------------------------------------------------

def pg_args(settings: StoreSettings) -> tuple[list[str], dict[str, str]]:
    """Connection options for the PostgreSQL client programs (password in the environment)."""
    env = settings.library_env
    options = ["-h", env["POSTGRES_HOST"], "-p", env["POSTGRES_PORT"], "-U",
               env["POSTGRES_USER"], "-d", env["POSTGRES_DBNAME"]]
    child_env = {**os.environ}
    if env["POSTGRES_PASSWORD"]:
        child_env["PGPASSWORD"] = env["POSTGRES_PASSWORD"]
    return options, child_env


def connect(settings: StoreSettings, dbname: str | None = None) -> Any:
    import psycopg

    env = settings.library_env
    return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                           dbname=dbname or env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                           password=env["POSTGRES_PASSWORD"] or None, autocommit=True)


def schema_of(settings: StoreSettings) -> str:
    return settings.library_env.get("POSTGRES_SCHEMA") or "public"


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + quote(dbname)).geturl()


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def run(command: list[str], env: dict[str, str] | None = None, **options: Any
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, capture_output=True, text=True, **options)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result


def parindex(*args: str, url: str, blob_dir: Path | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("parindex")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    env = {**os.environ, "PARINDEX_DATABASE_URL": url}
    if blob_dir is not None:
        env["PARINDEX_BLOB_DIR"] = str(blob_dir)
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True,
                            cwd=ROOT)
    if check and result.returncode != 0:
        raise RuntimeError(f"parindex {' '.join(args)} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result


# -- backup and restore -----------------------------------------------------------------------

def backup(settings: StoreSettings, blob_dir: Path, work: Path
           ) -> tuple[Path, Path, dict[str, tuple[int, str]]]:
    """`pg_dump -Fc` of the store's schema, THEN a tar archive of the evidence directory (a file
    is stored before the event that references it, and files are never deleted, so every file
    the dumped events name is in the archive). Also the files there were once the dump ended."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = work / f"parindex-{schema_of(settings)}-{stamp}.dump"
    options, env = pg_args(settings)
    # A named schema alone (the store shares its database); else the whole database (a
    # dedicated one, as in docker-compose: `--schema=public` would make pg_restore re-create
    # the schema every new database already has).
    schema = schema_of(settings)
    only = [] if schema == "public" else [f"--schema={schema}"]
    run(["pg_dump", *options, "--format=custom", *only, f"--file={dump}"], env)
    blob_dir.mkdir(parents=True, exist_ok=True)
    files = blob_inventory(blob_dir)
    archive = work / f"evidence-{stamp}.tar"
    run(["tar", "-C", str(blob_dir), "-cf", str(archive), "."])
    return dump, archive, files


def restore(settings: StoreSettings, dump: Path, archive: Path, database: str,
            blob_target: Path) -> None:
    """Into a new database on the source's server, and a new evidence directory."""
    from psycopg import sql

    with connect(settings) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    options, env = pg_args(settings)
    options[options.index("-d") + 1] = database
    run(["pg_restore", *options, "--single-transaction", "--exit-on-error", "--no-owner",
         "--no-privileges", str(dump)], env)
    blob_target.mkdir(parents=True, exist_ok=True)
    run(["tar", "-C", str(blob_target), "-xf", str(archive)])


def drop_database(settings: StoreSettings, database: str) -> None:
    from psycopg import sql

    with connect(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database)))


# -- comparisons ------------------------------------------------------------------------------

def table_exists(conn: Any, schema: str, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)
                        ).fetchone()[0] is not None


def event_digest(conn: Any, schema: str, upto: int) -> dict[str, Any]:
    """Count, positions and a SHA-256 per aggregate over its events (position, version, type,
    stored bytes) up to position `upto`."""
    per_aggregate: dict[str, Any] = {}
    positions: list[int] = []
    with conn.transaction(), conn.cursor(name=f"drill_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = 5000
        cur.execute(f'SELECT originator_id, originator_version, notification_id, topic, state '
                    f'FROM "{schema}".{EVENTS} WHERE notification_id <= %s '
                    "ORDER BY originator_id, originator_version", (upto,))
        for originator, version, position, topic, state in cur:
            digest = per_aggregate.setdefault(str(originator), hashlib.sha256())
            digest.update(f"{position}\x00{version}\x00{topic}\x00".encode())
            digest.update(bytes(state or b""))
            digest.update(b"\x01")
            positions.append(int(position))
    return {"count": len(positions), "positions": sorted(positions),
            "aggregates": {key: value.hexdigest() for key, value in per_aggregate.items()}}


def rows_digest(conn: Any, schema: str, table: str, where: str, params: tuple[Any, ...]
                ) -> tuple[int, str]:
    if not table_exists(conn, schema, table):
        return 0, "absent"
    digest = hashlib.sha256()
    count = 0
    with conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{schema}".{table} WHERE {where} ORDER BY 1', params)
        for row in cur:
            digest.update(repr(tuple(bytes(v) if isinstance(v, memoryview) else v
                                     for v in row)).encode())
            count += 1
    return count, digest.hexdigest()


def blob_inventory(root: Path) -> dict[str, tuple[int, str]]:
    """relative path → (size, SHA-256 of the bytes)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        out[str(path.relative_to(root))] = (path.stat().st_size,
                                            hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def rankings(url: str, position: int | None, cycles: list[Any] | None = None
             ) -> tuple[dict[str, Any], Any, list[Any]]:
    """Every group ranking of every cycle (those given, or every cycle in the views): live
    from the views after a rebuild (position None), or as of `position`, rebuilt from the
    events. (rankings, the rebuild report or None, the cycle ids)"""
    from uuid import UUID

    from domain.application import ParIndex
    from projections.queries import AsOf, ReadModel
    from projections.rebuild import rebuild
    from projections.store import ViewStore

    app = ParIndex(settings_from_url(url))
    views = ViewStore(app.settings)
    try:
        rebuilt = rebuild(app, views) if position is None else None
        model = ReadModel(app, views)
        as_of = None if position is None else AsOf(position=position)
        if cycles is None:
            cycles = [UUID(row["cycle_id"]) for row in model.cycles()]
        out = {}
        for cycle in cycles:
            row = model.cycle(cycle, as_of)
            for group in row["detail"]["groups"]:
                out[f"{row['province']}/{row['year']}/{group['code']}"] = model.ranking(
                    cycle, group["code"], as_of)
        return out, rebuilt, cycles
    finally:
        views.close()
        app.close()


def appends_after(url: str, head: int) -> tuple[str, bool, str]:
    """Append one event (a token) to the restored store: it must land after `head`."""
    from domain.actors import Actor, Role
    from domain.application import ParIndex

    name = "restored store appends after the head"
    try:
        app = ParIndex(settings_from_url(url))
        try:
            _, written = app.issue_token(Actor("cli:restore-drill", Role.SYSTEM),
                                         "restore-drill", Role.INSPECTOR)
        finally:
            app.close()
    except Exception as error:
        return name, False, f"{type(error).__name__}: {error}"
    return (name, written.position is not None and written.position > head,
            f"new event at position {written.position}")


# -- the drill --------------------------------------------------------------------------------

def seed_demo(server_url: str, blob_dir: Path) -> tuple[str, str]:
    """A new schema with the demo province and a few evidence files; (url, schema)."""
    from domain.store.blobs import BlobStore

    schema = f"drill_{uuid.uuid4().hex[:12]}"
    url = with_schema(server_url, schema)
    say(f"seeding {schema} with `parindex demo` …")
    parindex("migrate", url=url)
    parindex("demo", url=url)
    store = BlobStore(blob_dir)
    for index in range(3):
        store.put(iter([f"%PDF-1.4\n% restore drill evidence {index}\n".encode() * 50]))
    return url, schema


def drill(source_url: str, blob_dir: Path, work: Path, *, keep: bool = False,
          verify: bool = True, database: str | None = None) -> Report:
    report = Report()
    settings = settings_from_url(source_url)
    if settings.kind != "postgresql":
        raise SystemExit("restore drill: the source must be a PostgreSQL store")
    schema = schema_of(settings)
    database = database or f"parindex_drill_{uuid.uuid4().hex[:10]}"
    restored_url = with_database(source_url, database)
    restored_blobs = work / "restored-blobs"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        say(f"backing up {settings.description} (schema {schema}) and {blob_dir} …")
        dump, archive, files = backup(settings, blob_dir, work)
        report.facts.update(dump=str(dump), dump_bytes=dump.stat().st_size,
                            evidence_archive=str(archive))
        say(f"restoring into database {database} and {restored_blobs} …")
        restore(settings, dump, archive, database, restored_blobs)

        with connect(settings) as source, connect(settings, database) as target:
            head = target.execute(f'SELECT coalesce(max(notification_id), 0) FROM '
                                  f'"{schema}".{EVENTS}').fetchone()[0]
            source_head = source.execute(f'SELECT coalesce(max(notification_id), 0) FROM '
                                         f'"{schema}".{EVENTS}').fetchone()[0]
            report.facts.update(restored_head=head, source_head_now=source_head)
            say(f"comparing the stored log up to position {head} …")
            got, want = event_digest(target, schema, head), event_digest(source, schema, head)
            report.check("events", got["count"] == want["count"] and got["count"] > 0,
                         f"{got['count']} restored, {want['count']} in the source")
            report.check("positions", got["positions"] == want["positions"],
                         "identical" if got["positions"] == want["positions"] else "differ")
            bad = sorted(k for k in want["aggregates"].keys() | got["aggregates"].keys()
                         if want["aggregates"].get(k) != got["aggregates"].get(k))
            report.check("per-aggregate checksums", not bad,
                         f"{len(want['aggregates'])} aggregates" if not bad else
                         f"{len(bad)} differ, e.g. {bad[:3]}")
            leaves, _ = rows_digest(target, schema, INTEGRITY, "position <= %s", (head,))
            for table, where, params in ((INTEGRITY, "position <= %s", (head,)),
                                         (CHECKPOINTS, "tree_size <= %s", (leaves,))):
                restored_rows = rows_digest(target, schema, table, where, params)
                source_rows = rows_digest(source, schema, table, where, params)
                report.check(f"{table} rows", restored_rows == source_rows,
                             f"{restored_rows[0]} rows "
                             f"{'identical' if restored_rows == source_rows else 'differ'}")
        # Every file there at backup time came back with the same bytes; nothing restored is
        # damaged (content-addressed files are named by their SHA-256).
        have = blob_inventory(restored_blobs)
        missing = sorted(name for name, entry in files.items() if have.get(name) != entry)
        misnamed = sorted(name for name, (_, digest) in have.items()
                          if len(Path(name).name) == 64 and Path(name).name != digest)
        report.check("evidence files", not missing and not misnamed,
                     f"{len(have)} files, {sum(size for size, _ in have.values())} bytes"
                     + (f"; {len(missing)} missing or changed, e.g. {missing[:3]}"
                        if missing else "")
                     + (f"; {len(misnamed)} do not match their names" if misnamed else ""))

        say("rebuilding the views in the restored store and comparing rankings …")
        try:
            restored_rankings, rebuilt, cycles = rankings(restored_url, None)
            source_rankings, _, _ = rankings(source_url, head, cycles)
        except Exception as error:  # e.g. an aggregate with a missing event cannot be built
            report.check("rankings after a rebuild", False, f"{type(error).__name__}: {error}")
        else:
            report.facts["rebuild"] = {"generation": rebuilt.generation,
                                       "events": rebuilt.events,
                                       "seconds": round(rebuilt.seconds, 3)}
            differing = sorted(k for k in source_rankings.keys() | restored_rankings.keys()
                               if source_rankings.get(k) != restored_rankings.get(k))
            report.check("rankings after a rebuild", not differing,
                         f"differ: {differing[:5]}" if differing
                         else f"{len(source_rankings)} group rankings equal" if source_rankings
                         else "no cycle to rank in this store")

        if verify:
            result = parindex("verify", "--blob-dir", str(restored_blobs), url=restored_url,
                              check=False)
            output = (result.stdout + result.stderr).strip()
            if result.returncode == 2 and "invalid choice" in output:
                report.check("parindex verify", True, "not available in this version")
            else:
                first = next((line for line in output.splitlines()
                              if line.startswith("parindex")), output[:300])
                report.check("parindex verify", result.returncode == 0, first.strip())

        report.check(*appends_after(restored_url, head))
    except Exception as error:
        report.check("drill ran", False, f"{type(error).__name__}: {error}")
    finally:
        report.facts["seconds"] = round(time.perf_counter() - started, 2)
        if keep:
            say(f"kept: database {database} ({restored_url}), {work}")
            report.facts["restored_url"] = restored_url
        else:
            with contextlib.suppress(Exception):
                drop_database(settings, database)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="the store to back up (a PARINDEX_DATABASE_URL); "
                        "default: a new demo store on --server")
    parser.add_argument("--blob-dir", type=Path, help="the source's evidence directory "
                        "(default PARINDEX_BLOB_DIR with --source, else a new one)")
    parser.add_argument("--server", default=DEFAULT_SERVER,
                        help=f"where to make the demo store (default {DEFAULT_SERVER})")
    parser.add_argument("--work", type=Path, help="where the dump and archive go "
                        "(default: a temporary directory, removed unless --keep)")
    parser.add_argument("--database", help="name of the database to restore into (must not "
                        "exist; default parindex_drill_<random>)")
    parser.add_argument("--keep", action="store_true", help="keep the restored database, the "
                        "demo schema and the files")
    parser.add_argument("--no-verify", action="store_true", help="skip `parindex verify`")
    parser.add_argument("--json", action="store_true", help="print the report as JSON last")
    args = parser.parse_args(argv)
    for tool in ("pg_dump", "pg_restore", "tar"):
        if shutil.which(tool) is None:
            print(f"restore drill: {tool} is not on PATH", file=sys.stderr)
            return 2
    made_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="parindex-drill-")) if made_work else args.work
    work.mkdir(parents=True, exist_ok=True)
    seeded_schema = None
    try:
        if args.source:
            source = args.source
            blob_dir = args.blob_dir or Path(os.environ.get("PARINDEX_BLOB_DIR", "").strip()
                                             or "var/blobs")
        else:
            blob_dir = args.blob_dir or work / "source-blobs"
            source, seeded_schema = seed_demo(args.server, blob_dir)
        report = drill(source, blob_dir, work, keep=args.keep, verify=not args.no_verify,
                       database=args.database)
    finally:
        if seeded_schema and not args.keep:
            with contextlib.suppress(Exception), connect(settings_from_url(args.server)) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{seeded_schema}" CASCADE')
        if made_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    verdict = "PASSED" if report.ok else "FAILED"
    say(f"restore drill {verdict}: {sum(c['ok'] for c in report.checks)}/"
        f"{len(report.checks)} checks in {report.facts.get('seconds')} s")
    if args.json:
        print(json.dumps({"ok": report.ok, **report.facts, "checks": report.checks},
                         default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
