"""The restore drill (scripts/restore_drill.py), fast: a small published cycle with evidence
instead of the demo province. Backed up with pg_dump and tar, restored into a new database,
compared event by event and aggregate by aggregate, views rebuilt and rankings compared,
`parindex verify` run on the copy. Then the same drill on a sabotaged restore must fail."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.commands.migrate import prepare
from domain.store.blobs import BlobStore
from domain.store.config import settings_from_url
from tests.builders import cycle_with_units, officer
from tests.projections.helpers import ROOT, open_store, run_to_head

pytestmark = pytest.mark.postgres

SCRIPT = ROOT / "scripts" / "restore_drill.py"
CHECKS = {"events", "positions", "per-aggregate checksums", "parindex_integrity rows",
          "parindex_checkpoints rows", "evidence files", "rankings after a rebuild",
          "parindex verify", "restored store appends after the head"}


@pytest.fixture(autouse=True)
def client_tools():
    missing = [tool for tool in ("pg_dump", "pg_restore", "tar") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the restore drill needs {', '.join(missing)} on PATH (postgresql-client)")


@pytest.fixture
def source(postgres_schema_url, tmp_path, clock) -> tuple[str, Path]:
    """A store with a published cycle, evidence files and up-to-date views."""
    blob_dir = tmp_path / "blobs"
    blobs = BlobStore(blob_dir)
    with open_store(postgres_schema_url, clock=clock) as (app, views):
        prepare(app)
        scenario = cycle_with_units(app, units=("STC", "SNV", "SYT"))
        for index, unit in enumerate(scenario.units):
            blob = blobs.put(iter([b"%PDF-1.4\n" + f"ke hoach {unit}\n".encode() * (index + 1)]))
            app.attach_evidence(officer(unit), scenario.scorecards[unit], "1.1.1", blob,
                                f"ke-hoach-{unit}.pdf", "application/pdf")
        scenario.publish()
        run_to_head(app, views)
    return postgres_schema_url, blob_dir


def test_the_drill_restores_everything_and_proves_it(source, tmp_path):
    url, blob_dir = source
    database = f"parindex_drill_{uuid.uuid4().hex[:10]}"
    result = subprocess.run([sys.executable, str(SCRIPT), "--source", url, "--blob-dir",
                             str(blob_dir), "--work", str(tmp_path / "work"), "--database",
                             database, "--json"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    assert {check["check"] for check in report["checks"]} == CHECKS
    details = {check["check"]: check["detail"] for check in report["checks"]}
    assert details["evidence files"].startswith("3 files")
    assert details["rankings after a rebuild"] == "1 group rankings equal"
    assert details["parindex verify"].startswith("parindex verify: OK")
    assert report["restored_head"] == report["source_head_now"] > 0
    assert Path(report["dump"]).exists() and Path(report["evidence_archive"]).exists()
    assert "restore drill PASSED: 9/9 checks" in result.stdout
    assert not _database_exists(url, database), "the restored database was dropped"


def test_a_restore_that_lost_an_event_and_a_file_fails_the_drill(source, tmp_path,
                                                                 monkeypatch, capsys):
    url, blob_dir = source
    drill_module = _load_script()
    real_restore = drill_module.restore

    def lossy_restore(settings, dump, archive, database, blob_target) -> None:
        real_restore(settings, dump, archive, database, blob_target)
        schema = drill_module.schema_of(settings)
        with drill_module.connect(settings, database) as conn:
            # The owner may disable the append-only guard; the drill must notice anyway.
            conn.execute(f'ALTER TABLE "{schema}".parindex_events DISABLE TRIGGER USER')
            conn.execute(f'DELETE FROM "{schema}".parindex_events WHERE notification_id = '
                         f'(SELECT max(notification_id) / 2 FROM "{schema}".parindex_events)')
        next(path for path in blob_target.rglob("*") if path.is_file()).unlink()

    monkeypatch.setattr(drill_module, "restore", lossy_restore)
    database = f"parindex_drill_{uuid.uuid4().hex[:10]}"
    report = drill_module.drill(url, blob_dir, tmp_path / "work", database=database)
    failed = {check["check"] for check in report.checks if not check["ok"]}
    assert not report.ok
    assert {"events", "positions", "per-aggregate checksums", "evidence files",
            "parindex verify"} <= failed
    assert {"parindex_integrity rows"} <= CHECKS - failed  # the hashes came back intact
    assert "[FAIL] events" in capsys.readouterr().out
    assert not _database_exists(url, database)


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("restore_drill", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _database_exists(url: str, name: str) -> bool:
    import psycopg

    env = settings_from_url(url).library_env
    with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                         dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"] or None) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None
