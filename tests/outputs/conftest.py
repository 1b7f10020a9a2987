"""One demo province per store for the whole package (loading it takes seconds): Khánh Hòa 2024
and 2025, published, plus an unpublished 2026 cycle (STC and SNV in self-assessment) for the
before-publication rules; views rebuilt once; the HTTP app with the outputs router; a token
per role. Nothing here writes after setup, so every test reads the same store."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import outputs as output_routes
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.demo import DemoSummary, load_demo
from domain.store.config import settings_from_url
from projections.queries import ReadModel
from projections.rebuild import rebuild
from projections.store import ViewStore
from tests.builders import cycle_with_units
from tests.conftest import POSTGRES_URL

OPERATOR = Actor("cli:test", Role.SYSTEM)
API = "/api/v1"


@dataclass
class Demo:
    url: str
    app: ParIndex
    views: ViewStore
    read: ReadModel
    client: TestClient
    summary: DemoSummary
    draft_cycle: UUID
    draft_cards: dict[str, UUID]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def cycle(self) -> UUID:
        return self.summary.cycle_ids[2025]

    def card(self, unit: str, year: int = 2025) -> UUID:
        return self.app.cycle(self.summary.cycle_ids[year]).unit(unit)["scorecard_id"]

    def get(self, path: str, who: str = "inspector", **params: Any):
        return self.client.get(f"{API}{path}", headers=self.tokens[who], params=params)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _store(kind: str, tmp: Any) -> Iterator[str]:
    if kind == "sqlite":
        # Test-only: a memory-backed directory when there is one (no fsync per event).
        shm = Path("/dev/shm")
        where = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) \
            else tmp
        try:
            yield f"sqlite:///{where}/events.sqlite3"
        finally:
            if where != tmp:
                shutil.rmtree(where, ignore_errors=True)
        return
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="package",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp(f"outputs-{request.param}")
    # Test-only: PostgreSQL without waiting for each commit's flush halves the demo's load time.
    with _store(request.param, tmp) as url, _environment(
            PARINDEX_BLOB_DIR=str(tmp / "blobs"), PGOPTIONS="-c synchronous_commit=off"):
        app = ParIndex(settings_from_url(url))
        summary = load_demo(app)
        draft = cycle_with_units(app, units=("STC", "SNV"), year=2026)
        draft.submit_full_marks("STC")
        tokens = {}
        for name, role, unit in (("inspector", Role.INSPECTOR, None),
                                 ("secretariat", Role.SECRETARIAT, None),
                                 ("integrator", Role.INTEGRATOR, None),
                                 ("stc", Role.UNIT_OFFICER, "STC"),
                                 ("stc_head", Role.UNIT_HEAD, "STC"),
                                 ("snv", Role.UNIT_OFFICER, "SNV"),
                                 ("ttt", Role.UNIT_OFFICER, "TTT")):
            secret, _ = app.issue_token(OPERATOR, f"test.{name}", role, unit)
            tokens[name] = {"Authorization": f"Bearer {secret}"}
        views = ViewStore(app.settings)
        rebuild(app, views)
        api = create_app(app, views)
        if not any(getattr(r, "path", "").endswith("/report") for r in api.routes):
            api.include_router(output_routes.router)  # until api/app.py includes it
        try:
            with TestClient(api) as client:
                yield Demo(url=url, app=app, views=views, read=ReadModel(app, views),
                           client=client, summary=summary, draft_cycle=draft.cycle_id,
                           draft_cards=draft.scorecards, tokens=tokens)
        finally:
            views.close()
            app.close()
