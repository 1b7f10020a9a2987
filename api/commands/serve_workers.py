"""`parindex serve-workers`: the HTTP service as N uvicorn worker processes, no projections.

This is what a replica runs in production (docker-compose's `api` service): every worker builds
its own application from the environment (PARINDEX_DATABASE_URL, …), serves the API with the
observability middleware (`api/observability.py`: request ids, JSON logs, /metrics, /livez,
/readyz) and leaves the views to the separate `parindex project` worker. Add replicas of the
whole container for more capacity: they share nothing but PostgreSQL and the evidence
directory.

With more than one worker, the Prometheus counters of all workers are summed through
PROMETHEUS_MULTIPROC_DIR (a fresh temporary directory unless one is given; it is emptied at
start, as prometheus_client requires).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from api.cli import CannotStart, log

FACTORY = "api.observability:app_factory"


def serve_workers(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from api.app import request_threads_from_env
    from api.listeners import reuse_port_listener
    from api.observability import (
        configure_logging,
        log_format,
        logging_config,
        ready_max_lag_from_env,
    )
    from domain.store.config import StoreConfigurationError, check_reachable, store_settings

    try:
        workers = _workers(args.workers)
        settings = store_settings()
        check_reachable(settings)  # fail fast, with the reason, before forking workers
        fmt = log_format()
        ready_max_lag_from_env()
        request_threads_from_env()
    except (StoreConfigurationError, ValueError) as error:
        raise CannotStart(str(error)) from None
    configure_logging(args.log_level, fmt)
    made = _multiprocess_metrics_dir() if workers > 1 else None
    log.info("store: %s; %d worker(s) on %s:%d", settings.description, workers, args.host,
             args.port)
    config = uvicorn.Config(FACTORY, factory=True, workers=workers,
                            log_config=logging_config(args.log_level, fmt),
                            log_level=args.log_level, access_log=False,
                            forwarded_allow_ips=args.forwarded_allow_ips,
                            timeout_graceful_shutdown=args.graceful_shutdown)
    try:
        try:
            listener = reuse_port_listener(args.host, args.port)
        except OSError as error:
            raise CannotStart(f"cannot listen on {args.host}:{args.port}: {error}") from None
        with listener:
            if workers > 1:  # each worker listens on its own copy (api/listeners.py)
                Multiprocess(config, sockets=[listener]).run()
                return 0
            server = uvicorn.Server(config)
            server.run(sockets=[listener])
            return 0 if server.started else 3
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _workers(given: int | None) -> int:
    raw = str(given) if given is not None else os.environ.get("PARINDEX_API_WORKERS", "")
    raw = raw.strip() or "2"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"the number of workers must be a whole number ≥ 1, not {raw!r} "
                         "(--workers or PARINDEX_API_WORKERS)")
    return int(raw)


def _multiprocess_metrics_dir() -> Path | None:
    """Set PROMETHEUS_MULTIPROC_DIR before any worker starts: the given directory, emptied of
    earlier runs' files, or a new temporary one (returned, to be removed at exit)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for child in path.glob("*.db"):
            child.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="parindex-prom-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def register(sub: Any) -> None:
    command = sub.add_parser(
        "serve-workers", help="run the HTTP service as N worker processes without the "
        "projection runner (production replicas; run `parindex project` separately)")
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=8000)
    command.add_argument("--workers", type=int,
                         help="worker processes (default PARINDEX_API_WORKERS or 2)")
    command.add_argument("--log-level", default="info")
    command.add_argument("--forwarded-allow-ips", default=None,
                         help="addresses of the reverse proxies whose X-Forwarded-For/-Proto "
                         "to trust (comma-separated; default uvicorn's: FORWARDED_ALLOW_IPS or "
                         "127.0.0.1)")
    command.add_argument("--graceful-shutdown", type=int, default=20,
                         help="seconds to let requests finish on SIGTERM")
    command.set_defaults(run=serve_workers)
