"""The full scenario catalog beyond the four core ones, and the registry of names.

Each class says what the client sees and where the behaviour comes from: *documented*
(the vendor's documentation states it), *measured* (checked against real software by the
conformance suite), or *assumed* (a reasonable model nobody has checked yet).
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from . import wire
from .exchange import INCOMPLETE_CHUNKED, Connect, Data, Hangup, Head, Idle, Step, Upload, head_index, merge_idles
from .scenarios import (
    CLIENT_NETWORK,
    PATH,
    SERVER,
    AttemptContext,
    DnsFailure,
    ProxyCutoff,
    Scenario,
    ScenarioError,
    SlowPrefill,
    StalledStream,
    _after_label,
    _check_count,
    delay_first_byte,
    error_page,
)


def _applies(attempts: int | None, number: int) -> bool:
    return attempts is None or number <= attempts


@dataclass
class LongGeneration(Scenario):
    """The model writes ``tokens`` output tokens at ``rate`` tokens/s after ``prefill`` s.

    Non-streaming: nothing arrives until the whole answer is done (4,000 tokens at 50/s:
    81 s, past a 60 s read timeout). Streaming: deltas arrive as they are generated, so the
    read timeout only bounds the gap between two deltas. (Documented: the API streams
    deltas as generated; rates vary by model.)
    """

    name: ClassVar[str] = "long_generation"
    main: ClassVar[str] = "tokens"

    tokens: int = 4000
    rate: float = 50.0
    prefill: float = 1.0
    tokens_per_delta: int = 5

    def _durations(self) -> tuple[str, ...]:
        return ("prefill",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "tokens", self.tokens, minimum=1)
        _check_count(self, "tokens_per_delta", self.tokens_per_delta, minimum=1)
        if not self.rate > 0:
            raise ScenarioError(f"{self.name}: rate must be a positive number of tokens per second")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not ctx.request.stream:
            return delay_first_byte(steps, self.prefill + self.tokens / self.rate, None, f"generating {self.tokens} tokens")
        steps = delay_first_byte(steps, self.prefill, None, "prefill")
        deltas = [i for i, s in enumerate(steps) if isinstance(s, Data) and s.label == "content_block_delta"]
        if not deltas:
            return steps
        words = wire.chunk_text(wire.DEFAULT_TEXT)
        count = math.ceil(self.tokens / self.tokens_per_delta)
        gap = self.tokens_per_delta / self.rate
        generated: list[Step] = []
        for i in range(count):
            generated += [Idle(gap, "generating"), Data(wire.text_delta(words[i % len(words)]), "content_block_delta")]
        return [*steps[: deltas[0]], *generated, *steps[deltas[-1] + 1 :]]


@dataclass
class AwsAlb(ProxyCutoff):
    """AWS Application Load Balancer: idle timeout 60 s by default; a target that sends
    nothing for that long gets the client a 504 (documented: ALB idle timeout and
    "HTTP 504: Gateway Timeout"); mid-body it closes the connection (assumed)."""

    name: ClassVar[str] = "aws_alb"
    idle: float = 60.0
    status: int = 504
    server: str = "awselb/2.0"


@dataclass
class Cloudflare(ProxyCutoff):
    """Cloudflare's proxy: 100 s without a response from the origin gives the client
    "524 A timeout occurred" (documented: Proxy Read Timeout 100 s, error 524); a stream
    idle for 100 s is closed (assumed)."""

    name: ClassVar[str] = "cloudflare"
    idle: float = 100.0
    status: int = 524
    server: str = "cloudflare"


@dataclass
class GcpLoadBalancer(Scenario):
    """Google Cloud external Application Load Balancer: the backend service timeout (30 s
    by default) is a deadline for the whole response, so it cuts even a stream that keeps
    sending (documented: backend service timeout; streaming responses are bounded by it).
    Before headers the client gets 502 (assumed, logged as backend_timeout); after, the
    connection closes mid-body (assumed)."""

    name: ClassVar[str] = "gcp_lb"
    main: ClassVar[str] = "deadline"
    layer: ClassVar[int] = PATH

    deadline: float = 30.0
    upstream: float = 75.0
    ping_interval: float | None = 10.0
    status: int = 502
    server: str = "Google Frontend"

    def _durations(self) -> tuple[str, ...]:
        return ("deadline", "upstream", "ping_interval")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        steps = delay_first_byte(steps, self.upstream, self.ping_interval, "upstream working")
        out: list[Step] = []
        elapsed = 0.0
        for step in merge_idles(steps):
            if isinstance(step, Idle) and elapsed + step.seconds > self.deadline:
                out.append(Idle(self.deadline - elapsed, f"{step.note} (load balancer deadline {self.deadline:g} s)"))
                if any(isinstance(s, Head) for s in out):
                    out.append(Hangup("RemoteProtocolError", INCOMPLETE_CHUNKED, "load balancer deadline reached mid-body"))
                else:
                    out += error_page(self.status, self.server)
                return out
            if isinstance(step, Idle):
                elapsed += step.seconds
            out.append(step)
        return out


@dataclass
class ConnectTimeout(Scenario):
    """The host never answers the TCP handshake (SYN dropped by a firewall or a dead
    route) on the first ``attempts`` attempts: ``ConnectTimeout`` at the connect timeout."""

    name: ClassVar[str] = "connect_timeout"
    main: ClassVar[str] = "attempts"
    layer: ClassVar[int] = CLIENT_NETWORK

    attempts: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "attempts", self.attempts, minimum=1)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [Connect(math.inf, f"connecting to {ctx.host}: no answer to the handshake")]


@dataclass
class ConnectionRefused(ConnectTimeout):
    """Nothing listens on the port (a server restarting, a wrong port): the connection is
    refused at once, ``[Errno 111] Connection refused``."""

    name: ClassVar[str] = "connection_refused"

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [Connect(0.001, f"connecting to {ctx.host}: refused", error="ConnectError", message="[Errno 111] Connection refused")]


@dataclass
class ServerDisconnect(ConnectTimeout):
    """The server accepts the request and closes the connection before sending a byte
    (a crashed worker, a recycled keep-alive connection): ``RemoteProtocolError``."""

    name: ClassVar[str] = "server_disconnect"
    layer: ClassVar[int] = SERVER

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return [Hangup("RemoteProtocolError", "Server disconnected without sending a response.", "server closed the connection before any byte")]


def _after_deltas(steps: list[Step], deltas: int) -> int | None:
    """Where a stream is cut: after ``deltas`` text deltas (or its opening events); for a
    plain response, in the middle of its body."""
    at = _after_label(steps, "content_block_delta", deltas) if deltas else None
    return at if at is not None else _after_label(steps, "ping") or _after_label(steps, "message_start")


def _split_body(steps: list[Step]) -> list[Step]:
    """Cut a plain response's body in two parts so something can happen between them."""
    at = _after_label(steps, "message")
    if at is None:
        return steps
    body = steps[at - 1]
    assert isinstance(body, Data)
    half = len(body.payload) // 2
    return [*steps[: at - 1], Data(body.payload[:half], "message (first half)"), Data(body.payload[half:], "message (rest)"), *steps[at:]]


@dataclass
class ConnectionReset(Scenario):
    """A flaky link (mobile, VPN) resets the connection mid-body after ``deltas`` text
    deltas (half of a plain body): the client sees ``ReadError: [Errno 104] Connection
    reset by peer``. Only the first ``attempts`` attempts (``None``: all)."""

    name: ClassVar[str] = "connection_reset"
    main: ClassVar[str] = "deltas"
    layer: ClassVar[int] = CLIENT_NETWORK

    deltas: int = 2
    attempts: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "deltas", self.deltas, minimum=0)
        _check_count(self, "attempts", self.attempts, minimum=1)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        if not ctx.request.stream:
            steps = _split_body(steps)
            at = _after_label(steps, "message (first half)")
        else:
            at = _after_deltas(steps, self.deltas)
        if at is None:
            return steps
        return [*steps[:at], Hangup("ReadError", "[Errno 104] Connection reset by peer", "connection reset by peer (RST)")]


@dataclass
class TruncatedStream(Scenario):
    """A stream ends cleanly (its final chunk sent) after ``deltas`` text deltas, without
    ``message_stop``: the SDK hands back a partial message with ``stop_reason=None`` and no
    error. Silent data loss, which the marker's report flags."""

    name: ClassVar[str] = "truncated_stream"
    main: ClassVar[str] = "deltas"

    deltas: int = 2
    attempts: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "deltas", self.deltas, minimum=0)
        _check_count(self, "attempts", self.attempts, minimum=1)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not ctx.request.stream or not (self.attempts is None or ctx.stream_number <= self.attempts):
            return steps
        at = _after_deltas(steps, self.deltas)
        return steps if at is None else steps[:at]


@dataclass
class LongSilence(StalledStream):
    """A healthy stream goes quiet for ``stall`` seconds (330 s: a large ``tool_use`` input
    being prepared) and then completes. A read timeout or idle watchdog tighter than the
    silence fails it; one that allows it survives. Every attempt."""

    name: ClassVar[str] = "long_silence"

    stall: float = 330.0
    attempts: int | None = None


@dataclass
class RateLimited(Scenario):
    """The first ``attempts`` attempts get ``status`` (429, ``rate_limit_error``) with
    ``retry-after`` seconds, or ``retry-after-ms``, or (``http_date=True``) ``retry-after``
    as an HTTP date read against the virtual wall clock. The SDK decides what to honour:
    0.x only values up to 60 s, 1.x and later any positive value."""

    name: ClassVar[str] = "rate_limited"
    main: ClassVar[str] = "retry_after"

    retry_after: float | None = 5.0
    retry_after_ms: float | None = None
    http_date: bool = False
    attempts: int | None = 1
    status: int = 429
    error_type: str = "rate_limit_error"

    def _durations(self) -> tuple[str, ...]:
        return ("retry_after", "retry_after_ms")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "attempts", self.attempts, minimum=1)

    def headers(self, ctx: AttemptContext) -> dict[str, str]:
        extra = {}
        if self.retry_after is not None:
            extra["retry-after"] = (
                email.utils.format_datetime(ctx.at + timedelta(seconds=self.retry_after), usegmt=True)
                if self.http_date
                else f"{self.retry_after:g}"
            )
        if self.retry_after_ms is not None:
            extra["retry-after-ms"] = f"{self.retry_after_ms:g}"
        return extra

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        body = wire.error_body(self.error_type, "This request would exceed the rate limit for your organization.")
        headers = wire.error_headers(f"req_sim_{ctx.number:06d}", body, self.headers(ctx))
        return [Head(self.status, headers, f"({self.error_type})"), Data(body, "error body")]


@dataclass
class RetryAfterExtreme(RateLimited):
    """A 429 whose ``retry-after-ms`` asks for days (3 by default): what each SDK line does
    with it, and whether the test's budget notices."""

    name: ClassVar[str] = "retry_after"
    main: ClassVar[str] = "retry_after_ms"

    retry_after: float | None = None
    retry_after_ms: float | None = 3 * 86400 * 1000.0


@dataclass
class Overloaded(Scenario):
    """The API is overloaded on the first ``attempts`` attempts: ``where="headers"`` answers
    529 ``overloaded_error`` (retried by the SDK); ``where="stream"`` sends an ``error``
    event after ``deltas`` deltas and ends the stream (the SDK raises ``APIStatusError``
    with status 200 from the iteration and does not retry)."""

    name: ClassVar[str] = "overloaded"
    main: ClassVar[str] = "attempts"

    where: str = "headers"
    attempts: int | None = 1
    deltas: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "attempts", self.attempts, minimum=1)
        if self.where not in ("headers", "stream"):
            raise ScenarioError(f"{self.name}: where must be 'headers' or 'stream', not {self.where!r}")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        if self.where == "stream":
            if not ctx.request.stream:
                return steps
            at = _after_deltas(steps, self.deltas)
            return steps if at is None else [*steps[:at], Data(wire.error_event("overloaded_error", "Overloaded"), "error")]
        body = wire.error_body("overloaded_error", "Overloaded")
        return [Head(529, wire.error_headers(f"req_sim_{ctx.number:06d}", body), "(overloaded_error)"), Data(body, "error body")]


@dataclass
class SlowUpload(Scenario):
    """The request body goes up a slow uplink at ``rate`` bytes/s (plus ``extra_bytes``, to
    stand for a larger prompt). The stack's write returns once the body is buffered, so the
    upload counts against the read timeout, not the write timeout (measured: see
    ``exchange.Upload``); on real sockets only the bytes really sent can be slowed."""

    name: ClassVar[str] = "slow_upload"
    main: ClassVar[str] = "rate"
    layer: ClassVar[int] = CLIENT_NETWORK

    rate: float = 20_000.0
    extra_bytes: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.rate > 0:
            raise ScenarioError(f"{self.name}: rate must be a positive number of bytes per second")
        _check_count(self, "extra_bytes", self.extra_bytes, minimum=0)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        size = ctx.request.size + self.extra_bytes
        at = next((i for i, s in enumerate(steps) if not isinstance(s, Connect)), len(steps))
        return [*steps[:at], Upload(size / self.rate, f"uploading {size} bytes at {self.rate:g} B/s"), *steps[at:]]


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

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        at = head_index(steps)
        if at is None or self.rtt == 0:
            return steps
        return [Connect(2 * self.rtt, "TCP and TLS handshakes (2 round trips)"), *steps[:at], Idle(self.rtt, "first byte (1 round trip)"), *steps[at:]]


@dataclass
class PoolExhaustion(SlowPrefill):
    """Slow answers (``seconds`` each, 30 s by default) for more concurrent calls than the
    client's connection limit (``httpx.Limits(max_connections=...)``): the calls past the
    limit wait for a free connection up to the pool timeout, then fail with ``PoolTimeout``
    (async clients; the network enforces each pool's limit as httpcore does)."""

    name: ClassVar[str] = "pool_exhaustion"
    seconds: float = 30.0


SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls
    for cls in (
        SlowPrefill, StalledStream, ProxyCutoff, DnsFailure, LongGeneration, AwsAlb, Cloudflare,
        GcpLoadBalancer, ConnectTimeout, ConnectionRefused, ServerDisconnect, ConnectionReset,
        TruncatedStream, LongSilence, RateLimited, RetryAfterExtreme, Overloaded, SlowUpload, ForceFailure,
        PoolExhaustion,
    )
}
"""Every scenario by its name: the fixture names and the marker's scenario names."""
