"""The survival envelope of a client configuration: how far it holds under a scenario.

A verdict at one point (a 75 s prefill survived) does not say how far a configuration
holds. In virtual time a run costs milliseconds, so :func:`survival_envelope` answers by
searching: it runs the same call with the real client under the scenario at many values of
the scenario's main parameter (``SlowPrefill.seconds``, ``ProxyCutoff.idle`` ...), each on
a fresh :class:`SimulatedNetwork`, on a grid over the range, then bisects every pair of
neighbouring grid points whose outcomes differ down to ``resolution``. The result lists
the ranges of the parameter with one outcome each::

    env = survival_envelope(lambda: client.messages.create(**request), SlowPrefill())
    env.describe()  # 'survives slow_prefill up to 600 s (then APITimeoutError after 3 attempts, 1801.4 s)'

A change of outcome narrower than the grid's spacing between two grid points that agree
can be missed: the grid is geometric (dense at small values, where timeouts usually sit).
Usable without pytest; the plugin judges each run as the marker does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import HorizonExceeded, SimulationError
from .network.clock import DEFAULT_HORIZON
from .scenarios import Scenario, scenario_from_spec

if TYPE_CHECKING:
    from .network.simulated import SimulatedNetwork

GRID_POINTS = 24
"""Grid points over a duration's range (plus both ends), before bisection."""
COUNT_RANGE = (1, 10)
"""The range searched for a count (``DnsFailure.attempts`` ...)."""
RATE_RANGE = (1.0, 1e7)
"""The range searched for a rate (``SlowUpload.rate``, bytes per second)."""


@dataclass(frozen=True)
class Outcome:
    """What one run of the call gave: whether it survived, and how it ended."""

    passed: bool
    kind: str
    """``survived`` (or the plugin's verdict kind: ``exception escaped``, ``horizon`` ...)."""
    exception: str | None = None
    """The exception's class name (``APITimeoutError``), when one escaped."""


Judge = Callable[[BaseException | None, "SimulatedNetwork"], Outcome]


@dataclass(frozen=True)
class Probe:
    """One run at one value of the parameter."""

    value: float
    outcome: Outcome
    attempts: int
    elapsed: float

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    def signature(self) -> tuple[bool, str, str | None]:
        return (self.outcome.passed, self.outcome.kind, self.outcome.exception)


@dataclass(frozen=True)
class Segment:
    """A range of the parameter (both ends probed) where every probe had the same outcome;
    ``first`` is the run at ``low``, ``last`` the run at ``high``."""

    low: float
    high: float
    first: Probe
    last: Probe

    @property
    def passed(self) -> bool:
        return self.first.passed


@dataclass
class Envelope:
    """The outcome of a scenario over a range of its main parameter."""

    scenario: str
    """The scenario's name (``slow_prefill``)."""
    parameter: str
    low: float
    high: float
    segments: list[Segment]
    probes: int
    unit: str = "s"
    """``s`` for durations, empty for counts."""

    def survives(self, value: float) -> bool | None:
        """Whether the probes say the configuration survives at ``value`` (``None``: between
        two probes with different outcomes, or outside the range)."""
        for segment in self.segments:
            if segment.low <= value <= segment.high:
                return segment.passed
        return None

    def passing(self) -> list[tuple[float, float]]:
        return [(s.low, s.high) for s in self.segments if s.passed]

    def describe(self) -> str:
        """One line a person reads, e.g. ``survives slow_prefill up to 600 s (then ...)``."""
        name, segs = self.scenario, self.segments
        p = self.parameter
        if all(s.passed for s in segs):
            return f"survives {name} at every {p} from {self._v(self.low)} to {self._v(self.high)} (the range searched)"
        if not any(s.passed for s in segs):
            return f"never survives {name} at any {p} from {self._v(self.low)} to {self._v(self.high)} ({_how(segs[0].first)})"
        if len(segs) == 2 and segs[0].passed:
            return f"survives {name} up to {p}={self._v(segs[0].high)} (then {_how(segs[1].first)})"
        if len(segs) == 2:
            return f"survives {name} at every {p} >= {self._v(segs[1].low)} (below: {_how(segs[0].last)})"
        parts = [f"{self._v(s.low)}..{self._v(s.high)}: " + ("survives" if s.passed else _how(s.first)) for s in segs]
        return f"{name} by {p}: " + "; ".join(parts)

    def _v(self, value: float) -> str:
        return f"{value:g} {self.unit}".rstrip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "parameter": self.parameter,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "probes": self.probes,
            "summary": self.describe(),
            "segments": [
                {"low": s.low, "high": s.high, "passed": s.passed, **{k: _probe_dict(p) for k, p in (("first", s.first), ("last", s.last))}}
                for s in self.segments
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        def probe(d: Mapping[str, Any]) -> Probe:
            return Probe(d["value"], Outcome(d["passed"], d["kind"], d.get("exception")), d["attempts"], d["elapsed"])

        segments = [Segment(s["low"], s["high"], probe(s["first"]), probe(s["last"])) for s in data["segments"]]
        return cls(data["scenario"], data["parameter"], data["low"], data["high"], segments, data["probes"], data.get("unit", "s"))


def _probe_dict(p: Probe) -> dict[str, Any]:
    return {
        "value": p.value, "passed": p.passed, "kind": p.outcome.kind, "exception": p.outcome.exception,
        "attempts": p.attempts, "elapsed": round(p.elapsed, 6),
    }


def _how(p: Probe) -> str:
    what = p.outcome.exception or p.outcome.kind
    return f"{what} after {p.attempts} attempt{'' if p.attempts == 1 else 's'}, {p.elapsed:.1f} s"


def shrinkage(before: Envelope, after: Envelope, slack: float = 0.0) -> list[tuple[float, float]]:
    """The values where ``before`` survived and ``after`` does not (its probes failed
    there, or fell between two probes that disagree): the ranges the envelope lost, within
    the range both searched. ``slack`` ignores a loss up to that wide. The search is
    deterministic (seeded jitter), so an unchanged client gives the same bounds."""
    lost: list[tuple[float, float]] = []
    for low, high in before.passing():
        low, high = max(low, after.low), min(high, after.high)  # only where both searched
        if low > high:
            continue
        kept = [(max(low, a), min(high, b)) for a, b in after.passing() if a <= high and b >= low]
        cursor = low
        for a, b in sorted(kept):
            if a - cursor > slack:
                lost.append((cursor, a))
            cursor = max(cursor, b)
        if high - cursor > slack:
            lost.append((cursor, high))
    return lost


def search(run: Callable[[float], Probe], low: float, high: float, *, integer: bool, resolution: float = 1.0,
           grid: Sequence[float] | None = None) -> tuple[list[Segment], int]:
    """Probe ``run`` on a grid over ``[low, high]`` and bisect each change of outcome to
    ``resolution``; returns the segments and the number of probes run."""
    points = sorted(set(grid if grid is not None else default_grid(low, high, integer=integer)))
    probes = {v: run(v) for v in points}
    ordered = [probes[v] for v in points]
    for a, b in itertools.pairwise(ordered):
        lo, hi = a, b
        while lo.signature() != hi.signature():
            gap = hi.value - lo.value
            if gap <= resolution or (integer and gap <= 1):
                break
            mid = (lo.value + hi.value) / 2
            if integer or resolution >= 1:  # whole numbers: the grid's are, and so stay the bounds found
                mid = float(math.floor(mid))
            if mid <= lo.value or mid >= hi.value:
                break
            probe = probes[mid] = run(mid)
            if probe.signature() == lo.signature():
                lo = probe
            else:
                hi = probe
    values = sorted(probes)
    segments: list[Segment] = []
    for v in values:
        p = probes[v]
        if segments and segments[-1].first.signature() == p.signature():
            segments[-1] = dataclasses.replace(segments[-1], high=v, last=p)
        else:
            segments.append(Segment(v, v, p, p))
    return segments, len(probes)


def default_grid(low: float, high: float, *, integer: bool, points: int = GRID_POINTS) -> list[float]:
    """Every whole number for a short integer range; else both ends, and a geometric grid
    between them (whole seconds)."""
    if integer and high - low <= points:
        return [float(v) for v in range(int(low), int(high) + 1)]
    start = max(low, 1.0)
    ratio = (high / start) ** (1 / (points - 1)) if high > start else 1.0
    grid = {low, high, *(float(round(start * ratio**i)) for i in range(points))}
    return sorted(v for v in grid if low <= v <= high)


def _exception_name(exc: BaseException) -> str:
    return type(exc).__name__


def default_judge(exc: BaseException | None, network: SimulatedNetwork) -> Outcome:
    """Survived when the call returned; else the exception's class decides."""
    if exc is None:
        return Outcome(True, "survived")
    kind = "horizon" if isinstance(exc, HorizonExceeded) else "exception escaped"
    return Outcome(False, kind, _exception_name(exc))


def run_once(
    call: Callable[[SimulatedNetwork], Any],
    scenarios: Sequence[Scenario],
    *,
    horizon: float,
    judge: Judge = default_judge,
    seed: int | str | None = 0,
    passthrough: tuple[type[BaseException], ...] = (),
) -> tuple[Outcome, SimulatedNetwork]:
    """Run ``call(network)`` once on a fresh network with ``scenarios`` (a coroutine it
    returns runs on a virtual-time event loop) and judge it. Harness faults (a
    :class:`SimulationError` other than the horizon) and ``passthrough`` propagate."""
    from .network.simulated import SimulatedNetwork  # the engine: heavy, and only needed here

    network = SimulatedNetwork(*scenarios, horizon=horizon, seed=seed)
    exc: BaseException | None = None
    with network:
        try:
            result = call(network)
            if inspect.isawaitable(result):
                network.run(_awaited(result))
        except (KeyboardInterrupt, SystemExit):
            raise
        except passthrough:
            raise
        except SimulationError as error:
            if not isinstance(error, HorizonExceeded):
                raise
            exc = error
        except BaseException as error:  # judged, whatever it is
            exc = error
    return judge(exc, network), network


@contextlib.contextmanager
def _time_patches_kept() -> Iterator[None]:
    """Keep freezegun's patches of the time functions in place across the runs: each run's
    clock installs freezegun, whose first start walks every loaded module (costing more
    than the run itself), while a start inside another one only pushes its own clock."""
    import freezegun

    keeper = freezegun.freeze_time()
    keeper.start()
    try:
        yield
    finally:
        keeper.stop()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def parameter_range(scenario: Scenario, horizon: float) -> tuple[float, float, bool]:
    """The default range of ``scenario``'s main parameter: ``[0, horizon]`` for a duration,
    :data:`COUNT_RANGE` for a count, :data:`RATE_RANGE` for a rate; and whether it is a
    whole number."""
    if not scenario.main:
        raise ValueError(f"{scenario.name} has no main parameter to search")
    if scenario.main in scenario._durations():
        return 0.0, float(horizon), False
    default = getattr(type(scenario)(), scenario.main)
    if default is None or isinstance(default, int):
        return float(COUNT_RANGE[0]), float(COUNT_RANGE[1]), True
    return RATE_RANGE[0], RATE_RANGE[1], False


def survival_envelope(
    call: Callable[[SimulatedNetwork], Any],
    scenario: Scenario | str,
    *,
    low: float | None = None,
    high: float | None = None,
    resolution: float = 1.0,
    horizon: float = DEFAULT_HORIZON,
    judge: Judge = default_judge,
    also: Sequence[Scenario] = (),
    passthrough: tuple[type[BaseException], ...] = (),
) -> Envelope:
    """Search ``scenario``'s main parameter for where the outcome of ``call`` changes.

    ``call(network)`` makes the client's call (the client may be built outside); it may
    return a coroutine. Each run gets a fresh network with a copy of ``scenario`` (its
    other parameters kept) at the probed value, and ``also`` (other scenarios, copied).
    The range defaults to ``[0, horizon]`` for a duration and ``[1, 10]`` for a count; each
    run's own horizon is ten times the range's top, so the range is searched in full and
    only a wait without any bound is judged as the horizon."""
    base = scenario_from_spec(scenario)
    default_low, default_high, integer = parameter_range(base, horizon)
    low = default_low if low is None else float(low)
    high = default_high if high is None else float(high)
    if not low <= high:
        raise ValueError(f"the range of {base.name}'s {base.main} is empty: [{low:g}, {high:g}]")
    probe_horizon = max(horizon, 10 * high, 60.0)

    def run(value: float) -> Probe:
        number: float = int(value) if integer else value
        probed = dataclasses.replace(base, **{base.main: number})
        extra = [dataclasses.replace(s) for s in also]
        outcome, network = run_once(call, [probed, *extra], horizon=probe_horizon, judge=judge, passthrough=passthrough)
        return Probe(value, outcome, len(network.attempts), network.elapsed)

    with _time_patches_kept():
        segments, count = search(run, low, high, integer=integer, resolution=resolution)
    return Envelope(base.name, base.main, low, high, segments, count, "" if integer else "s")
