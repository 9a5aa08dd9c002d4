"""Many calls through the simulated network, and what became of them: outcome counts and
virtual latency percentiles, so that a test can assert "99% of 10,000 calls survive with
2% of attempts stalled" (with the ``chaos`` scenario) in seconds of wall time::

    with SimulatedNetwork(Chaos(seed=7), seed=7) as net:
        client = anthropic.Anthropic(api_key="sk-test", timeout=30)
        report = run_calls(net, lambda: client.messages.create(**request), 10_000)
    assert report.survival() >= 0.99
    print(report)

Each call is the caller's own function (the real client, its retries, its fallbacks); the
network tags every attempt with the call that made it, so concurrent calls are told apart.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .timeline import CURRENT_CALL, Attempt

if TYPE_CHECKING:
    from .simulated import SimulatedNetwork

SURVIVED = "survived"
RETRIED = "retried and survived"


@dataclass
class CallRecord:
    """One call: when it started and ended (virtual seconds), its attempts, and its
    exception's class name if it failed."""

    number: int
    start: float
    end: float
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def outcome(self) -> str:
        """``survived`` (one attempt), ``retried and survived``, or ``failed: <exception>``."""
        if self.error is not None:
            return f"failed: {self.error}"
        return RETRIED if len(self.attempts) > 1 else SURVIVED


@dataclass
class CallReport:
    calls: list[CallRecord]
    faults: dict[str, int] = field(default_factory=dict)
    """Attempts by the fault a ``chaos`` scenario drew for them (``none`` included)."""

    def counts(self) -> dict[str, int]:
        """Calls per outcome, most frequent first."""
        return dict(collections.Counter(c.outcome for c in self.calls).most_common())

    def survival(self) -> float:
        """The fraction of calls that returned (retried or not)."""
        return sum(c.error is None for c in self.calls) / len(self.calls) if self.calls else 0.0

    def attempts(self) -> int:
        return sum(len(c.attempts) for c in self.calls)

    def percentile(self, p: float, calls: Sequence[CallRecord] | None = None) -> float:
        """The ``p``-th percentile (nearest rank) of the calls' virtual latency, seconds."""
        latencies = sorted(c.latency for c in (self.calls if calls is None else calls))
        if not latencies:
            return math.nan
        rank = max(1, math.ceil(p / 100 * len(latencies)))
        return latencies[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def __str__(self) -> str:
        total = len(self.calls)
        lines = [f"{total} calls, {self.attempts()} attempts; survival {self.survival():.2%}"]
        lines += [f"  {outcome:<40} {count:>7}  {count / total:7.2%}" for outcome, count in self.counts().items()]
        lines.append(f"  latency (virtual): p50 {self.p50:.3f} s, p95 {self.p95:.3f} s, p99 {self.p99:.3f} s, "
                     f"max {self.percentile(100):.3f} s")
        if self.faults:
            attempts = sum(self.faults.values())
            lines.append("  faults drawn per attempt: " + ", ".join(
                f"{name} {n} ({n / attempts:.2%})" for name, n in sorted(self.faults.items(), key=lambda kv: -kv[1])
            ))
        return "\n".join(lines)


def run_calls(
    network: SimulatedNetwork,
    call: Callable[[], Any] | Callable[[], Awaitable[Any]],
    count: int,
    *,
    concurrency: int = 1,
    catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> CallReport:
    """Make ``count`` calls of ``call`` (a plain function, or an async one, run on the
    network's virtual event loop ``concurrency`` at a time) and report them. An exception of
    a ``catch`` class is the call's outcome; anything else stops the run."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number >= 1, not {count!r}")
    first = len(network.attempts)
    if inspect.iscoroutinefunction(call):
        records = network.run(_async_calls(network, call, count, concurrency, catch))
    else:
        records = [_one(network, call, n, catch) for n in range(1, count + 1)]
    by_call = collections.defaultdict(list)
    for attempt in network.attempts[first:]:
        by_call[attempt.call].append(attempt)
    for record in records:
        record.attempts = by_call.get(record.number, [])
    faults: collections.Counter[str] = collections.Counter()
    for scenario in network.scenarios:
        drawn = getattr(scenario, "drawn", None)
        if isinstance(drawn, dict):
            faults.update(drawn[a.number] for a in network.attempts[first:] if a.number in drawn)
    report = CallReport(records, dict(faults))
    network.call_reports.append(report)
    return report


def summary(reports: Sequence[CallReport]) -> dict[str, Any]:
    """What the reports of one test add up to, as JSON: outcome counts and latencies."""
    outcomes: collections.Counter[str] = collections.Counter()
    for report in reports:
        outcomes.update(report.counts())
    latencies = [round(c.latency, 6) for report in reports for c in report.calls]
    return {"outcomes": dict(outcomes.most_common()), "latencies": latencies}


def _one(network: SimulatedNetwork, call: Callable[[], Any], number: int, catch: Any) -> CallRecord:
    token = CURRENT_CALL.set(number)
    start = network.clock.now()
    try:
        call()
        error = None
    except catch as exc:
        error = type(exc).__name__
    finally:
        CURRENT_CALL.reset(token)
    return CallRecord(number, start, network.clock.now(), error)


async def _async_calls(
    network: SimulatedNetwork, call: Callable[[], Awaitable[Any]], count: int, concurrency: int, catch: Any
) -> list[CallRecord]:
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(number: int) -> CallRecord:
        async with limit:
            CURRENT_CALL.set(number)  # this task's own context
            start = network.clock.now()
            try:
                await call()
                error = None
            except catch as exc:
                error = type(exc).__name__
            return CallRecord(number, start, network.clock.now(), error)

    return list(await asyncio.gather(*(one(n) for n in range(1, count + 1))))
