"""Running parindex: the HTTP service, the projection worker, rebuilds and the demo."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from api.cli import CannotStart, log, open_parindex
from api.commands.outputs import demo_hint


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app, request_threads_from_env
    from api.observability import configure_logging, logging_config
    from projections.runner import ViewRunner
    from projections.store import ViewStore

    try:
        configure_logging(args.log_level)  # JSON lines unless PARINDEX_LOG_FORMAT=text
        request_threads_from_env()
    except ValueError as error:
        raise CannotStart(str(error)) from None
    parindex = open_parindex()
    views = ViewStore(parindex.settings)
    log.info("store: %s", parindex.settings.description)
    runner = None if args.no_projections else ViewRunner(parindex, views)
    checkpointer, monitor = _integrity(parindex)
    loops = [runner.start_thread()] if runner else []
    if checkpointer is not None:
        loops.append(checkpointer.start_thread())
    loops.append(monitor.start_thread())
    try:
        app = create_app(parindex, views, runner)
        app.state.checkpointer = checkpointer
        app.state.integrity_monitor = monitor
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                    log_config=logging_config(args.log_level), access_log=False)
    finally:
        for thread, stop in loops:
            stop.set()
            thread.join(timeout=10)
        views.close()
        parindex.close()
    return 0


def _integrity(parindex: Any) -> tuple[Any, Any]:
    """The signed-checkpoint loop (when a signing key is configured) and the periodic
    verification whose result /health shows (docs/integrity.md)."""
    from domain.store.checkpoints import CheckpointError
    from domain.store.config import blob_dir
    from domain.store.integrity import Checkpointer, IntegrityMonitor, evidence_refs_by_mapper

    try:
        checkpointer = Checkpointer.from_env(parindex.recorder)
    except CheckpointError as error:
        raise CannotStart(f"signing key: {error}") from None
    monitor = IntegrityMonitor.from_env(parindex.recorder, blob_dir=blob_dir(),
                                        evidence_refs=evidence_refs_by_mapper(parindex.mapper))
    return checkpointer, monitor


def project(args: argparse.Namespace) -> int:
    """Run the projection runner in the foreground until SIGTERM or Ctrl-C."""
    import signal

    from api.observability import configure_logging
    from projections.runner import ViewRunner
    from projections.store import ViewStore

    try:
        configure_logging()  # JSON lines unless PARINDEX_LOG_FORMAT=text
    except ValueError as error:
        raise CannotStart(str(error)) from None

    parindex = open_parindex()
    views = ViewStore(parindex.settings)
    runner = ViewRunner(parindex, views, batch_size=args.batch_size)
    thread, stop = runner.start_thread()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        thread.join(timeout=10)
    finally:
        views.close()
        parindex.close()
    return 0


def rebuild(args: argparse.Namespace) -> int:
    """Replay the log from position 0 into a new view generation (blue/green)."""
    from projections.rebuild import RebuildFailed
    from projections.rebuild import rebuild as rebuild_views
    from projections.store import ViewStore

    parindex = open_parindex()
    views = ViewStore(parindex.settings)
    try:
        try:
            report = rebuild_views(parindex, views, workers=args.workers)
        except ValueError as error:  # an impossible --workers
            print(f"parindex rebuild: {error}", file=sys.stderr)
            return 2
        except RebuildFailed as error:
            print(f"parindex rebuild: {error}; readers keep the active generation",
                  file=sys.stderr)
            return 1
        state = ("now active" if report.activated
                 else "pending: the live runner switches to it once caught up")
        print(f"parindex rebuild: generation {report.generation} from {report.events} events "
              f"in {report.seconds:.1f} s ({report.events / max(report.seconds, 1e-9):,.0f} "
              f"events/s, {report.workers} worker process(es)); {state}")
        return 0
    finally:
        views.close()
        parindex.close()


def demo(args: argparse.Namespace) -> int:
    from domain.demo import load_demo
    from domain.errors import AlreadyExists

    parindex = open_parindex()
    try:
        if args.if_empty and parindex.recorder.max_notification_id():
            print(f"parindex demo: the store {parindex.settings.description} already holds "
                  "events; leaving it as it is.")
            return 0
        try:
            summary = load_demo(parindex)
        except AlreadyExists as error:
            print(f"parindex demo: {error.message}", file=sys.stderr)
            return 1
        print(summary.describe())
        _print_demo_tokens(parindex)
        print(demo_hint(parindex, summary))
        return 0
    finally:
        parindex.close()


def _print_demo_tokens(parindex: Any) -> None:
    """Tokens to look at the demo with (open /docs, "Authorize", paste one)."""
    from domain.actors import Actor, Role

    operator = Actor("cli:demo", Role.SYSTEM)
    print("\nTokens for the demo (shown once; paste into /docs → Authorize):")
    for role, holder, unit in ((Role.INSPECTOR, "demo.thanh-tra", None),
                               (Role.SECRETARIAT, "demo.so-noi-vu", None),
                               (Role.INTEGRATOR, "demo.cong-thong-tin", None)):
        secret, _ = parindex.issue_token(operator, holder, role, unit)
        print(f"  {role.value:<12} {secret}")


def register(sub: Any) -> None:
    serve_cmd = sub.add_parser("serve", help="run the HTTP service")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--log-level", default="info")
    serve_cmd.add_argument("--no-projections", action="store_true",
                           help="do not run the projection runner in this process (run "
                           "`parindex project` separately)")
    serve_cmd.set_defaults(run=serve)
    demo_cmd = sub.add_parser("demo", help="load the demo province into an empty store")
    demo_cmd.add_argument("--if-empty", action="store_true",
                          help="do nothing (exit 0) when the store already holds events")
    demo_cmd.set_defaults(run=demo)
    project_cmd = sub.add_parser("project", help="keep the views up to date (a worker)")
    project_cmd.add_argument("--batch-size", type=int, default=1000)
    project_cmd.set_defaults(run=project)
    rebuild_cmd = sub.add_parser("rebuild",
                                 help="rebuild every view from position 0 (blue/green)")
    rebuild_cmd.add_argument(
        "--workers", type=int, default=None,
        help="processes folding the log side by side (PostgreSQL; default: one per usable "
             "CPU, at most 4; SQLite always folds in one)")
    rebuild_cmd.set_defaults(run=rebuild)
