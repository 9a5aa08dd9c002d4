"""One request/response exchange as a stream of steps, and how a client experiences it.

A scenario describes what the far side does (``Connect``, ``Idle``, ``Head``, ``Data``,
``Hangup``). :func:`play` walks those steps against the client's effective timeouts and
yields what the socket layer would: a wait (a float, in seconds), the response head, or
body bytes; and it raises the httpcore-level error of the stack in use where httpcore would
(``ReadTimeout`` when a silence outlasts the read timeout, ``ConnectTimeout`` ...).

Steps are produced as the clock reaches them (an iterable, often a generator): a scenario
may describe an endless exchange (a ping every microsecond, a stall of ``inf`` seconds, a
billion tokens) and the work stays bounded: the virtual horizon ends the waits, and
:data:`MAX_EVENTS` ends an attempt that would deliver more parts than any real one.

The drivers in ``network.py`` turn the waits into virtual sleeps, sync or async; the same
generator serves both, so the two never disagree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

from .api.wire import Headers
from .errors import HorizonExceeded, SimulationError, hide_unless_harness_error
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


MAX_EVENTS = 50_000
"""The most steps (body parts and the silences between them) one attempt may deliver: above
any real response (``LongGeneration(100_000)`` is 40,000), low enough to end in seconds of
wall time (the SDK parses every part). A scenario that would deliver more (a ping every
microsecond, a billion tokens) ends there with
:class:`~pytest_claude_timeout.errors.HorizonExceeded`; ``SimulatedNetwork.max_events``
raises the bound."""


def merged_idles(steps: Iterable[Step]) -> Iterator[Step]:
    """Join consecutive silences, lazily: the client sees one gap, not two."""
    pending: Idle | None = None
    joined = 0
    for step in steps:
        if isinstance(step, Idle):
            if pending is not None and joined >= _MAX_JOINED:  # an endless run of silences
                yield pending
                pending, joined = None, 0
            if pending is None:
                pending = step
            else:
                note = f"{pending.note}, then {step.note}" if joined < 8 else pending.note  # keep notes short
                pending = Idle(pending.seconds + step.seconds, note, step.by or pending.by)
            joined += 1
            continue
        joined = 0
        if pending is not None:
            yield pending
            pending = None
        yield step
    if pending is not None:
        yield pending


_MAX_JOINED = 1000


def merge_idles(steps: Iterable[Step]) -> list[Step]:
    """:func:`merged_idles` as a list (for a finite list of steps)."""
    return list(merged_idles(steps))


def leading(steps: Iterable[Step]) -> list[Step]:
    """The steps before anything reaches the client: the ``Connect`` and ``Upload`` steps an
    exchange starts with (the rest of ``steps``, possibly endless, is not read)."""
    out: list[Step] = []
    for step in steps:
        if not isinstance(step, (Connect, Upload)):
            break
        out.append(step)
    return out


def head_index(steps: list[Step]) -> int | None:
    return next((i for i, s in enumerate(steps) if isinstance(s, Head)), None)


def _fmt(seconds: float) -> str:
    return "forever" if math.isinf(seconds) else f"{seconds:g} s"


def play(
    steps: Iterable[Step],
    timeouts: Timeouts,
    attempt: Attempt,
    core: ModuleType,
    now: Callable[[], float],
    *,
    sync: bool = True,
    max_events: int = MAX_EVENTS,
) -> Iterator[Yielded]:
    """Walk ``steps`` as the client's socket layer experiences them (see module doc)."""
    __tracebackhide__ = hide_unless_harness_error
    phase = "connect"
    steps, upload = _upload_seconds(steps)
    uploads_as_silence = (Idle(s.seconds, s.note) if isinstance(s, Upload) else s for s in steps)
    for count, step in enumerate(merged_idles(uploads_as_silence), 1):
        if count > max_events:
            raise HorizonExceeded(
                f"attempt {attempt.number}: the scenario would deliver more than {max_events:,} parts in one "
                f"exchange (at virtual t={now():.6g} s, {len(attempt.delivered):,} body parts so far); the "
                "simulation stopped it there. No real response is that long: check the scenario's parameters "
                "(a tiny interval, a huge number of tokens).",
                waited=now() - attempt.start,
                forever=False,
            )
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
            if phase == "body":
                raise SimulationError(f"attempt {attempt.number}: a scenario sent a second response head ({step.status})")
            phase = "body"
            attempt.status = step.status
            attempt.event(now(), f"response headers: {step.status}{' ' + step.note if step.note else ''}", "head", step.by)
            attempt.enter("streaming" if attempt.stream else "body", now())
            attempt.arm("read", timeouts.read, now())
            yield step
        elif isinstance(step, Data):
            if phase != "body":
                raise SimulationError(f"attempt {attempt.number}: a scenario produced body data ({step.label}) before the response headers")
            attempt.delivered.append(step.label)
            attempt.event(now(), step.label, "ping" if step.label == "ping" else "data")
            attempt.arm("read", timeouts.read, now())
            yield step.payload
        elif isinstance(step, Hangup):
            _hang_up(step, attempt, core, now, phase)
        else:
            raise SimulationError(f"attempt {attempt.number}: a scenario produced {step!r}, which is not a step")
    if phase != "body":
        raise SimulationError(f"attempt {attempt.number}: a scenario ended the exchange without response headers")
    attempt.finish(now(), f"{attempt.status}, body complete", phase="done")


def _upload_seconds(steps: Iterable[Step]) -> tuple[Iterator[Step], float]:
    """How long sending the request body takes (the uploads the exchange starts with, after
    connecting), and the steps (unchanged: the few read ahead are put back)."""
    it = iter(steps)
    first: list[Step] = []
    for step in it:
        first.append(step)
        if not isinstance(step, (Connect, Upload)):
            break
    return itertools.chain(first, it), sum(s.seconds for s in first if isinstance(s, Upload))


def _enter_request_phases(attempt: Attempt, at: float, upload: float) -> None:
    """The connection is up: the client sends its request (``upload``, when slow), then
    waits for the first byte; the read timer starts with the request."""
    if upload > 0:
        attempt.enter("upload", at)
    attempt.enter("waiting", at + upload)
    attempt.deadlines.pop("connect", None)


def _hang_up(step: Hangup, attempt: Attempt, core: ModuleType, now: Callable[[], float], phase: str) -> None:
    __tracebackhide__ = hide_unless_harness_error
    attempt.event(now(), f"{step.note} -> {step.error}", "hangup", step.by)
    attempt.finish(now(), f"{step.error} in {phase}: {step.message}", phase=phase, error=step.error)
    raise getattr(core, step.error)(step.message)
