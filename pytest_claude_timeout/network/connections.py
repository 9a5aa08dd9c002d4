"""The connections of each HTTP connection pool, as httpcore keeps them.

The mocked pools never open sockets, so the network keeps what httpcore would: each pool's
HTTP/1.1 connections, which request each one serves, and how long each sat idle. httpcore
(``ConnectionPool._assign_requests_to_connections``) gives a request the first idle
connection to the same origin, in the order the connections were opened, after dropping
those idle longer than the pool's ``keepalive_expiry`` (5 s by default in httpx and httpx2);
with none left it opens a new one. A connection goes back to the pool idle when its
response was read to the end; a failed or abandoned exchange closes it.

A server that closes an idle connection with a FIN the client has received is noticed
before reuse (httpcore checks that the socket is not readable): that connection is simply
not reused. What the scenarios model (``stale_connection``) is a close the client cannot
see in time.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Connection:
    number: int
    origin: str
    idle_since: float | None = None
    """Virtual time its last response ended (``None``: in use)."""


@dataclass(frozen=True)
class Checkout:
    """The connection an attempt goes out on."""

    connection: Connection
    reused_after: float | None
    """How long it sat idle before this request (``None``: a new connection)."""


class Connections:
    """Every pool's connections (pools are told apart by identity; a request without a
    known pool gets a new connection each time)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._pools: dict[int, tuple[Any, list[Connection]]] = {}
        self._held: dict[int, tuple[int, Connection]] = {}  # attempt number -> (pool key, connection)
        self._lock = threading.Lock()  # sync clients may share a pool across threads

    def checkout(self, pool: Any, origin: str, attempt: int, now: float) -> Checkout:
        with self._lock:
            return self._checkout(pool, origin, attempt, now)

    def _checkout(self, pool: Any, origin: str, attempt: int, now: float) -> Checkout:
        key = id(pool)
        if pool is not None:
            _, conns = self._pools.setdefault(key, (pool, []))  # the pool is kept: its id stays its own
            expiry = getattr(pool, "_keepalive_expiry", None)
            conns[:] = [
                c for c in conns if c.idle_since is None or expiry is None or now - c.idle_since <= expiry
            ]
            for conn in conns:
                if conn.origin == origin and conn.idle_since is not None:
                    idle = now - conn.idle_since
                    conn.idle_since = None
                    self._held[attempt] = (key, conn)
                    return Checkout(conn, idle)
        conn = Connection(next(self._numbers), origin)
        if pool is not None:
            self._pools[key][1].append(conn)
        self._held[attempt] = (key, conn)
        return Checkout(conn, None)

    def release(self, attempt: int, now: float, *, reusable: bool) -> None:
        """The attempt's exchange ended: its connection goes back idle, or is closed."""
        with self._lock:
            self._release(attempt, now, reusable=reusable)

    def _release(self, attempt: int, now: float, *, reusable: bool) -> None:
        held = self._held.pop(attempt, None)
        if held is None:
            return
        key, conn = held
        if reusable:
            conn.idle_since = now
        elif key in self._pools:
            conns = self._pools[key][1]
            if conn in conns:
                conns.remove(conn)
