"""The FastAPI application: built around one ParIndex per process (the library's advice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.routes import health
from domain.application import ParIndex

DESCRIPTION = """
parindex records every act of a province's PAR INDEX year — frameworks, self-scores, evidence,
appraisal decisions, explanations, survey points, approval, publication and corrections — as
immutable events naming who did it, when and why.

Errors are RFC 9457 `application/problem+json` documents with a stable `type` per rule.
"""


def create_app(parindex: ParIndex | None = None) -> FastAPI:
    """Build the HTTP app. Without an application, one is built from the environment at start
    (and start-up fails if the store setting is wrong)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = parindex is None
        app.state.parindex = parindex if parindex is not None else build_parindex()
        try:
            yield
        finally:
            if owned:
                app.state.parindex.close()

    app = FastAPI(title="parindex", version=_version(), description=DESCRIPTION,
                  lifespan=lifespan)
    errors.install(app)
    app.include_router(health.router)
    return app


def build_parindex() -> ParIndex:
    from domain.store.config import store_settings

    return ParIndex(store_settings())


def _version() -> str:
    from api import __version__

    return __version__
