"""The `parindex` command line (one sub-command per module of `api/commands/`).
Each module there has a `register(subparsers)`.

Every sub-command reads the store from PARINDEX_DATABASE_URL (default: a SQLite file under
./var/) and stops with exit status 2 and one line saying why when the store is unusable — it
never falls back to an in-memory store.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from api import commands
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="parindex", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"api.commands.{module_info.name}").register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s "
                        "%(message)s")
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CannotStart as error:
        print(f"parindex: cannot start: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
