"""The FastAPI application: built around one ParIndex and one view store per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import __version__, errors
from api.routes import health, views
from domain.application import ParIndex
from projections.queries import ReadModel
from projections.runner import ViewRunner
from projections.store import ViewStore

DESCRIPTION = """
parindex records every act of a province's PAR INDEX year — frameworks, self-scores, evidence,
appraisal decisions, explanations, survey points, approval, publication and corrections — as
immutable events naming who did it, when and why. Every view (scorecards, rankings, field
comparisons, the audit trail, explanations) is rebuilt from those events, live or **as of** any
past position or UTC time.

Errors are RFC 9457 `application/problem+json` documents with a stable `type` per rule.
"""


def create_app(parindex: ParIndex | None = None, view_store: ViewStore | None = None,
               runner: ViewRunner | None = None) -> FastAPI:
    """Build the HTTP app. Without an application, one is built from the environment at start
    (and start-up fails if the store setting is wrong)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = parindex is None
        app.state.parindex = parindex if parindex is not None else build_parindex()
        owned_views = view_store is None
        app.state.views = view_store or ViewStore(app.state.parindex.settings)
        app.state.read_model = ReadModel(app.state.parindex, app.state.views)
        app.state.runner = runner
        try:
            yield
        finally:
            if owned_views:
                app.state.views.close()
            if owned:
                app.state.parindex.close()

    app = FastAPI(title="parindex", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(views.router)
    return app


def build_parindex() -> ParIndex:
    from domain.store.config import store_settings

    return ParIndex(store_settings())
