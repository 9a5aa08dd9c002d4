"""Scenarios of the middleboxes on the path: proxies and load balancers that cut idle
connections and answer with their own error pages."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..api import wire
from ..exchange import (
    INCOMPLETE_CHUNKED,
    Data,
    Hangup,
    Head,
    Idle,
    Pings,
    Step,
    body_bytes,
    merge_idles,
    merged_idles,
)
from ..network.timeline import PART_JOIN
from .base import (
    PATH,
    AttemptContext,
    Scenario,
    ScenarioError,
    check_header_text,
    check_status,
    delay_first_byte,
    incomplete_message,
    reslice,
)
from .streams import delayed_first_byte, lazy, pings_within


@dataclass
class ProxyCutoff(Scenario):
    """An HTTP proxy (nginx, a load balancer) closes connections idle for ``idle`` seconds.

    The API behind it takes ``upstream`` seconds to answer (streams ping every
    ``ping_interval`` seconds meanwhile). Idle before the response headers: the proxy
    answers ``status`` (504 Gateway Timeout). Idle after the body started: it closes the
    connection mid-body, which the client reads as an incomplete chunked body. A stream
    that keeps sending is never idle.
    """

    name: ClassVar[str] = "proxy_cutoff"
    main: ClassVar[str] = "idle"
    layer: ClassVar[int] = PATH

    idle: float = 60.0
    upstream: float = 75.0
    ping_interval: float | None = 10.0
    status: int = 504
    server: str = "nginx"

    def _durations(self) -> tuple[str, ...]:
        return ("idle", "upstream", "ping_interval")

    def __post_init__(self) -> None:
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        super().__post_init__()
        check_status(self, "status")
        check_header_text(self, "server")

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        steps = delayed_first_byte(steps, self.upstream, self.ping_interval, "upstream working")
        return cut_idle(steps, self.idle, self.status, self.server)


PROXY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out", 524: "A timeout occurred"}


def error_page(status: int, server: str) -> list[Step]:
    """The response a proxy or load balancer sends when it gives up on the upstream."""
    page = wire.proxy_error_page(status, PROXY_REASONS.get(status, "Proxy Error"), server)
    headers = (
        ("server", server),
        ("content-type", "text/html"),
        ("content-length", str(len(page))),
        ("connection", "keep-alive"),
    )
    return [Head(status, headers, f"from the proxy ({server})", "proxy"), Data(page, "proxy error page")]


UPSTREAM_FAILED = 502
"""What a proxy answers when its upstream closes or resets before the response headers
(measured: nginx, "upstream prematurely closed connection"; tests/conformance)."""


def cut_idle(steps: Iterable[Step], idle: float, status: int, server: str) -> Iterator[Step]:
    """What a proxy with an idle cutoff forwards of ``steps``, as they come (measured against
    nginx by the conformance suite). It never passes the upstream's own failure on as it is:
    an upstream that closes or resets before its headers gets the client a ``502`` page, and
    one that fails mid-body gets the client's connection closed (FIN) before the body's end."""
    received = 0
    head: Head | None = None
    for step in merged_idles(steps):
        if isinstance(step, Pings) and step.interval > idle:
            step = step.gap()  # the proxy cuts in the first silence of the run
        if isinstance(step, Idle) and step.seconds > idle:
            yield Idle(idle, f"{step.note} (proxy cuts idle connections at {idle:g} s)", "proxy")
            yield from _proxy_gives_up(received, head, status, server, "proxy closed the idle connection mid-body")
            return
        if isinstance(step, Hangup):
            note = f"upstream failed ({step.error}): proxy closed the connection mid-body"
            yield from _proxy_gives_up(received, head, UPSTREAM_FAILED, server, note)
            return
        head = step if isinstance(step, Head) else head
        received += body_bytes(step)
        yield step


def _proxy_gives_up(sent: int | Sequence[Step], head: Head | None, status: int, server: str, note: str) -> list[Step]:
    """Before the headers: the proxy's error page. After: a close without the body's end,
    which the client reads as an incomplete body (httpcore's message for either framing).
    ``sent``: the body bytes the client got (or the steps it got)."""
    if head is None:
        return error_page(status, server)
    received = sent if isinstance(sent, int) else sum(body_bytes(s) for s in sent)
    return [Hangup("RemoteProtocolError", incomplete_message(head, received), note, "proxy")]


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

    def __post_init__(self) -> None:
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        super().__post_init__()
        check_status(self, "status")
        check_header_text(self, "server")

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        elapsed = 0.0
        headers_sent = False
        for step in merged_idles(delayed_first_byte(steps, self.upstream, self.ping_interval, "upstream working")):
            if isinstance(step, Pings):  # pings keep it busy, not past its deadline
                first, rest = step.split(pings_within(self.deadline - elapsed, step.interval, strict=False))
                if first is not None:
                    elapsed += first.seconds
                    yield first
                if rest is not None:
                    yield from self._cut(rest.gap(), elapsed, headers_sent)
                    return
                continue
            if isinstance(step, Idle) and elapsed + step.seconds > self.deadline:
                yield from self._cut(step, elapsed, headers_sent)
                return
            if isinstance(step, Idle):
                elapsed += step.seconds
            headers_sent = headers_sent or isinstance(step, Head)
            yield step

    def _cut(self, silence: Idle, elapsed: float, headers_sent: bool) -> Iterator[Step]:
        """The deadline falls in ``silence``: the load balancer gives up there."""
        yield Idle(max(0.0, self.deadline - elapsed), f"{silence.note} (load balancer deadline {self.deadline:g} s)", "load balancer")
        if headers_sent:
            note = "load balancer deadline reached mid-body"
            yield Hangup("RemoteProtocolError", INCOMPLETE_CHUNKED, note, "load balancer")
        else:
            yield from error_page(self.status, self.server)


@dataclass
class SlicedStream(Scenario):
    """The body arrives cut at arbitrary byte boundaries, ``size`` bytes at a time, ``gap``
    seconds apart, whatever the event boundaries (a proxy or a TCP path that re-segments;
    Toxiproxy's ``slicer``): inside an event, inside a multi-byte UTF-8 character (give the
    fake API a non-ASCII text), between ``\\r`` and ``\\n`` (``newline="\\r\\n"``: the server
    ends SSE lines with CRLF, which the SSE format allows). A large ``size`` coalesces many
    events into one piece. A correct client reassembles them: the SDK's SSE decoder does
    (measured). Assumed (how a path re-segments); the client's side measured."""

    name: ClassVar[str] = "sliced_stream"
    main: ClassVar[str] = "size"
    layer: ClassVar[int] = PATH

    size: int = 7
    gap: float = 0.001
    newline: str = "\n"

    def _durations(self) -> tuple[str, ...]:
        return ("gap",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ScenarioError(f"{self.name}: size must be a whole number of bytes >= 1, not {self.size!r}")
        if self.newline not in ("\n", "\r\n", "\r"):
            raise ScenarioError(f"{self.name}: newline must be '\\n', '\\r\\n' or '\\r', not {self.newline!r}")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if ctx.request.stream and self.newline != "\n":
            ending = self.newline.encode()
            steps = [Data(s.payload.replace(b"\n", ending), s.label) if isinstance(s, Data) else s for s in steps]
        return reslice(steps, self.size, self.gap, "next slice")


@dataclass
class BufferingProxy(Scenario):
    """A proxy that holds the response back until ``buffer`` bytes have come through or the
    upstream has finished, then passes it on at once, headers included: nginx with ``gzip``
    on for ``text/event-stream`` (measured: nginx 1.22 sends the response headers only with
    its first compressed output, at the end of a short stream), a TLS-inspecting proxy or
    an antivirus that scans whole responses (assumed). The API's pings no longer reach the
    client, so they no longer keep its read timeout alive: a slow prefill looks like one
    long silence before the headers, a read timeout shorter than it fires, and the SDK
    retries it (``APITimeoutError``). The upstream takes ``upstream`` seconds before its
    first token, pinging every ``ping_interval`` seconds (as ``proxy_cutoff``).

    Measured too: nginx's ``proxy_buffering on`` alone (its default) does not hold small
    events back from a client that reads them at once; every event is passed on as it
    arrives, so it is not what this scenario models (field report: BerriAI/litellm#29557)."""

    name: ClassVar[str] = "buffering_proxy"
    main: ClassVar[str] = "upstream"
    layer: ClassVar[int] = PATH

    upstream: float = 75.0
    ping_interval: float | None = 10.0
    buffer: int = 65536

    def _durations(self) -> tuple[str, ...]:
        return ("upstream", "ping_interval")

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.buffer, bool) or not isinstance(self.buffer, int) or self.buffer < 1:
            raise ScenarioError(f"{self.name}: buffer must be a whole number of bytes >= 1, not {self.buffer!r}")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        # An upstream that never answers pings forever, and the proxy holds every ping: the
        # client sees one endless silence, however many pings (so none are made).
        pings = None if math.isinf(self.upstream) else self.ping_interval
        steps = delay_first_byte(steps, self.upstream, pings, "upstream working")
        out: list[Step] = []
        held: list[Step] = []
        waited = 0.0
        size = 0
        for step in merge_idles(steps):
            if isinstance(step, Idle):
                waited += step.seconds
                continue
            if isinstance(step, Hangup):
                break
            held.append(step)
            size += len(step.payload) if isinstance(step, Data) else 0
            if size >= self.buffer:
                out += _release(held, waited, self.buffer)
                held, waited, size = [], 0.0, 0
        else:
            return out + _release(held, waited, self.buffer)
        return out + _release(held, waited, self.buffer) + [step]


def _release(held: list[Step], waited: float, buffer: int) -> list[Step]:
    """What the proxy sends when it lets go: the silence it caused, then what it held."""
    note = f"proxy holding the response (buffer {buffer} bytes)"
    parts = [s for s in held if isinstance(s, Data)]
    out: list[Step] = [Idle(waited, note, "proxy")] if waited > 0 else []
    out += [dataclasses.replace(s, by="proxy") for s in held if isinstance(s, Head)]
    if parts:
        out.append(Data(b"".join(p.payload for p in parts), PART_JOIN.join(p.label for p in parts)))
    return out
