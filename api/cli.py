"""The `parindex` command: `serve` runs the HTTP service, `demo` loads the demo province.

Every sub-command reads the store from PARINDEX_DATABASE_URL (default: a SQLite file under
./var/) and stops with exit status 2 and one line saying why when the store is unusable — it
never falls back to an in-memory store.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from domain.application import ParIndex

log = logging.getLogger("parindex")


class CannotStart(Exception):
    """The store setting or the store itself is unusable."""


def open_parindex() -> ParIndex:
    from eventsourcing.persistence import PersistenceError

    from domain.application import StoreMisconfigured
    from domain.store.config import StoreConfigurationError, check_reachable, store_settings

    try:
        settings = store_settings()
        check_reachable(settings)
    except StoreConfigurationError as error:
        raise CannotStart(str(error)) from None
    try:
        return ParIndex(settings)
    except (PersistenceError, StoreMisconfigured, OSError) as error:
        raise CannotStart(f"the store {settings.description} is unusable: "
                          f"{type(error).__name__}: {error}") from None


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    parindex = open_parindex()
    log.info("store: %s", parindex.settings.description)
    try:
        uvicorn.run(create_app(parindex), host=args.host, port=args.port,
                    log_level=args.log_level)
    finally:
        parindex.close()
    return 0


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
        return 0
    finally:
        parindex.close()


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"serve": serve, "demo": demo}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="parindex", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="run the HTTP service")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--log-level", default="info")
    demo_cmd = sub.add_parser("demo", help="load the demo province into an empty store")
    demo_cmd.add_argument("--if-empty", action="store_true",
                          help="do nothing (exit 0) when the store already holds events")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s "
                        "%(message)s")
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CannotStart as error:
        print(f"parindex: cannot start: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
