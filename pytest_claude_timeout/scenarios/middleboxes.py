"""Scenarios of the middleboxes on the path: proxies and load balancers that cut idle
connections and answer with their own error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..api import wire
from ..exchange import (
    INCOMPLETE_CHUNKED,
    Data,
    Hangup,
    Head,
    Idle,
    Step,
    merge_idles,
)
from .base import (
    PATH,
    AttemptContext,
    Scenario,
    delay_first_byte,
)


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

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        steps = delay_first_byte(steps, self.upstream, self.ping_interval, "upstream working")
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


def cut_idle(steps: list[Step], idle: float, status: int, server: str) -> list[Step]:
    """What a proxy with an idle cutoff forwards of ``steps`` (measured against nginx by the
    conformance suite). It never passes the upstream's own failure on as it is: an upstream
    that closes or resets before its headers gets the client a ``502`` page, and one that
    fails mid-body gets the client's connection closed (FIN) before the body's end."""
    out: list[Step] = []
    head: Head | None = None
    for step in merge_idles(steps):
        if isinstance(step, Idle) and step.seconds > idle:
            out.append(Idle(idle, f"{step.note} (proxy cuts idle connections at {idle:g} s)", "proxy"))
            return out + _proxy_gives_up(out, head, status, server, "proxy closed the idle connection mid-body")
        if isinstance(step, Hangup):
            note = f"upstream failed ({step.error}): proxy closed the connection mid-body"
            return out + _proxy_gives_up(out, head, UPSTREAM_FAILED, server, note)
        head = step if isinstance(step, Head) else head
        out.append(step)
    return out


def _proxy_gives_up(sent: list[Step], head: Head | None, status: int, server: str, note: str) -> list[Step]:
    """Before the headers: the proxy's error page. After: a close without the body's end,
    which the client reads as an incomplete body (httpcore's message for either framing)."""
    if head is None:
        return error_page(status, server)
    length = dict(head.headers).get("content-length")
    message = INCOMPLETE_CHUNKED
    if length is not None:
        received = sum(len(s.payload) for s in sent if isinstance(s, Data))
        message = f"peer closed connection without sending complete message body (received {received} bytes, expected {length})"
    return [Hangup("RemoteProtocolError", message, note, "proxy")]


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
                out.append(Idle(self.deadline - elapsed, f"{step.note} (load balancer deadline {self.deadline:g} s)", "load balancer"))
                if any(isinstance(s, Head) for s in out):
                    note = "load balancer deadline reached mid-body"
                    out.append(Hangup("RemoteProtocolError", INCOMPLETE_CHUNKED, note, "load balancer"))
                else:
                    out += error_page(self.status, self.server)
                return out
            if isinstance(step, Idle):
                elapsed += step.seconds
            out.append(step)
        return out
