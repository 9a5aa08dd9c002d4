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

A transport that keeps real connection objects of its own (aiohttp: its ``TCPConnector``
pools the in-memory transports, and decides reuse, ``keepalive_timeout`` and ``limit``
itself) names the connection instead of the pool: the network then only numbers it and
records how long it sat idle before each request.
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
        self._own: dict[int, tuple[Any, Connection]] = {}  # id(transport's connection) -> (it, ours)
        self._lock = threading.Lock()  # sync clients may share a pool across threads

    def checkout(self, pool: Any, origin: str, attempt: int, now: float, connection: Any = None) -> Checkout:
        """The connection ``attempt`` goes out on: from ``pool`` as httpcore would choose it,
        or ``connection``, the transport's own (``None``: a new one)."""
        with self._lock:
            if connection is not None:
                return self._adopt(connection, origin, attempt, now)
            return self._checkout(pool, origin, attempt, now)

    def _adopt(self, connection: Any, origin: str, attempt: int, now: float) -> Checkout:
        """The transport chose ``connection`` (its pool's decision): new, or reused after
        the idle time recorded when its last exchange ended."""
        known = self._own.get(id(connection))
        if known is not None and (since := known[1].idle_since) is not None:
            conn = known[1]
            idle, conn.idle_since = now - since, None
            self._held[attempt] = (id(connection), conn)
            return Checkout(conn, idle)
        conn = Connection(next(self._numbers), origin)
        self._own[id(connection)] = (connection, conn)  # the object is kept: its id stays its own
        self._held[attempt] = (id(connection), conn)
        return Checkout(conn, None)

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
        elif key in self._own:
            del self._own[key]
        elif key in self._pools:
            conns = self._pools[key][1]
            if conn in conns:
                conns.remove(conn)
