"""Scenarios of the client's side of the network: name resolution, connecting, a slow
uplink, a client that cannot reach the API at all, and its own connection pool's limit."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from ..exchange import (
    Connect,
    Data,
    Hangup,
    Idle,
    Step,
    Upload,
)
from .base import (
    CLIENT_NETWORK,
    SERVER,
    AttemptContext,
    Choices,
    Scenario,
    ScenarioError,
    _applies,
    reslice,
)
from .service import SlowPrefill
from .streams import after_connecting, before_head, lazy

DNS_KINDS = {
    # kind: (seconds until the resolver's answer, message, bounded by connect timeout in sync?)
    "nxdomain": (0.02, "[Errno -2] Name or service not known"),
    "no_resolver": (0.001, "[Errno -3] Temporary failure in name resolution"),
    "resolver_timeout": (10.0, "[Errno -3] Temporary failure in name resolution"),
}


@dataclass
class DnsFailure(Scenario):
    """The API host name does not resolve on the first ``attempts`` attempts (``None``:
    always): the client sees a connection error with the platform's (glibc) message.

    ``kind``: ``nxdomain`` (the name does not exist, answered in 20 ms), ``no_resolver``
    (no resolver reachable, fails at once), ``resolver_timeout`` (the resolver never
    answers: glibc gives up after 2 tries x 5 s). A sync client resolves outside its connect
    timeout (``socket.create_connection``) and waits the full 10 s; an async client resolves
    inside it (anyio) and gets ``ConnectTimeout`` at the connect timeout.
    """

    name: ClassVar[str] = "dns_failure"
    choices: ClassVar[Choices] = {"kind": DNS_KINDS}
    main: ClassVar[str] = "attempts"
    layer: ClassVar[int] = CLIENT_NETWORK

    attempts: int | None = 1
    kind: str = "nxdomain"

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if self.attempts is not None and ctx.number > self.attempts:
            return steps
        seconds, message = DNS_KINDS[self.kind]
        note = f"resolving {ctx.host}: {self.kind.replace('_', ' ')}"
        return [Connect(seconds, note, error="ConnectError", message=message, resolving=True)]


@dataclass
class ConnectTimeout(Scenario):
    """The host never answers the TCP handshake (SYN dropped by a firewall or a dead
    route) on the first ``attempts`` attempts: ``ConnectTimeout`` at the connect timeout."""

    name: ClassVar[str] = "connect_timeout"
    main: ClassVar[str] = "attempts"
    layer: ClassVar[int] = CLIENT_NETWORK

    attempts: int | None = 1

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [Connect(math.inf, f"connecting to {ctx.host}: no answer to the handshake")]


@dataclass
class ConnectionRefused(ConnectTimeout):
    """Nothing listens on the port (a server restarting, a wrong port): the connection is
    refused at once, ``[Errno 111] Connection refused``."""

    name: ClassVar[str] = "connection_refused"

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [Connect(0.001, f"connecting to {ctx.host}: refused", error="ConnectError", message="[Errno 111] Connection refused")]


@dataclass
class ServerDisconnect(ConnectTimeout):
    """The server accepts the request and closes the connection before sending a byte
    (a crashed worker, a recycled keep-alive connection): ``RemoteProtocolError``."""

    name: ClassVar[str] = "server_disconnect"
    layer: ClassVar[int] = SERVER

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [
            Hangup("RemoteProtocolError", "Server disconnected without sending a response.", "server closed the connection before any byte")
        ]


@dataclass
class StaleConnection(Scenario):
    """The server (or a proxy, a NAT on the way) drops kept-alive connections idle longer
    than ``idle`` seconds, and the client does not learn it before it sends the next request
    on one: the request is answered by a close, "Server disconnected without sending a
    response." (``RemoteProtocolError``), which the SDK wraps and retries on a new
    connection (field report: openai/openai-python#371).

    It needs a connection the client really reuses: the network keeps each pool's
    connections as httpcore does (aiohttp's own connector keeps its connections, with its
    ``keepalive_timeout``), and the client reuses one only if it sat idle no longer
    than its pool's ``keepalive_expiry`` (5 s by default in httpx and httpx2), so the
    default 4 s stands for a server whose keep-alive timeout undercuts the client's
    (Node.js's and uvicorn's default is 5 s); a 60 to 75 s one bites only clients that keep
    connections longer (``httpx.Limits(keepalive_expiry=...)``). A close the client has
    received before it reuses the connection (a FIN) is noticed (httpcore checks the
    socket), and that connection is not reused: what this models is the close it cannot see
    in time (racing the request, or silent at a middlebox). The client's side is measured;
    where the close comes from, assumed."""

    name: ClassVar[str] = "stale_connection"
    main: ClassVar[str] = "idle"
    layer: ClassVar[int] = SERVER

    idle: float = 4.0

    def _durations(self) -> tuple[str, ...]:
        return ("idle",)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if ctx.reused_after is None or ctx.reused_after <= self.idle:
            return steps
        note = f"the server had dropped the connection (idle {ctx.reused_after:g} s > {self.idle:g} s)"
        return [Hangup("RemoteProtocolError", "Server disconnected without sending a response.", note)]


@dataclass
class SlowUpload(Scenario):
    """The request body goes up a slow uplink at ``rate`` bytes/s (plus ``extra_bytes``, to
    stand for a larger prompt). The stack's write returns once the body is buffered, so the
    upload counts against the read timeout, not the write timeout (measured: see
    ``exchange.Upload``); on real sockets only the bytes really sent can be slowed."""

    name: ClassVar[str] = "slow_upload"
    counts: ClassVar[dict[str, int]] = {"extra_bytes": 0}
    main: ClassVar[str] = "rate"
    layer: ClassVar[int] = CLIENT_NETWORK

    rate: float = 20_000.0
    extra_bytes: int = 0

    def __post_init__(self) -> None:
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        super().__post_init__()
        if not self.rate > 0:
            raise ScenarioError(f"{self.name}: rate must be a positive number of bytes per second")

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        size = ctx.request.size + self.extra_bytes
        return after_connecting(steps, [Upload(size / self.rate, f"uploading {size} bytes at {self.rate:g} B/s")])


@dataclass
class SlowDownload(Scenario):
    """The response body comes down a slow link at ``rate`` bytes/s (Toxiproxy's
    ``bandwidth``): it arrives in pieces of a tenth of a second's worth, so bytes keep
    coming and no read timeout fires (the read timeout bounds each silence, not the whole
    body); the call just takes ``size / rate`` seconds longer. Only a deadline over the
    whole call (or the test's budget) notices. Assumed (a link's bandwidth), the client's
    side measured."""

    name: ClassVar[str] = "slow_download"
    main: ClassVar[str] = "rate"
    layer: ClassVar[int] = CLIENT_NETWORK

    rate: float = 50.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 < self.rate < math.inf:
            raise ScenarioError(f"{self.name}: rate must be a positive number of bytes per second, not {self.rate!r}")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        piece = max(1, int(self.rate / 10))
        sliced = reslice(steps, piece)
        out: list[Step] = []
        for step in sliced:
            if isinstance(step, Data):
                out.append(Idle(len(step.payload) / self.rate, f"downloading at {self.rate:g} B/s"))
            out.append(step)
        return out


@dataclass
class ForceFailure(Scenario):
    """A realistic round trip to the API (``rtt``, 50 ms by default: a client in Europe
    calling a US region): connecting costs 2 round trips (TCP, TLS 1.3) and the first byte
    one more. The classic check "timeout=0.001 must fail at once" fails in the connect
    phase here; on loopback, with almost no round trip, it may not fail at all."""

    name: ClassVar[str] = "force_failure"
    main: ClassVar[str] = "rtt"
    layer: ClassVar[int] = CLIENT_NETWORK

    rtt: float = 0.05

    def _durations(self) -> tuple[str, ...]:
        return ("rtt",)

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if self.rtt == 0:
            return steps
        handshakes = Connect(2 * self.rtt, "TCP and TLS handshakes (2 round trips)")
        return before_head(steps, [handshakes], [Idle(self.rtt, "first byte (1 round trip)")])


@dataclass
class PoolExhaustion(SlowPrefill):
    """Slow answers (``seconds`` each, 30 s by default) for more concurrent calls than the
    client's connection limit (``httpx.Limits(max_connections=...)``): the calls past the
    limit wait for a free connection up to the pool timeout, then fail with ``PoolTimeout``
    (async clients; the network enforces each pool's limit as httpcore does)."""

    name: ClassVar[str] = "pool_exhaustion"
    seconds: float = 30.0
