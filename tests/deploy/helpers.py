"""Plumbing for the deployment tests: loopback ports, `parindex` processes, HTTP without a
client library (urllib, so threads can share nothing)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.projections.helpers import ROOT, parindex_command


def documented_settings() -> set[str]:
    """The `PARINDEX_…` names docs/configuration.md documents."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    return set(re.findall(r"`(PARINDEX_[A-Z0-9_]+)`", text))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parindex_env(store_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PARINDEX_", "PROMETHEUS_"))}
    env.update(PARINDEX_DATABASE_URL=store_url, **extra)
    return env


def run_parindex(store_url: str, *args: str, timeout: float = 60, **extra: str
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(parindex_command(*args), cwd=ROOT, env=parindex_env(store_url, **extra),
                          capture_output=True, text=True, timeout=timeout)


@contextmanager
def parindex_process(store_url: str, log_path: Path, *args: str, **extra: str
                     ) -> Iterator[subprocess.Popen[bytes]]:
    """`parindex ARGS` in the background, its output in `log_path`; SIGTERM (then SIGKILL)
    when the block ends."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(parindex_command(*args), cwd=ROOT,
                                   env=parindex_env(store_url, **extra), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    return process.returncode


def request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_http(url: str, process: subprocess.Popen[bytes], log_path: Path,
              timeout: float = 30) -> None:
    """Poll `url` until it answers 200; fail with the process's output if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the process exited ({process.returncode}):\n"
                                 f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if request("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {timeout} s:\n"
                                 f"{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
