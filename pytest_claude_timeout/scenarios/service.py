"""Scenarios of the API service's own behaviour: slow prefill, long generations, stalls,
resets and truncation, rate limits and overload.

Each class says what the client sees and where the behaviour comes from: *documented*
(the vendor's documentation states it), *measured* (checked against real software by the
conformance suite), or *assumed* (a reasonable model nobody has checked yet).
"""

from __future__ import annotations

import email.utils
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import ClassVar

from ..api import wire
from ..exchange import (
    Data,
    Hangup,
    Idle,
    Pings,
    Step,
    head_index,
)
from .base import (
    CLIENT_NETWORK,
    SERVER,
    AttemptContext,
    Choices,
    Scenario,
    ScenarioError,
    _applies,
    check_header_text,
    check_status,
    error_response,
    incomplete_body,
)
from .streams import AFTER_DELTAS_FALLBACK, cut_after, delayed_first_byte, insert_after, lazy, pings_within, split_after, split_body


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

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        return delayed_first_byte(steps, self.seconds, self.ping_interval, "prefill")


@dataclass
class LateHeaders(Scenario):
    """The response headers come only with the first byte of the answer, ``seconds`` after
    the request, with no pings before them: a gateway that holds the headers until the
    upstream's first byte. A stream then waits like a non-streaming call: a read timeout
    shorter than ``seconds`` fires before the headers, so the SDK gets ``APITimeoutError``
    and retries it (measured over real sockets; behind nginx, a 504 on each attempt).
    A scenario of its own, not a parameter of ``slow_prefill``, which is the API's own
    behaviour (headers at once, then pings)."""

    name: ClassVar[str] = "late_headers"
    main: ClassVar[str] = "seconds"

    seconds: float = 75.0

    def _durations(self) -> tuple[str, ...]:
        return ("seconds",)

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        at = head_index(steps)
        if at is None or self.seconds <= 0:
            return steps
        return [*steps[:at], Idle(self.seconds, "response headers held back"), *steps[at:]]


@dataclass
class PingStall(Scenario):
    """A stream sends its opening events (and ``deltas`` text deltas), then nothing but
    ``ping`` events every ``ping_interval`` seconds for ``seconds`` (default: forever), then
    the rest. The SDK drops pings, but their bytes reset the read timeout, so no read timeout
    ever fires: the call hangs as long as the pings go on (field report:
    langchain-ai/langchain#36964; the client's behaviour is measured, the server's assumed).
    Only a deadline over the whole call ends it (without one, the virtual horizon does).
    Every streaming attempt (``attempts``: the first N); non-streaming calls are not
    affected."""

    name: ClassVar[str] = "ping_stall"
    main: ClassVar[str] = "seconds"

    seconds: float = math.inf
    ping_interval: float = 10.0
    deltas: int = 0
    attempts: int | None = None

    def _durations(self) -> tuple[str, ...]:
        return ("seconds", "ping_interval")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ping_interval > 0 or math.isinf(self.ping_interval):
            raise ScenarioError(f"{self.name}: ping_interval must be a positive, finite number of seconds")

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        if not ctx.request.stream or not _applies(self.attempts, ctx.stream_number):
            return iter(steps)
        count = pings_within(self.seconds, self.ping_interval, strict=False)  # inf: endless
        pings: list[Step] = [Pings(self.ping_interval, count, "only pings")] if count else []
        if self.seconds > count * self.ping_interval:
            pings.append(Idle(self.seconds - count * self.ping_interval, "only pings"))
        return insert_after(steps, pings, "content_block_delta", self.deltas, AFTER_DELTAS_FALLBACK)


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

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        if not ctx.request.stream or (self.attempts is not None and ctx.stream_number > self.attempts):
            return iter(steps)
        stall = [Idle(self.stall, "stream stalled", "stall")]
        return insert_after(steps, stall, "content_block_delta", self.deltas, AFTER_DELTAS_FALLBACK)


@dataclass
class LongGeneration(Scenario):
    """The model writes ``tokens`` output tokens at ``rate`` tokens/s after ``prefill`` s.

    Non-streaming: nothing arrives until the whole answer is done (4,000 tokens at 50/s:
    81 s, past a 60 s read timeout). Streaming: deltas arrive as they are generated, so the
    read timeout only bounds the gap between two deltas. (Documented: the API streams
    deltas as generated; rates vary by model.) ``every_event=True`` spaces every event of
    the stream evenly (``message_start``, ``ping``, ``message_stop`` ... too: one gap of
    ``tokens_per_delta / rate`` before each), not only the text deltas.
    """

    name: ClassVar[str] = "long_generation"
    main: ClassVar[str] = "tokens"
    counts: ClassVar[dict[str, int]] = {"tokens": 1, "tokens_per_delta": 1}

    tokens: int = 4000
    rate: float = 50.0
    prefill: float = 1.0
    tokens_per_delta: int = 5
    every_event: bool = False

    def _durations(self) -> tuple[str, ...]:
        return ("prefill",)

    def __post_init__(self) -> None:
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        super().__post_init__()
        if not self.rate > 0:
            raise ScenarioError(f"{self.name}: rate must be a positive number of tokens per second")

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        if not ctx.request.stream:
            return delayed_first_byte(steps, self.prefill + self.tokens / self.rate, None, f"generating {self.tokens} tokens")
        generated = self._generated(delayed_first_byte(steps, self.prefill, None, "prefill"))
        return _spaced(generated, self.tokens_per_delta / self.rate) if self.every_event else generated

    def _generated(self, steps: Iterator[Step]) -> Iterator[Step]:
        """The stream's text deltas replaced by ``tokens`` worth of deltas, produced as they
        are read (what came between the first and the last delta is dropped)."""
        after_last: list[Step] = []
        generating = False
        for step in steps:
            delta = isinstance(step, Data) and step.label == "content_block_delta"
            if generating:
                after_last = [] if delta else [*after_last, step]
            elif delta:
                generating = True
                yield from self._deltas()
            else:
                yield step
        yield from after_last

    def _deltas(self) -> Iterator[Step]:
        words = wire.chunk_text(wire.DEFAULT_TEXT)
        gap = self.tokens_per_delta / self.rate
        for i in range(math.ceil(self.tokens / self.tokens_per_delta)):
            yield Idle(gap, "generating")
            yield Data(wire.text_delta(words[i % len(words)]), "content_block_delta")


def _spaced(steps: Iterable[Step], gap: float) -> Iterator[Step]:
    """``steps`` with a silence of ``gap`` before every body part that has none."""
    silent = False
    for step in steps:
        if isinstance(step, Data) and not silent:
            yield Idle(gap, "generating")
        yield step
        silent = isinstance(step, Idle)


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

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        if not _applies(self.attempts, ctx.number):
            return iter(steps)
        if not ctx.request.stream:
            before, after, found = split_after(split_body(steps), "message (first half)")
        else:
            before, after, found = split_after(steps, "content_block_delta", self.deltas, AFTER_DELTAS_FALLBACK)
        if not found:
            return itertools.chain(before, after)
        return iter([*before, self.hangup(before)])

    def hangup(self, sent: list[Step]) -> Hangup:
        return Hangup("ReadError", "[Errno 104] Connection reset by peer", "connection reset by peer (RST)")


@dataclass
class ConnectionClosed(ConnectionReset):
    """The server closes the connection cleanly (FIN) mid-body, after ``deltas`` text deltas
    (half of a plain body), without the final chunk: an upstream that crashes. A stream
    raises the raw ``RemoteProtocolError`` ("peer closed connection without sending complete
    message body") at once, after the text received so far, and the SDK does not retry it;
    a plain call is retried. (``connection_reset`` is an RST; ``truncated_stream`` sends
    the final chunk.) Only the first ``attempts`` attempts (``None``: all). Measured."""

    name: ClassVar[str] = "connection_closed"
    layer: ClassVar[int] = SERVER

    def hangup(self, sent: list[Step]) -> Hangup:
        return Hangup("RemoteProtocolError", incomplete_body(sent), "server closed the connection (FIN) mid-body")


@dataclass
class TruncatedStream(Scenario):
    """A stream ends cleanly (its final chunk sent) after ``deltas`` text deltas, without
    ``message_stop``: the SDK hands back a partial message with ``stop_reason=None`` and no
    error. Silent data loss, which the marker's report flags."""

    name: ClassVar[str] = "truncated_stream"
    main: ClassVar[str] = "deltas"

    deltas: int = 2
    attempts: int | None = 1

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterator[Step]:
        if not ctx.request.stream or not (self.attempts is None or ctx.stream_number <= self.attempts):
            return iter(steps)
        return cut_after(steps, [], "content_block_delta", self.deltas, AFTER_DELTAS_FALLBACK)


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
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        super().__post_init__()
        check_status(self, "status")
        check_header_text(self, "error_type")

    def headers(self, ctx: AttemptContext) -> dict[str, str]:
        extra = {}
        if self.retry_after is not None:
            extra["retry-after"] = (
                email.utils.format_datetime(_date_after(ctx.at, self.retry_after), usegmt=True)
                if self.http_date
                else f"{self.retry_after:g}"
            )
        if self.retry_after_ms is not None:
            extra["retry-after-ms"] = f"{self.retry_after_ms:g}"
        return extra

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        message = "This request would exceed the rate limit for your organization."
        return error_response(self.status, self.error_type, message, ctx, self.headers(ctx))


def _date_after(moment: datetime, seconds: float) -> datetime:
    """``moment + seconds``, or the calendar's last second (year 9999) when that is later."""
    last = datetime.max.replace(microsecond=0, tzinfo=moment.tzinfo or timezone.utc)
    return last if seconds >= (last - moment).total_seconds() else moment + timedelta(seconds=seconds)


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
    choices: ClassVar[Choices] = {"where": ("headers", "stream")}
    main: ClassVar[str] = "attempts"

    where: str = "headers"
    attempts: int | None = 1
    deltas: int = 2

    @lazy
    def apply(self, steps: Iterable[Step], ctx: AttemptContext) -> Iterable[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        if self.where == "stream":
            if not ctx.request.stream:
                return steps
            error = [Data(wire.error_event("overloaded_error", "Overloaded"), "error")]
            return cut_after(steps, error, "content_block_delta", self.deltas, AFTER_DELTAS_FALLBACK)
        return error_response(529, "overloaded_error", "Overloaded", ctx)
