"""One request/response exchange as a list of steps, and how a client experiences it.

A scenario describes what the far side does (``Connect``, ``Idle``, ``Head``, ``Data``,
``Hangup``). :func:`play` walks those steps against the client's effective timeouts and
yields what the socket layer would: a wait (a float, in seconds), the response head, or
body bytes; and it raises the httpcore-level error of the stack in use where httpcore would
(``ReadTimeout`` when a silence outlasts the read timeout, ``ConnectTimeout`` ...).

The drivers in ``network.py`` turn the waits into virtual sleeps, sync or async; the same
generator serves both, so the two never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

from .api.wire import Headers
from .network.timeline import Attempt, Timeouts


@dataclass(frozen=True)
class Connect:
    """Establishing the connection takes ``seconds`` (DNS, TCP and TLS round trips)."""

    seconds: float
    note: str = "connecting"
    error: str | None = None
    """When set, connecting fails after ``seconds`` with this httpcore exception class."""
    message: str = ""
    resolving: bool = False
    """Name resolution: the sync stacks call ``getaddrinfo`` outside the connect timeout
    (``socket.create_connection``), the async ones inside it (``anyio.fail_after``)."""
    by: str = ""


@dataclass(frozen=True)
class Upload:
    """Sending the request body takes ``seconds`` (a slow uplink).

    The client does not wait for it under its write timeout: the stack's write returns once
    the body is in a buffer (asyncio's transport takes all of it at once; the kernel's send
    buffer takes a loopback-sized body, and httpcore's sync write timeout bounds each send
    call, i.e. a stall, not a steady upload). The client then waits for the response, so
    the upload counts against the read timeout, merged with the silence that follows.
    (Measured by the conformance suite: a 1 MB body at 20 kB/s over real sockets gives
    ``ReadTimeout`` at the read timeout, and no ``WriteTimeout`` even at a 1 ms write timeout.)"""

    seconds: float
    note: str = "uploading the request"


@dataclass(frozen=True)
class Idle:
    """Nothing arrives for ``seconds`` (``math.inf``: never again on this connection)."""

    seconds: float
    note: str
    by: str = ""
    """Who keeps it silent, when not the API server: ``proxy``, ``stall`` ..."""


@dataclass(frozen=True)
class Head:
    """The response status line and headers arrive."""

    status: int
    headers: Headers
    note: str = ""
    by: str = ""
    """Who answers, when not the API server: ``proxy``, ``load balancer`` ..."""


@dataclass(frozen=True)
class Data:
    """A piece of the body arrives; ``label`` names it (an SSE event name, ``message`` ...)."""

    payload: bytes
    label: str


@dataclass(frozen=True)
class Hangup:
    """The connection fails: ``error`` is the httpcore exception class name to raise."""

    error: str
    message: str
    note: str
    by: str = ""
    raw: bytes = b""
    """Bytes a real server writes as they are, outside the HTTP framing, before it closes
    (garbage, a broken chunk): the fault server sends them; in the simulation the client
    meets only the error they cause (``error``, ``message``)."""


Step = Connect | Upload | Idle | Head | Data | Hangup
Yielded = float | Head | bytes

INCOMPLETE_CHUNKED = (
    "peer closed connection without sending complete message body (incomplete chunked read)"
)


def merge_idles(steps: Iterable[Step]) -> list[Step]:
    """Join consecutive silences: the client sees one gap, not two."""
    merged: list[Step] = []
    for step in steps:
        last = merged[-1] if merged else None
        if isinstance(step, Idle) and isinstance(last, Idle):
            merged[-1] = Idle(last.seconds + step.seconds, f"{last.note}, then {step.note}", step.by or last.by)
        else:
            merged.append(step)
    return merged


def head_index(steps: list[Step]) -> int | None:
    return next((i for i, s in enumerate(steps) if isinstance(s, Head)), None)


def _fmt(seconds: float) -> str:
    return "forever" if math.isinf(seconds) else f"{seconds:g} s"


def play(
    steps: list[Step],
    timeouts: Timeouts,
    attempt: Attempt,
    core: ModuleType,
    now: Callable[[], float],
    *,
    sync: bool = True,
) -> Iterator[Yielded]:
    """Walk ``steps`` as the client's socket layer experiences them (see module doc)."""
    phase = "connect"
    upload = _upload_seconds(steps)
    uploads_as_silence = [Idle(s.seconds, s.note) if isinstance(s, Upload) else s for s in steps]
    for step in merge_idles(uploads_as_silence):
        if phase == "connect" and not isinstance(step, Connect):
            phase = "headers"
            _enter_request_phases(attempt, now(), upload)
        if isinstance(step, (Connect, Idle)):
            connecting = isinstance(step, Connect)
            which = "connect" if connecting else "read"
            limit = getattr(timeouts, which)
            if isinstance(step, Connect) and step.resolving and sync:
                limit = None
            if connecting and not attempt.phases:
                attempt.enter("connect", now())
            attempt.arm(which, limit, now())  # a silence starts at the last byte received
            if step.seconds > 0:
                attempt.event(now(), f"{step.note}: {_fmt(step.seconds)}", "connect" if connecting else "wait", step.by)
            if limit is not None and step.seconds > limit:
                yield float(limit)
                error = f"{which.capitalize()}Timeout"
                attempt.event(now(), f"client gave up: no progress for {limit:g} s ({which} timeout)", "timeout")
                attempt.finish(now(), f"{error} ({which} timeout {limit:g} s) in {phase}", phase=phase, error=error)
                raise getattr(core, error)("timed out")
            if step.seconds > 0:
                yield float(step.seconds)
            if isinstance(step, Connect) and step.error:
                _hang_up(Hangup(step.error, step.message, step.note, step.by), attempt, core, now, phase)
        elif isinstance(step, Head):
            phase = "body"
            attempt.status = step.status
            attempt.event(now(), f"response headers: {step.status}{' ' + step.note if step.note else ''}", "head", step.by)
            attempt.enter("streaming" if attempt.stream else "body", now())
            attempt.arm("read", timeouts.read, now())
            yield step
        elif isinstance(step, Data):
            if phase != "body":
                raise ValueError("a scenario produced body data before the response headers")
            attempt.delivered.append(step.label)
            attempt.event(now(), step.label, "ping" if step.label == "ping" else "data")
            attempt.arm("read", timeouts.read, now())
            yield step.payload
        elif isinstance(step, Hangup):
            _hang_up(step, attempt, core, now, phase)
    if phase != "body":
        raise ValueError("a scenario ended the exchange without response headers")
    attempt.finish(now(), f"{attempt.status}, body complete", phase="done")


def _upload_seconds(steps: list[Step]) -> float:
    """How long sending the request body takes (the uploads before the response headers)."""
    head = head_index(steps)
    return sum(s.seconds for s in steps[:head] if isinstance(s, Upload))


def _enter_request_phases(attempt: Attempt, at: float, upload: float) -> None:
    """The connection is up: the client sends its request (``upload``, when slow), then
    waits for the first byte; the read timer starts with the request."""
    if upload > 0:
        attempt.enter("upload", at)
    attempt.enter("waiting", at + upload)
    attempt.deadlines.pop("connect", None)


def _hang_up(step: Hangup, attempt: Attempt, core: ModuleType, now: Callable[[], float], phase: str) -> None:
    attempt.event(now(), f"{step.note} -> {step.error}", "hangup", step.by)
    attempt.finish(now(), f"{step.error} in {phase}: {step.message}", phase=phase, error=step.error)
    raise getattr(core, step.error)(step.message)
