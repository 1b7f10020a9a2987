"""The FastAPI application: built around one ParIndex and one view store per process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import __version__, errors, observability
from api.idempotency import IdempotencyMiddleware, IdempotencyStore
from api.jwt import JwtVerifier
from api.routes import (
    cycles,
    feed,
    frameworks,
    health,
    integrity,
    outputs,
    scorecards,
    surveys,
    views,
)
from domain.application import ParIndex
from domain.store.blobs import BlobStore
from domain.store.config import blob_dir
from projections.queries import ReadModel
from projections.runner import ViewRunner
from projections.store import ViewStore

DESCRIPTION = """
parindex records every act of a province's PAR INDEX year — frameworks, self-scores, evidence,
appraisal decisions, explanations, survey points, approval, publication and corrections — as
immutable events naming who did it, when and why. Every view (scorecards, rankings, field
comparisons, the audit trail, explanations) is rebuilt from those events, live or **as of** any
past position or UTC time.

**Authentication**: `Authorization: Bearer <token>` (tokens from `parindex token create`). The
actor recorded on every event is the token's holder, never a request field.

**Conventions**: errors are RFC 9457 `application/problem+json` with a stable `type` per rule
and the offending `field` / `item`; every POST takes an `Idempotency-Key`; writes return the new
version as `ETag` and honour `If-Match` (412 when stale) and return `X-Event-Position` (pass it
as `min_position` to read your own write); views return an `ETag` and answer `If-None-Match`
with 304; lists page with opaque cursors.
"""

TAGS = [
    {"name": "units", "description": "Unit officers and heads: self-assessment, evidence, "
     "submission, explanations."},
    {"name": "appraisers", "description": "Appraisal rounds, bonus and penalty."},
    {"name": "council", "description": "The appraisal council's approval."},
    {"name": "secretariat", "description": "Sở Nội vụ: frameworks, cycles, phases, deadlines, "
     "surveys, publication, corrections."},
    {"name": "views", "description": "Scorecards, rankings, field comparisons, audit trail, "
     "explanations — live or as of a past moment."},
    {"name": "integrators", "description": "The change feed of published-safe events."},
    {"name": "operations", "description": "Health."},
]


def create_app(parindex: ParIndex | None = None, view_store: ViewStore | None = None,
               runner: ViewRunner | None = None) -> FastAPI:
    """Build the HTTP app. Without an application, one is built from the environment at start
    (and start-up fails if the store setting is wrong)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_request_threads(request_threads_from_env())
        if parindex is not None:
            yield  # the caller owns the application and the view store
            return
        built = build_parindex()
        attach(app, built, ViewStore(built.settings), None)
        try:
            yield
        finally:
            app.state.views.close()
            built.close()

    app = FastAPI(title="parindex", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, openapi_tags=TAGS)
    errors.install(app)
    app.add_middleware(IdempotencyMiddleware)
    for module in (health, frameworks, cycles, scorecards, surveys, views, outputs, feed,
                   integrity):
        app.include_router(module.router)
    observability.install(app)  # request ids, JSON access log, /metrics, /livez, /readyz
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if parindex is not None:
        attach(app, parindex, view_store or ViewStore(parindex.settings), runner)
    return app


def attach(app: FastAPI, parindex: ParIndex, view_store: ViewStore,
           runner: ViewRunner | None) -> None:
    """What every request finds on `app.state`."""
    app.state.parindex = parindex
    app.state.views = view_store
    app.state.read_model = ReadModel(parindex, view_store)
    app.state.idempotency = IdempotencyStore(view_store)
    app.state.blobs = BlobStore(blob_dir())
    app.state.runner = runner
    app.state.jwt = JwtVerifier.from_env()
    app.state.checkpointer = getattr(app.state, "checkpointer", None)
    app.state.integrity_monitor = getattr(app.state, "integrity_monitor", None)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus what it cannot infer: the Idempotency-Key header on every
    POST and the problem+json media type of every error."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, tags=app.openapi_tags)
    for path in schema["paths"].values():
        for method, operation in path.items():
            if method == "post":
                operation.setdefault("parameters", []).append({
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "retry-safe key: the same key and body return the stored "
                    "response; the same key with another body is a 422",
                    "schema": {"type": "string", "maxLength": 200}})
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {errors.PROBLEM_MEDIA_TYPE: {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}
    app.openapi_schema = schema
    return schema


REQUEST_THREADS_SETTING = "PARINDEX_REQUEST_THREADS"
DEFAULT_REQUEST_THREADS = 8


def request_threads_from_env(environ: Mapping[str, str] | None = None) -> int:
    """How many requests of one process run their synchronous code (the routes, the bearer
    lookup) at the same time; the others wait their turn in the event loop. More threads than
    cores only make them queue for the GIL instead, where no order is kept: with AnyIO's
    default of 40, the p99 of 16 writing clients was about 15 % higher than with 8
    (docs/performance-http.md). Raise it when slow requests (exports, reports) are frequent."""
    raw = (os.environ if environ is None else environ).get(REQUEST_THREADS_SETTING, "").strip()
    if not raw:
        return DEFAULT_REQUEST_THREADS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{REQUEST_THREADS_SETTING} must be a whole number ≥ 1, not {raw!r}")
    return int(raw)


def limit_request_threads(threads: int) -> None:
    """Size the thread pool FastAPI runs synchronous routes and dependencies in (AnyIO's
    default limiter of the running event loop)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def build_parindex() -> ParIndex:
    from domain.store.config import store_settings

    return ParIndex(store_settings())
