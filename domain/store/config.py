"""`PARINDEX_DATABASE_URL` → the event-sourcing library's settings, refusing anything unsafe.

Accepted forms:
- unset: a SQLite file at `./var/parindex.sqlite3` (the embedded default);
- `sqlite:///relative/path.sqlite3` or `sqlite:////absolute/path.sqlite3`;
- `postgresql://user[:password]@host[:port]/dbname[?schema=S&pool_size=N&max_overflow=M
  &lock_timeout=SECONDS&connect_timeout=SECONDS]`.

The library silently falls back to an in-memory store when `PERSISTENCE_MODULE` is missing, so
this module always sets it, refuses library variables set behind its back in the process
environment, and `ParIndex` checks the recorder it got after construction.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SQLITE_PATH = Path("var") / "parindex.sqlite3"
DEFAULT_BLOB_DIR = Path("var") / "blobs"
APP_NAME = "parindex"

# Library keys that would change where events go if found in os.environ (the library reads
# the environment, with or without the application's prefix).
_FOREIGN_KEYS = ("PERSISTENCE_MODULE", "INFRASTRUCTURE_FACTORY", "FACTORY_TOPIC",
                 "SQLITE_DBNAME", "POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_USER",
                 "POSTGRES_PASSWORD", "POSTGRES_SCHEMA", "CIPHER_KEY", "CIPHER_TOPIC",
                 "COMPRESSOR_TOPIC", "TRANSCODER_TOPIC", "MAPPER_TOPIC",
                 "APPLICATION_RECORDER_TOPIC", "CREATE_TABLE")
_PG_OPTIONS = {"schema": "POSTGRES_SCHEMA", "pool_size": "POSTGRES_POOL_SIZE",
               "max_overflow": "POSTGRES_MAX_OVERFLOW", "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
               "connect_timeout": "POSTGRES_CONNECT_TIMEOUT"}


class StoreConfigurationError(Exception):
    """The store setting is missing, malformed or unsafe; the service must not start."""


@dataclass(frozen=True)
class StoreSettings:
    url: str
    kind: str  # "sqlite" or "postgresql"
    library_env: dict[str, str]

    @property
    def description(self) -> str:
        """The URL without its password, for logs and health output."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def check_reachable(settings: StoreSettings) -> None:
    """Connect once directly, so an unreachable server is reported with the driver's own reason
    (the library's pool only says it timed out)."""
    if settings.kind != "postgresql":
        return
    import psycopg

    env = settings.library_env
    try:
        psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                        dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                        password=env["POSTGRES_PASSWORD"] or None, connect_timeout=5).close()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        raise StoreConfigurationError(f"cannot reach {settings.description}: {reason}") from None


def store_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """Read `PARINDEX_DATABASE_URL` (and refuse conflicting library variables)."""
    environ = os.environ if environ is None else environ
    for key in _FOREIGN_KEYS:
        for name in (key, f"{APP_NAME.upper()}_{key}"):
            if environ.get(name):
                raise StoreConfigurationError(
                    f"{name} is set in the environment; parindex chooses its store from "
                    "PARINDEX_DATABASE_URL only. Unset it.")
    url = environ.get("PARINDEX_DATABASE_URL", "").strip()
    if not url:
        return sqlite_settings(f"sqlite:///{DEFAULT_SQLITE_PATH}")
    return settings_from_url(url)


def blob_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where evidence bytes live (`PARINDEX_BLOB_DIR`, default `./var/blobs`); shared by every
    API process of a deployment."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("PARINDEX_BLOB_DIR", "").strip() or DEFAULT_BLOB_DIR)


def settings_from_url(url: str) -> StoreSettings:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return sqlite_settings(url)
    if scheme in ("postgresql", "postgres"):
        return postgres_settings(url)
    raise StoreConfigurationError(
        f"PARINDEX_DATABASE_URL scheme {scheme!r} is not supported: use sqlite:///PATH or "
        "postgresql://USER@HOST/DBNAME")


def sqlite_settings(url: str) -> StoreSettings:
    if not url.startswith("sqlite:///"):
        raise StoreConfigurationError("a SQLite URL has the form sqlite:///relative/path or "
                                      "sqlite:////absolute/path")
    raw_path = url[len("sqlite:///"):]
    if not raw_path or raw_path.startswith(":memory:") or "mode=memory" in raw_path:
        raise StoreConfigurationError("an in-memory SQLite database loses every event; name a "
                                      "file")
    path = Path(unquote(raw_path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreConfigurationError(f"cannot create the directory of {path}: {error}") from None
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
           "SQLITE_LOCK_TIMEOUT": "10",
           # hashes every event in its own transaction (docs/integrity.md)
           "APPLICATION_RECORDER_TOPIC": "domain.store.recorders:SQLiteIntegrityRecorder"}
    return StoreSettings(url=url, kind="sqlite", library_env=env)


def postgres_settings(url: str) -> StoreSettings:
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise StoreConfigurationError("a PostgreSQL URL names a host and a database: "
                                      "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME")
    if not parts.username:
        raise StoreConfigurationError("a PostgreSQL URL names a user: postgresql://USER@HOST/DB")
    try:
        port = parts.port or 5432
    except ValueError:
        raise StoreConfigurationError("the PostgreSQL port is not a number") from None
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # FastAPI serves sync routes from a 40-thread pool: let the pool grow to match.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "38",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # hashes every event in its own transaction, under the table lock (docs/integrity.md)
        "APPLICATION_RECORDER_TOPIC": "domain.store.recorders:PostgresIntegrityRecorder",
    }
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key not in _PG_OPTIONS:
            raise StoreConfigurationError(f"unknown PostgreSQL URL option {key!r}; known: "
                                          f"{sorted(_PG_OPTIONS)}")
        value = values[-1]
        if key != "schema" and not value.isdigit():
            raise StoreConfigurationError(f"PostgreSQL URL option {key} must be a whole number")
        env[_PG_OPTIONS[key]] = value
    return StoreSettings(url=url, kind="postgresql", library_env=env)
