"""One active runner per view set: a PostgreSQL advisory lock, or a file lock beside SQLite.

Both are released by the operating system or the server when the holder dies, so a waiting
runner takes over from a crashed one without any clean-up.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from typing import Any

from domain.store.config import StoreSettings


class RunnerLock:
    def __init__(self, settings: StoreSettings):
        self.settings = settings
        self._held: Any = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def try_acquire(self) -> bool:
        if self._held is not None:
            return True
        env = self.settings.library_env
        if self.settings.kind == "postgresql":
            import psycopg

            conn = psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                                   dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                                   password=env["POSTGRES_PASSWORD"] or None, autocommit=True)
            key = zlib.crc32(f"parindex-views:{env.get('POSTGRES_SCHEMA') or 'public'}"
                             .encode())
            if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                self._held = conn
                return True
            conn.close()
            return False
        fd = os.open(f"{env['SQLITE_DBNAME']}.views.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held = fd
        return True

    def acquire(self, stop: threading.Event, poll_seconds: float = 0.5) -> bool:
        """Wait for the lock until `stop` is set; True when held."""
        while not stop.is_set():
            if self.try_acquire():
                return True
            stop.wait(poll_seconds)
        return False

    def alive(self) -> bool:
        """False when the PostgreSQL session holding the lock was lost."""
        if self._held is None:
            return False
        if self.settings.kind != "postgresql":
            return True
        try:
            self._held.execute("SELECT 1")
            return True
        except Exception:
            return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if self.settings.kind == "postgresql":
            held.close()
        else:
            os.close(held)
