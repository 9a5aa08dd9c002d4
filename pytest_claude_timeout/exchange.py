"""One request/response exchange as a stream of steps, and how a client experiences it.

A scenario describes what the far side does (``Connect``, ``Idle``, ``Head``, ``Data``,
``Hangup``). :func:`play` walks those steps against the client's effective timeouts and
yields what the socket layer would: a wait (a float, in seconds), the response head, or
body bytes; and it raises the httpcore-level error of the stack in use where httpcore would
(``ReadTimeout`` when a silence outlasts the read timeout, ``ConnectTimeout`` ...).

Steps are produced as the clock reaches them (an iterable, often a generator): a scenario
may describe an endless exchange (a ping every microsecond, a stall of ``inf`` seconds, a
billion tokens) and the work stays bounded: the virtual horizon ends the waits, and
:data:`MAX_EVENTS` ends an attempt that would deliver more parts than any real one. A run
of keep-alive pings is one :class:`Pings` step, which :func:`play` can fast-forward (see
:func:`fast_forwarded`): a ping every microsecond until the horizon costs milliseconds.

The drivers in ``network.py`` turn the waits into virtual sleeps, sync or async; the same
generator serves both, so the two never disagree.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

from .api.wire import PING, Headers
from .errors import HorizonExceeded, SimulationError, hide_unless_harness_error
from .network.timeline import Attempt, Event, Timeouts


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


@dataclass(frozen=True)
class Pings:
    """``count`` keep-alive events, one every ``interval`` seconds: what ``count`` pairs of
    ``Idle(interval, note, by)`` and ``Data(payload, label)`` describe, as one step
    (``count`` may be ``math.inf``: they never stop). A dense or endless run costs one step
    to produce and to pass along; :func:`expanded` gives the pairs to whoever needs them
    one by one (the fault server, a scenario that reads its steps as a list)."""

    interval: float
    count: float
    note: str
    payload: bytes = PING
    label: str = "ping"
    by: str = ""

    def gap(self) -> Idle:
        return Idle(self.interval, self.note, self.by)

    def part(self) -> Data:
        return Data(self.payload, self.label)

    def split(self, n: float) -> tuple[Pings | None, Pings | None]:
        """The first ``n`` pings and the rest (``None`` for an empty side)."""
        n = max(0.0, min(n, self.count))
        first = dataclasses.replace(self, count=n) if n > 0 else None
        rest = dataclasses.replace(self, count=self.count - n) if self.count > n else None
        return first, rest

    @property
    def seconds(self) -> float:
        """How long the run lasts (``inf`` for an endless one)."""
        return self.count * self.interval


Step = Connect | Upload | Idle | Head | Data | Hangup | Pings
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


def expanded(steps: Iterable[Step]) -> Iterator[Step]:
    """``steps`` with each :class:`Pings` run spelled out as its ``Idle`` and ``Data``
    pairs, lazily (an endless run never ends)."""
    for step in steps:
        if not isinstance(step, Pings):
            yield step
            continue
        gap, part = step.gap(), step.part()
        n = 0
        while n < step.count:
            yield gap
            yield part
            n += 1


def body_bytes(step: Step) -> int:
    """The body bytes a step sends (a run of pings: all of its pings')."""
    if isinstance(step, Data):
        return len(step.payload)
    if isinstance(step, Pings) and not math.isinf(step.count):
        return len(step.payload) * int(step.count)
    return 0


def has_runs(steps: list[Step]) -> bool:
    return any(isinstance(s, Pings) for s in steps)


def merged_idles(steps: Iterable[Step]) -> Iterator[Step]:
    """Join consecutive silences, lazily: the client sees one gap, not two (a silence just
    before a run of pings joins the run's first gap)."""
    pending: Idle | None = None
    joined = 0
    for step in steps:
        if isinstance(step, Pings) and pending is not None:
            first = step.gap()
            note = f"{pending.note}, then {first.note}" if joined < 8 else pending.note
            yield Idle(pending.seconds + first.seconds, note, first.by or pending.by)
            yield step.part()
            pending, joined = None, 0
            rest = step.split(1)[1]
            if rest is not None:
                yield rest
            continue
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
    until: Callable[[], float] | None = None,
) -> Iterator[Yielded]:
    """Walk ``steps`` as the client's socket layer experiences them (see module doc).

    ``until``: when the one reading the body is the SDK's own SSE decoder (it drops pings),
    the moment up to which nothing else on the clock can act, for :func:`fast_forwarded`;
    ``None``: every ping is played as it comes."""
    __tracebackhide__ = hide_unless_harness_error
    phase = "connect"
    steps, upload = _upload_seconds(steps)
    uploads_as_silence = (Idle(s.seconds, s.note) if isinstance(s, Upload) else s for s in steps)
    shaped = merged_idles(_runs_kept(uploads_as_silence, until is not None, timeouts.read))
    log = _RunLog(attempt)
    for count, step in enumerate(shaped if until is None else fast_forwarded(shaped, now, until), 1):
        if count > max_events:
            raise too_many(attempt, max_events, now())
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
        elif isinstance(step, (Data, Stretch)):
            if phase != "body":
                label = step.label if isinstance(step, Data) else step.run.label
                raise SimulationError(f"attempt {attempt.number}: a scenario produced body data ({label}) before the response headers")
            if isinstance(step, Data):
                attempt.delivered.append(step.label)
                attempt.event(now(), step.label, "ping" if step.label == "ping" else "data")
                attempt.arm("read", timeouts.read, now())
                yield step.payload
            else:
                yield from _stretch(step, attempt, timeouts.read, now, log)
        elif isinstance(step, Hangup):
            _hang_up(step, attempt, core, now, phase)
        else:
            raise SimulationError(f"attempt {attempt.number}: a scenario produced {step!r}, which is not a step")
    if phase != "body":
        raise SimulationError(f"attempt {attempt.number}: a scenario ended the exchange without response headers")
    attempt.finish(now(), f"{attempt.status}, body complete", phase="done")


def too_many(attempt: Attempt, max_events: int, at: float) -> HorizonExceeded:
    """The error that ends an attempt that would deliver more than ``max_events`` parts."""
    return HorizonExceeded(
        f"attempt {attempt.number}: the scenario would deliver more than {max_events:,} parts in one "
        f"exchange (at virtual t={at:.6g} s, {len(attempt.delivered):,} body parts so far); the "
        "simulation stopped it there. No real response is that long: check the scenario's parameters "
        "(a tiny interval, a huge number of tokens).",
        waited=at - attempt.start,
        forever=False,
    )


# -- fast-forwarding runs of pings ------------------------------------------------------------

RECORDED_PINGS = 400
"""How many fast-forwarded pings one attempt's timeline lists one by one (each with its
silence, and in ``Attempt.delivered``); past that, one line per run sums up the rest."""


@dataclass(frozen=True)
class Stretch:
    """What :func:`fast_forwarded` makes of a run of pings: ``count`` pings played as one
    wait, the last of them delivered for real (its silence, then its bytes)."""

    run: Pings
    count: float


def _runs_kept(steps: Iterable[Step], fast: bool, read: float | None) -> Iterator[Step]:
    """``steps`` with the runs of pings that cannot be fast-forwarded spelled out: all of them
    without ``fast``; those further apart than the read timeout ``read`` (it fires in the
    first gap, exactly as for any silence)."""
    for step in steps:
        if isinstance(step, Pings) and not (fast and (read is None or step.interval <= read)):
            yield from expanded((step,))
        else:
            yield step


def fast_forwarded(steps: Iterable[Step], now: Callable[[], float], until: Callable[[], float]) -> Iterator[Step | Stretch]:
    """``steps`` with each run of pings cut in :class:`Stretch` es that :func:`play` plays as
    one wait each.

    Exact, not an approximation: the run's pings reach no code but the SDK's SSE decoder,
    which drops them (the transport passes ``until`` only then); each ping restarts the read
    timeout, and the run is kept whole only when its pings are no further apart than the read
    timeout (:func:`_runs_kept`), so no timeout can fire inside it. What is left is time
    passing, and other participants of the clock acting meanwhile. So a stretch ends at the
    first ping at or after ``until()`` (read as it starts: the next moment another
    participant's timer fires, or the horizon; now when one is ready to run): whatever that
    participant does (cancel the call, close the response, stop the network) meets the
    attempt at the same ping as if every ping had been played. At the horizon, the last
    ping's silence is the wait the clock stops, as without the fast-forward."""
    for step in steps:
        if not isinstance(step, Pings):
            yield step
            continue
        left = step.count
        while left > 0:
            room = (until() - now()) / step.interval
            k = min(left, max(1.0, float(math.ceil(room)) if room < 1e300 else math.inf))
            yield Stretch(step, k)
            left -= k


def _stretch(stretch: Stretch, attempt: Attempt, read: float | None, now: Callable[[], float], log: _RunLog) -> Iterator[Yielded]:
    run = stretch.run
    start = now()
    skipped = stretch.count - 1
    if skipped > 0:
        yield skipped * run.interval  # the pings no code above the SDK's decoder sees
        log.pings(run, start, skipped)
    at = now()
    attempt.arm("read", read, at)
    log.gap(run, at)
    yield float(run.interval)
    log.pings(run, at, 1, gap=False)
    attempt.arm("read", read, now())
    yield run.payload


class _RunLog:
    """What one attempt's timeline keeps of its fast-forwarded pings: each one as if played
    (its silence, then the ping), up to :data:`RECORDED_PINGS`; then one line per run, kept
    up to date, that sums up the rest ("prefill: a ping every 1e-06 s until 86400 s ...")."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.recorded = 0
        self.summary: tuple[Pings, Event, float] | None = None

    def gap(self, run: Pings, at: float) -> None:
        if self.recorded < RECORDED_PINGS:
            self.attempt.event(at, f"{run.note}: {_fmt(run.interval)}", "wait", run.by)

    def pings(self, run: Pings, start: float, n: float, *, gap: bool = True) -> None:
        """``n`` pings of ``run`` were delivered, the first one's silence starting at ``start``
        (``gap=False``: its silence is recorded already)."""
        listed = int(min(n, RECORDED_PINGS - self.recorded))
        for i in range(listed):
            if gap or i:
                self.attempt.event(start + i * run.interval, f"{run.note}: {_fmt(run.interval)}", "wait", run.by)
            self.attempt.delivered.append(run.label)
            self.attempt.event(start + (i + 1) * run.interval, run.label, "ping", run.by)
        self.recorded += listed
        if n > listed:
            self._sum_up(run, start + listed * run.interval, n - listed)

    def _sum_up(self, run: Pings, start: float, n: float) -> None:
        if self.summary is None or self.summary[0] is not run:
            event = Event(start, "", "ping", run.by)
            self.attempt.events.append(event)
            self.summary = (run, event, 0.0)
        _, event, total = self.summary
        total += n
        self.summary = (run, event, total)
        last = start + n * run.interval
        event.text = f"{run.note}: a ping every {run.interval:g} s until {last:.6g} s ({total:,.0f} more pings, fast-forwarded)"


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
