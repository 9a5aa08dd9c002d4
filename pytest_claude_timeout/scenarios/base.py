"""The scenarios: what a slow or broken network does to an exchange with the API.

Each scenario is a small mutable dataclass (its parameters can change until the network
serves its first request) whose :meth:`Scenario.apply` rewrites the steps of one attempt.
The healthy API's steps come first; scenarios apply by layer: the server's own behaviour,
then middleboxes on the path (proxies), then the client's side of the network (DNS).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol

from ..api import wire
from ..api.fake import ApiRequest, FakeApi
from ..exchange import (
    INCOMPLETE_CHUNKED,
    Connect,
    Data,
    Head,
    Idle,
    Step,
    head_index,
)
from ..network.timeline import PART_JOIN

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
    reused_after: float | None = None
    """The request goes out on a kept-alive connection that sat idle this long (seconds);
    ``None``: on a new connection."""


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


def _check_count(scenario: Scenario, field: str, value: Any, *, minimum: int) -> None:
    if value is None and field == "attempts":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(f"{scenario.name}: {field} must be a whole number >= {minimum}, not {value!r}")


def _applies(attempts: int | None, number: int) -> bool:
    return attempts is None or number <= attempts


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


def error_response(status: int, kind: str, message: str, ctx: AttemptContext, extra: Mapping[str, str] = {}) -> list[Step]:
    """The API's JSON error response (``{"type": "error", "error": {...}}``) for one attempt."""
    body = wire.error_body(kind, message)
    headers = wire.error_headers(f"req_sim_{ctx.number:06d}", body, extra)
    return [Head(status, headers, f"({kind})"), Data(body, "error body")]


def incomplete_body(sent: list[Step]) -> str:
    """httpcore's message when the peer closes (FIN) before the body's end, given the steps
    sent so far: a chunked body misses its final chunk, a sized one some bytes."""
    head = next((s for s in sent if isinstance(s, Head)), None)
    length = dict(head.headers).get("content-length") if head is not None else None
    if length is None:
        return INCOMPLETE_CHUNKED
    received = sum(len(s.payload) for s in sent if isinstance(s, Data))
    return f"peer closed connection without sending complete message body (received {received} bytes, expected {length})"


def reslice(steps: list[Step], size: int, gap: float = 0.0, note: str = "next slice") -> list[Step]:
    """The body cut into pieces of ``size`` bytes, whatever the event boundaries: each run
    of body parts sent together (no silence between them) is joined and cut again, with
    ``gap`` seconds between the pieces. A piece is labelled with the events it completes
    (joined by :data:`PART_JOIN`), or ``part of <event>`` when it completes none."""
    out: list[Step] = []
    run: list[Data] = []

    def flush() -> None:
        if not run:
            return
        payload = b"".join(d.payload for d in run)
        ends, at = [], 0
        for d in run:
            at += len(d.payload)
            ends.append((at, d.label))
        for start in range(0, len(payload), size):
            stop = min(start + size, len(payload))
            done = [label for end, label in ends if start < end <= stop]
            current = next(label for end, label in ends if end > start)
            if out and gap > 0 and isinstance(out[-1], Data):
                out.append(Idle(gap, note))
            out.append(Data(payload[start:stop], PART_JOIN.join(done) if done else f"part of {current}"))
        run.clear()

    for step in steps:
        if isinstance(step, Data):
            run.append(step)
            continue
        flush()
        out.append(step)
    flush()
    return out


class Responder(Protocol):
    """What answers a request before the scenarios shape it (the fake API, a user's mock)."""

    def respond(self, request: ApiRequest) -> list[Step]: ...


def shape(api: Responder, scenarios: Sequence[Scenario], request: ApiRequest, ctx: AttemptContext) -> list[Step]:
    """The far side of one attempt: the healthy API's steps, rewritten by each scenario by
    layer (server, then path, then the client's network). Client timeouts are not applied
    here: the simulated client side (``exchange.play``) or a real client does that."""
    steps = api.respond(request)
    for scenario in sorted(scenarios, key=lambda s: s.layer):
        steps = scenario.apply(steps, ctx)
    return steps


def connect_step(scenarios: Sequence[Scenario], api: FakeApi, number: int, host: str) -> Connect | None:
    """The first ``Connect`` step the scenarios give attempt ``number`` (``None``: the
    connection is made at once). It does not depend on the request, which does not exist
    yet when a connection is made: it is shaped for a placeholder request."""
    request = ApiRequest("POST", f"http://{host}/v1/messages", "/v1/messages", {})
    ctx = AttemptContext(number, 0, request, host, datetime.now(timezone.utc))
    steps = shape(FakeApi(text=api.text), scenarios, request, ctx)
    return next((s for s in steps if isinstance(s, Connect)), None)
