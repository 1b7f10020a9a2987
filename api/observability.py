"""Observability: request ids, structured JSON logs, Prometheus metrics, liveness and readiness.

`install(app)` adds, once per app:

- a pure ASGI middleware (safe for the SSE feed) that takes `X-Request-ID` from the request when
  it is a short token of safe characters, or makes one, echoes it on the response, and after the
  response writes one access-log record (`parindex.access`: method, path, route template,
  status, duration, request id, actor) and counts the request in Prometheus metrics;
- `GET /livez` (the process answers; touches nothing else), `GET /readyz` (the store answers,
  a view generation is active, none is being rebuilt, and the views lag at most
  PARINDEX_READY_MAX_LAG events, default 1000; 503 with the reasons otherwise) and
  `GET /metrics` (Prometheus text). They are left out of the OpenAPI document.

Store-wide numbers (head position, views' position and lag, a pending generation, readiness,
the integrity monitor's verdict) are read from the database when scraped, so every replica
reports the same values and the separate projection worker needs no port of its own.

Logs: `logging_config()` is a `logging.config.dictConfig` document (also accepted by uvicorn as
`log_config`) that sends every record to stderr as one JSON object per line, with `request_id`
and `actor` filled in for records emitted while a request is served (PARINDEX_LOG_FORMAT=text
keeps plain lines). The actor is the token holder the auth dependency resolved: read from
`request.state.actor` when the dependency stores it, otherwise resolved again from the bearer
credentials after the response, for the access log only.

Several uvicorn workers in one container: set PROMETHEUS_MULTIPROC_DIR (an empty directory,
`parindex serve-workers` does it) and `/metrics` sums the workers' counters.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import os
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
READY_MAX_LAG_SETTING = "PARINDEX_READY_MAX_LAG"
DEFAULT_READY_MAX_LAG = 1000
LOG_FORMAT_SETTING = "PARINDEX_LOG_FORMAT"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/metrics"})  # access-logged at DEBUG when fine

access_log = logging.getLogger("parindex.access")

# The request being served (set by the middleware, read by the log formatter).
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parindex_request_id", default=None)
_request_state: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "parindex_request_state", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, if any (for log records and problem bodies)."""
    return _request_id.get()


# -- metrics ------------------------------------------------------------------------------------

# Per-process metrics live in their own registry (never the library-wide default one), so that
# tests building many apps in one process and multi-process mode both stay simple.
_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("parindex_http_requests", "HTTP requests served, by route template, method "
                   "and status", ["route", "method", "status"], registry=_REGISTRY)
LATENCY = Histogram("parindex_http_request_duration_seconds", "Time to serve an HTTP request "
                    "(to the end of the body; the SSE feed counts its whole stream)",
                    ["route", "method"], registry=_REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                             30.0))
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    from prometheus_client import PlatformCollector, ProcessCollector

    ProcessCollector(registry=_REGISTRY)
    PlatformCollector(registry=_REGISTRY)

# Verification states the integrity monitor reports (domain/store/integrity.py).
VERIFICATION_STATES = ("unknown", "pending", "ok", "failed", "error")


class _StoreCollector:
    """Store-wide gauges, read from the database at scrape time."""

    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("parindex_store_up", "1 when the event store answered this "
                               "scrape")
        ready, body = readiness(self.app)
        views = body.get("views")
        up.add_metric([], 0 if views is None else 1)
        yield up
        ready_gauge = GaugeMetricFamily("parindex_ready", "1 when /readyz answers 200")
        ready_gauge.add_metric([], 1 if ready else 0)
        yield ready_gauge
        if views is not None:
            head = int(views["head"])
            yield _gauge("parindex_event_head_position", "Global position of the newest stored "
                         "event", head)
            appended = CounterMetricFamily(
                "parindex_events_appended", "Events appended to the log (the head position: "
                "rate() of it is the append rate; PostgreSQL may skip a position after a "
                "rolled-back insert)")
            appended.add_metric([], head)
            yield appended
            yield _gauge("parindex_projection_position", "Last event folded into the active "
                         "view generation", int(views["position"]))
            yield _gauge("parindex_projection_lag_events", "Events stored but not yet in the "
                         "views", int(views["lag"]))
            yield _gauge("parindex_projection_generation", "The view generation readers use "
                         "(0 before the first)", int(views["generation"] or 0))
            yield _gauge("parindex_projection_rebuilding", "1 while a rebuilt generation is "
                         "catching up (pending)", 0 if views["pending_generation"] is None else 1)
        yield _gauge("parindex_ready_max_lag_events", "The readiness bound on the views' lag",
                     ready_max_lag(self.app))
        yield from _verification_metrics(verification_status(self.app))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def verification_status(app: FastAPI) -> dict[str, Any] | None:
    """The integrity monitor's status: `app.state.integrity_monitor.status()` when a monitor runs
    in this process, else whatever `set_verification_status` stored, else None."""
    monitor = getattr(app.state, "integrity_monitor", None)
    if monitor is not None and callable(getattr(monitor, "status", None)):
        try:
            return dict(monitor.status())
        except Exception:  # a broken monitor must not break the scrape
            return {"state": "error", "ok": False}
    stored = getattr(app.state, "verification_status", None)
    return dict(stored) if stored else None


def set_verification_status(app: FastAPI, state: str, ok: bool | None = None,
                            verified_position: int | None = None, **extra: Any) -> None:
    """Placeholder hook for processes that learn the verification verdict some other way
    (state: pending, ok, failed or error). A live `app.state.integrity_monitor` wins."""
    if state not in VERIFICATION_STATES:
        raise ValueError(f"state must be one of {VERIFICATION_STATES}")
    app.state.verification_status = {"state": state, "ok": ok,
                                     "verified_position": verified_position, **extra}


def _verification_metrics(status: Mapping[str, Any] | None) -> Iterator[Metric]:
    state = str((status or {}).get("state") or "unknown")
    state = state if state in VERIFICATION_STATES else "unknown"
    ok = (status or {}).get("ok")
    yield _gauge("parindex_integrity_verification_ok", "Last verification of the whole log: "
                 "1 passed, 0 failed, -1 not known yet (no monitor, or none finished)",
                 -1 if ok is None else (1 if ok else 0))
    states = GaugeMetricFamily("parindex_integrity_verification_state", "The integrity "
                               "monitor's state (1 for the current one)", labels=["state"])
    for name in VERIFICATION_STATES:
        states.add_metric([name], 1 if name == state else 0)
    yield states
    position = (status or {}).get("verified_position")
    if position is not None:
        yield _gauge("parindex_integrity_verified_position", "Position up to which the log "
                     "last verified", int(position))


class _Exposition:
    """The HTTP metrics of this process (or of every worker, in multi-process mode) plus the
    store-wide gauges."""

    def __init__(self, app: FastAPI):
        self.parts: list[Any] = []
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            self.parts.append(merged)
        else:
            self.parts.append(_REGISTRY)
        self.parts.append(_StoreCollector(app))

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


# -- readiness ----------------------------------------------------------------------------------

def ready_max_lag_from_env(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(READY_MAX_LAG_SETTING, "").strip()
    if not raw:
        return DEFAULT_READY_MAX_LAG
    if not raw.isdigit():
        raise ValueError(f"{READY_MAX_LAG_SETTING} must be a whole number of events ≥ 0, not "
                         f"{raw!r}")
    return int(raw)


def ready_max_lag(app: FastAPI) -> int:
    value = getattr(app.state, "ready_max_lag", None)
    return ready_max_lag_from_env() if value is None else int(value)


def readiness(app: FastAPI) -> tuple[bool, dict[str, Any]]:
    """(ready, the document /readyz answers). Blocking: it queries the store."""
    bound = ready_max_lag(app)
    read_model = getattr(app.state, "read_model", None)
    if read_model is None:
        return False, {"ready": False, "reasons": ["the application is starting"],
                       "views": None, "max_lag": bound}
    try:
        views = read_model.status()
    except Exception as error:  # an unreachable store: not ready, say why
        return False, {"ready": False, "views": None, "max_lag": bound,
                       "reasons": [f"the store does not answer: {type(error).__name__}: "
                                   f"{str(error).strip()[:300]}"]}
    reasons = []
    if views["generation"] is None:
        reasons.append("no view generation is active yet (run `parindex migrate` and the "
                       "projection worker)")
    if views["pending_generation"] is not None:
        reasons.append(f"view generation {views['pending_generation']} is being rebuilt")
    if views["lag"] > bound:
        reasons.append(f"the views are {views['lag']} events behind the head (bound {bound}, "
                       f"{READY_MAX_LAG_SETTING})")
    return not reasons, {"ready": not reasons, "reasons": reasons, "views": views,
                         "max_lag": bound}


# -- routes -------------------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


@router.get("/livez")
def livez() -> dict[str, str]:
    """The process is up and serving; never touches the store (a database outage must not get
    healthy processes restarted)."""
    return {"status": "alive"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    ready, body = readiness(request.app)
    return JSONResponse(body, status_code=200 if ready else 503,
                        headers={"Cache-Control": "no-store"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(_Exposition(request.app)),  # type: ignore[arg-type]
                    media_type=CONTENT_TYPE_LATEST)


# -- middleware ---------------------------------------------------------------------------------

class ObservabilityMiddleware:
    """Request id, access log and HTTP metrics, around every HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_token = _request_id.set(request_id)
        state_token = _request_state.set(state)
        status = 500
        started = time.perf_counter()
        failure: BaseException | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as error:
            failure = error
            raise
        finally:
            seconds = time.perf_counter() - started
            method = scope.get("method", "GET")
            method = method if method in _METHODS else "OTHER"
            route = _route_template(scope)
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(seconds)
            try:
                actor = state.get("actor")
                if actor is None and failure is None and (status < 400 or status == 403):
                    try:
                        actor = await _resolve_actor(scope)
                    except Exception:  # the store is down: log the request without its actor
                        actor = None
                _log_access(scope, method, route, status, seconds, request_id, actor, failure)
            except Exception:  # logging must never turn a served request into an error
                logging.getLogger("parindex").exception("access log failed")
            finally:
                _request_state.reset(state_token)
                _request_id.reset(id_token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _SAFE_REQUEST_ID.fullmatch(text) else None
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


async def _resolve_actor(scope: Scope) -> Any:
    """The bearer credentials' actor, resolved again (only when the auth dependency did not
    leave it in request.state)."""
    secret = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                secret = credentials.strip()
            break
    app = scope.get("app")
    if secret is None or app is None:
        return None
    verifier = getattr(app.state, "jwt", None)
    if verifier is not None and secret.count(".") == 2:
        return verifier.actor(secret)
    parindex = getattr(app.state, "parindex", None)
    if parindex is None:
        return None
    return await run_in_threadpool(parindex.authenticate, secret)


def _log_access(scope: Scope, method: str, route: str, status: int, seconds: float,
                request_id: str, actor: Any, failure: BaseException | None) -> None:
    path = scope.get("path", "")
    fields: dict[str, Any] = {
        "request_id": request_id, "method": method, "path": path, "route": route,
        "status": status, "duration_ms": round(seconds * 1000, 3),
        "actor": getattr(actor, "id", None) if actor is not None else None,
        "actor_role": getattr(getattr(actor, "role", None), "value", None)}
    client = scope.get("client")
    if client:
        fields["client"] = client[0]
    if failure is not None:
        fields["error"] = f"{type(failure).__name__}: {failure}"[:500]
    if status >= 500 and status != 503:
        level = logging.ERROR
    elif status >= 500:
        level = logging.WARNING  # not ready, or views not caught up in time
    elif route in QUIET_ROUTES:
        level = logging.DEBUG  # probes and scrapes every few seconds
    else:
        level = logging.INFO
    access_log.log(level, "%s %s %s %.1f ms", method, path, status, seconds * 1000,
                   extra=fields)


# -- logs ---------------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName"}
_DROPPED = frozenset({"color_message"})  # uvicorn's copy of the message with terminal colours


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC), level, logger, pid (which worker), message,
    request_id, actor, the record's `extra` fields, and `exception` with the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname, "logger": record.name, "pid": record.process,
            "message": record.getMessage()}
        extra = {key: value for key, value in record.__dict__.items()
                 if key not in _RECORD_FIELDS and key not in _DROPPED
                 and not key.startswith("_")}
        document.update(extra)
        if document.get("request_id") is None and (request_id := current_request_id()):
            document["request_id"] = request_id
        if document.get("actor") is None:
            actor = (_request_state.get() or {}).get("actor")
            if actor is not None:
                document["actor"] = getattr(actor, "id", str(actor))
        if record.exc_info:
            document["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, ensure_ascii=False, default=str)


def log_format(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(LOG_FORMAT_SETTING, "").strip().lower() or "json"
    if value not in ("json", "text"):
        raise ValueError(f"{LOG_FORMAT_SETTING} must be json or text, not {value!r}")
    return value


def logging_config(level: str = "INFO", fmt: str | None = None) -> dict[str, Any]:
    """A dictConfig document: everything to stderr in one format; uvicorn's own access log off
    (the middleware writes a richer one)."""
    fmt = fmt or log_format()
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": f"{__name__}.JsonFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": fmt,
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Apply `logging_config` to this process (for commands that do not run uvicorn)."""
    logging.config.dictConfig(logging_config(level, fmt))


# -- wiring -------------------------------------------------------------------------------------

def install(app: FastAPI, *, max_lag: int | None = None) -> None:
    """Add the middleware and the /livez, /readyz and /metrics routes (once per app; a second
    call only updates `max_lag` when given). Raises ValueError on a malformed
    PARINDEX_READY_MAX_LAG, so a bad setting stops the service at start."""
    if max_lag is not None:
        if max_lag < 0:
            raise ValueError("max_lag must be ≥ 0")
        app.state.ready_max_lag = max_lag
    elif getattr(app.state, "ready_max_lag", None) is None:
        app.state.ready_max_lag = ready_max_lag_from_env()
    if getattr(app.state, "observability_installed", False):
        return
    app.state.observability_installed = True
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(router)


def app_factory(create: Callable[[], FastAPI] | None = None) -> FastAPI:
    """`create_app()` built from the environment, with `install` applied (for
    `uvicorn --factory api.observability:app_factory` and `parindex serve-workers`)."""
    if create is None:
        from api.app import create_app

        create = create_app
    app = create()
    install(app)
    return app
