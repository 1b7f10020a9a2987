"""Listening sockets for `parindex serve-workers`: one per worker process, balanced by the kernel.

uvicorn's multiprocess supervisor binds ONE socket and hands it to every worker. Whichever
worker's event loop wakes first accepts every connection waiting in the backlog, so a burst of
keep-alive clients (16 integrators connecting at once, a proxy's upstream pool) lands on a
single worker while the others idle: two workers served no more than one in the HTTP benchmark
(docs/performance-http.md).

`ReusePortListener` is a socket that the supervisor binds (to fail fast on a taken port) but
never listens on; when uvicorn ships it to a worker (multiprocessing pickles the worker's
arguments), the worker gets a NEW socket bound to the same address with SO_REUSEPORT, so each
worker listens on its own socket and Linux spreads incoming connections across them by their
address hash. It is also created with IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted
connections (with proto 0 it does not, and each keep-alive answer waits ~40 ms for the client's
delayed ACK; Kludex/uvicorn#3149).
"""

from __future__ import annotations

import socket
from typing import Any


class ReusePortListener(socket.socket):
    """A TCP socket bound with SO_REUSEPORT; a pickled copy is a fresh socket, bound likewise."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return reuse_port_listener, (host, port)


def reuse_port_listener(host: str, port: int) -> ReusePortListener:
    """A socket bound to (host, port) with SO_REUSEPORT (port 0: any free port), not yet
    listening; raises OSError when the address is taken by a socket without SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = ReusePortListener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
