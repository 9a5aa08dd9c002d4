"""The scenarios: what a slow or broken network does to an exchange with the API.

Each scenario is a small mutable dataclass (its parameters can change until the network
serves its first request) whose :meth:`Scenario.apply` rewrites the steps of one attempt.
The healthy API's steps come first; scenarios apply by layer: the server's own behaviour,
then middleboxes on the path (proxies), then the client's side of the network (DNS).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from . import wire
from .api import ApiRequest, FakeApi
from .exchange import INCOMPLETE_CHUNKED, Connect, Data, Head, Hangup, Idle, Step, head_index, merge_idles

SERVER, PATH, CLIENT_NETWORK = 0, 1, 2


@dataclass(frozen=True)
class AttemptContext:
    """What a scenario may know about the attempt it shapes."""

    number: int
    """1-based count of requests that reached the network so far, this one included."""
    stream_number: int
    """1-based count among streaming requests (0 for a non-streaming one)."""
    request: ApiRequest
    host: str
    at: datetime
    """The (virtual) wall-clock moment the request was sent, e.g. for ``retry-after`` dates."""


class ScenarioError(ValueError):
    """A scenario was given an unknown name or a bad parameter."""


@dataclass
class Scenario:
    """Base class: subclasses set ``name``, ``main`` (the parameter a bare number sets)
    and ``layer``, and implement :meth:`apply`."""

    name: ClassVar[str] = "scenario"
    main: ClassVar[str] = ""
    layer: ClassVar[int] = SERVER

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        raise NotImplementedError

    # -- parameters ----------------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        if self.__dict__.get("_locked"):
            raise ScenarioError(
                f"{self.name}: cannot set {key!r} after the network served its first request; "
                "set scenario parameters before the client makes a call"
            )
        super().__setattr__(key, value)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self._durations() and value is not None:
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
                    raise ScenarioError(
                        f"{self.name}: {f.name} must be a non-negative number of seconds, not {value!r}"
                    )

    def _durations(self) -> tuple[str, ...]:
        return ()

    def lock(self) -> None:
        """Freeze the parameters (the network calls this on its first request)."""
        self.__dict__["_locked"] = True

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self) -> str:
        return f"{self.name}({', '.join(f'{k}={_show(v)}' for k, v in self.params().items())})"

    def label(self) -> str:
        """Short id: the name and the main parameter, e.g. ``proxy_cutoff-30s``."""
        value = getattr(self, self.main, None) if self.main else None
        if value is None:
            return f"{self.name}-always" if self.main else self.name
        if self.main not in self._durations():
            return f"{self.name}-{value}"
        return f"{self.name}-{_show(value)}" if math.isinf(value) else f"{self.name}-{value:g}s"

    @classmethod
    def from_param(cls, param: Any = None) -> Scenario:
        """Build from an indirect-parametrization value: ``None``, a number, a dict, or an instance."""
        if param is None:
            return cls()
        if isinstance(param, cls):
            return dataclasses.replace(param)
        if isinstance(param, numbers.Real) and not isinstance(param, bool):
            return cls(**{cls.main: param})
        if isinstance(param, Mapping):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(param) - names)
            if unknown:
                raise ScenarioError(f"{cls.name}: unknown parameter(s) {unknown}; known: {sorted(names)}")
            return cls(**param)
        raise ScenarioError(
            f"{cls.name}: expected a number (its {cls.main}), a dict of parameters or a "
            f"{cls.__name__}, not {param!r}"
        )


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "forever"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def _after_label(steps: list[Step], label: str, occurrence: int = 1) -> int | None:
    """Index just after the ``occurrence``-th body part labelled ``label``."""
    seen = 0
    found = None
    for i, step in enumerate(steps):
        if isinstance(step, Data) and step.label == label:
            seen += 1
            found = i + 1
            if seen == occurrence:
                break
    return found


@dataclass
class SlowPrefill(Scenario):
    """The API needs ``seconds`` before the first response byte (a long prompt's prefill).

    A streaming response sends its headers and ``message_start`` at once, then a ``ping``
    every ``ping_interval`` seconds during the wait (``None``: no pings), as the API does.
    """

    name: ClassVar[str] = "slow_prefill"
    main: ClassVar[str] = "seconds"

    seconds: float = 75.0
    ping_interval: float | None = 10.0

    def _durations(self) -> tuple[str, ...]:
        return ("seconds", "ping_interval")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        return delay_first_byte(steps, self.seconds, self.ping_interval, "prefill")


def delay_first_byte(steps: list[Step], seconds: float, ping_interval: float | None, note: str) -> list[Step]:
    """Make the server think for ``seconds``: before the headers of a plain response, after
    ``message_start`` (with keep-alive pings) in a stream."""
    if seconds <= 0:
        return steps
    at = _after_label(steps, "message_start")
    if at is None:
        at = head_index(steps)
        return steps if at is None else [*steps[:at], Idle(seconds, note), *steps[at:]]
    wait: list[Step] = []
    elapsed = 0.0
    if ping_interval:
        while elapsed + ping_interval < seconds:
            wait += [Idle(ping_interval, note), Data(wire.PING, "ping")]
            elapsed += ping_interval
    wait.append(Idle(seconds - elapsed, note))
    return [*steps[:at], *wait, *steps[at:]]


@dataclass
class StalledStream(Scenario):
    """A stream delivers its opening events and ``deltas`` text deltas, then stays silent
    for ``stall`` seconds (default: forever) on the open connection.

    Only the first ``attempts`` streaming requests stall (``None``: every one); later
    ones, on new connections, are healthy. Non-streaming requests are not affected.
    """

    name: ClassVar[str] = "stalled_stream"
    main: ClassVar[str] = "stall"

    stall: float = math.inf
    deltas: int = 2
    attempts: int | None = 1

    def _durations(self) -> tuple[str, ...]:
        return ("stall",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "deltas", self.deltas, minimum=0)
        _check_count(self, "attempts", self.attempts, minimum=1)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not ctx.request.stream or (self.attempts is not None and ctx.stream_number > self.attempts):
            return steps
        at = _after_label(steps, "content_block_delta", self.deltas) if self.deltas else None
        if at is None:
            at = _after_label(steps, "ping") or _after_label(steps, "message_start")
        if at is None:
            return steps
        return [*steps[:at], Idle(self.stall, "stream stalled"), *steps[at:]]


def _check_count(scenario: Scenario, field: str, value: Any, *, minimum: int) -> None:
    if value is None and field == "attempts":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(f"{scenario.name}: {field} must be a whole number >= {minimum}, not {value!r}")


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
    return [Head(status, headers, f"from the proxy ({server})"), Data(page, "proxy error page")]


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
            out.append(Idle(idle, f"{step.note} (proxy cuts idle connections at {idle:g} s)"))
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
    return [Hangup("RemoteProtocolError", message, note)]


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
    main: ClassVar[str] = "attempts"
    layer: ClassVar[int] = CLIENT_NETWORK

    attempts: int | None = 1
    kind: str = "nxdomain"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count(self, "attempts", self.attempts, minimum=1)
        if self.kind not in DNS_KINDS:
            raise ScenarioError(f"{self.name}: kind must be one of {sorted(DNS_KINDS)}, not {self.kind!r}")

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if self.attempts is not None and ctx.number > self.attempts:
            return steps
        seconds, message = DNS_KINDS[self.kind]
        note = f"resolving {ctx.host}: {self.kind.replace('_', ' ')}"
        return [Connect(seconds, note, error="ConnectError", message=message, resolving=True)]


def shape(api: FakeApi, scenarios: Sequence[Scenario], request: ApiRequest, ctx: AttemptContext) -> list[Step]:
    """The far side of one attempt: the healthy API's steps, rewritten by each scenario by
    layer (server, then path, then the client's network). Client timeouts are not applied
    here: the simulated client side (``exchange.play``) or a real client does that."""
    steps = api.respond(request)
    for scenario in sorted(scenarios, key=lambda s: s.layer):
        steps = scenario.apply(steps, ctx)
    return steps


def scenario_from_spec(spec: str | Scenario) -> Scenario:
    """``"slow_prefill"``, ``"proxy_cutoff:30"`` (the main parameter) or a Scenario instance."""
    if isinstance(spec, Scenario):
        return dataclasses.replace(spec)
    if not isinstance(spec, str):
        raise ScenarioError(f"a scenario is a name such as 'proxy_cutoff:30' or a Scenario object, not {spec!r}")
    from .catalog import SCENARIOS

    name, _, value = spec.partition(":")
    cls = SCENARIOS.get(name.strip())
    if cls is None:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not value:
        return cls()
    try:
        number: float = int(value) if value.strip().isdigit() else float(value)
    except ValueError:
        raise ScenarioError(f"{spec!r}: {value!r} is not a number (the {cls.main} of {name})") from None
    return cls.from_param(number)
