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

When the parameter can be infinite (a stall, a prefill, a proxy's idle cutoff: every
duration a scenario accepts as ``inf``), one more run probes ``inf`` itself: a stall that
never ends. The search never bisects towards it; the envelope reports it apart from the
finite range (:attr:`Envelope.infinity`), e.g. ``...; at stall=inf: fails (HorizonExceeded
after 1 attempt: nothing bounds the wait, no overall deadline)``.
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
from typing import TYPE_CHECKING, Any, cast

from . import jsonsafe
from .errors import HorizonExceeded, SimulationError
from .network.clock import DEFAULT_HORIZON
from .scenarios import Scenario, ScenarioError, scenario_from_spec

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
    """The outcome of a scenario over a range of its main parameter, and at infinity."""

    scenario: str
    """The scenario's name (``slow_prefill``)."""
    parameter: str
    low: float
    high: float
    """The finite range searched (``segments`` cover it)."""
    segments: list[Segment]
    probes: int
    """Runs in all (the probe at infinity included)."""
    unit: str = "s"
    """``s`` for durations, empty for counts."""
    infinity: Probe | None = None
    """The run at ``inf`` (a stall that never ends ...), when the parameter can be infinite."""

    def survives(self, value: float) -> bool | None:
        """Whether the probes say the configuration survives at ``value`` (``None``: between
        two probes with different outcomes, or outside the range; at ``inf``: the probe
        there, if any)."""
        if math.isinf(value):
            return self.infinity.passed if self.infinity is not None and value > 0 else None
        for segment in self.segments:
            if segment.low <= value <= segment.high:
                return segment.passed
        return None

    def passing(self) -> list[tuple[float, float]]:
        """The finite ranges where it survives (``survives(math.inf)`` says the rest)."""
        return [(s.low, s.high) for s in self.segments if s.passed]

    def describe(self) -> str:
        """One line a person reads, e.g. ``survives slow_prefill up to 600 s (then ...)``,
        and what happens at infinity when that was probed."""
        finite = self._describe_finite()
        return finite if self.infinity is None else f"{finite}; {self._describe_infinity(self.infinity)}"

    def _describe_finite(self) -> str:
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

    def _describe_infinity(self, probe: Probe) -> str:
        """What happened at infinity: whether the client itself stopped the endless wait
        (a timeout, a give-up), or nothing did (the simulation's horizon)."""
        at = f"at {self.parameter}=inf"
        exception = probe.outcome.exception
        if probe.outcome.kind == "horizon" or exception == HorizonExceeded.__name__:
            # (its elapsed time is where the simulation gave up, not the client's doing)
            what = exception or "horizon"
            return f"{at}: fails ({what} after {_attempts(probe)}: nothing bounds the wait, no overall deadline)"
        if probe.passed and exception is None:
            return f"{at}: survives (returned after {_attempts(probe)}, {probe.elapsed:.1f} s)"
        if probe.passed:
            return f"{at}: survives (the client stops it itself: {_how(probe)}, as expected)"
        if exception is not None:
            return f"{at}: fails, though the client stops it itself ({_how(probe)})"
        return f"{at}: fails ({_how(probe)})"

    def _v(self, value: float) -> str:
        return f"{value:g} {self.unit}".rstrip()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (and valid JSON: an infinite value is written ``"forever"``)."""
        data = {
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
            "infinity": None if self.infinity is None else _probe_dict(self.infinity),
        }
        return cast("dict[str, Any]", jsonsafe.encode(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Read back what :meth:`as_dict` wrote (an envelope without ``infinity``, from an
        older version, has no probe at infinity)."""
        number = jsonsafe.number

        def probe(d: Mapping[str, Any]) -> Probe:
            outcome = Outcome(d["passed"], d["kind"], d.get("exception"))
            return Probe(number(d["value"]), outcome, d["attempts"], number(d["elapsed"]))

        segments = [Segment(number(s["low"]), number(s["high"]), probe(s["first"]), probe(s["last"])) for s in data["segments"]]
        infinity = probe(data["infinity"]) if data.get("infinity") else None
        return cls(
            data["scenario"], data["parameter"], number(data["low"]), number(data["high"]), segments, data["probes"],
            data.get("unit", "s"), infinity,
        )


def _probe_dict(p: Probe) -> dict[str, Any]:
    return {
        "value": p.value, "passed": p.passed, "kind": p.outcome.kind, "exception": p.outcome.exception,
        "attempts": p.attempts, "elapsed": round(p.elapsed, 6),
    }


def _attempts(p: Probe) -> str:
    return f"{p.attempts} attempt{'' if p.attempts == 1 else 's'}"


def _how(p: Probe) -> str:
    what = p.outcome.exception or p.outcome.kind
    return f"{what} after {_attempts(p)}, {p.elapsed:.1f} s"


def shrinkage(before: Envelope, after: Envelope, slack: float = 0.0) -> list[tuple[float, float]]:
    """The values where ``before`` survived and ``after`` does not (its probes failed
    there, or fell between two probes that disagree): the ranges the envelope lost, within
    the range both searched, and ``(inf, inf)`` when it survived at infinity and fails there
    now (both probed it). ``slack`` ignores a finite loss up to that wide. The search is
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
    if before.infinity is not None and after.infinity is not None and before.infinity.passed and not after.infinity.passed:
        lost.append((math.inf, math.inf))
    return lost


def search(run: Callable[[float], Probe], low: float, high: float, *, integer: bool, resolution: float = 1.0,
           grid: Sequence[float] | None = None) -> tuple[list[Segment], int]:
    """Probe ``run`` on a grid over ``[low, high]`` and bisect each change of outcome to
    ``resolution``; returns the segments and the number of probes run. An infinite grid
    point (:func:`default_grid` with ``high=inf``) is probed once, never bisected towards,
    and comes last as a segment of its own (``low == high == inf``)."""
    points = sorted(set(grid if grid is not None else default_grid(low, high, integer=integer)))
    finite = [v for v in points if math.isfinite(v)]
    probes = {v: run(v) for v in finite}
    ordered = [probes[v] for v in finite]
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
    segments: list[Segment] = []
    for v in sorted(probes):
        p = probes[v]
        if segments and segments[-1].first.signature() == p.signature():
            segments[-1] = dataclasses.replace(segments[-1], high=v, last=p)
        else:
            segments.append(Segment(v, v, p, p))
    infinite = [run(v) for v in points if v == math.inf]
    segments += [Segment(p.value, p.value, p, p) for p in infinite]
    return segments, len(probes) + len(infinite)


def default_grid(low: float, high: float, *, integer: bool, points: int = GRID_POINTS, top: float = DEFAULT_HORIZON) -> list[float]:
    """Every whole number for a short integer range; else both ends, and a geometric grid
    between them (whole seconds). An infinite ``high`` gives the grid up to ``top`` (or
    ``low``, if higher), then ``inf`` itself: the probe at infinity."""
    if not math.isfinite(low) or math.isnan(high) or high < low:
        raise ValueError(f"cannot make a grid over [{low:g}, {high:g}]: needs a finite low <= high")
    if math.isinf(high):
        return [*default_grid(low, max(low, float(top)), integer=integer, points=points), math.inf]
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


def accepts_infinity(scenario: Scenario) -> bool:
    """Whether ``scenario``'s main parameter can be infinite: the scenario takes ``inf``
    there (every duration does, unless the scenario refuses it; a count or a rate does
    not)."""
    if not scenario.main or scenario.main not in scenario._durations():
        return False
    try:
        dataclasses.replace(scenario, **{scenario.main: math.inf})
    except ScenarioError:
        return False
    return True


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
    infinity: bool | None = None,
) -> Envelope:
    """Search ``scenario``'s main parameter for where the outcome of ``call`` changes.

    ``call(network)`` makes the client's call (the client may be built outside); it may
    return a coroutine. Each run gets a fresh network with a copy of ``scenario`` (its
    other parameters kept) at the probed value, and ``also`` (other scenarios, copied).
    The range defaults to ``[0, horizon]`` for a duration and ``[1, 10]`` for a count
    (``high=inf``: up to the horizon, and infinity); each run's own horizon is ten times the
    range's top, so the range is searched in full and only a wait without any bound is
    judged as the horizon. ``infinity`` (default: when :func:`accepts_infinity`) adds one
    run at ``inf``, reported apart (:attr:`Envelope.infinity`)."""
    base = scenario_from_spec(scenario)
    default_low, default_high, integer = parameter_range(base, horizon)
    infinite_ok = accepts_infinity(base)
    low = default_low if low is None else float(low)
    high = default_high if high is None else float(high)
    if math.isinf(high):
        if not infinite_ok:
            raise ValueError(f"{base.name}'s {base.main} cannot be infinite: give a finite high")
        high, infinity = max(low, default_high), True if infinity is None else infinity
    if infinity is None:
        infinity = infinite_ok
    elif infinity and not infinite_ok:
        raise ValueError(f"{base.name}'s {base.main} cannot be infinite: no probe at infinity")
    if not math.isfinite(low) or not low <= high:
        raise ValueError(f"the range of {base.name}'s {base.main} is empty: [{low:g}, {high:g}]")
    probe_horizon = max(horizon, 10 * high, 60.0)

    def run(value: float) -> Probe:
        number: float = int(value) if integer else value
        probed = dataclasses.replace(base, **{base.main: number})
        extra = [dataclasses.replace(s) for s in also]
        outcome, network = run_once(call, [probed, *extra], horizon=probe_horizon, judge=judge, passthrough=passthrough)
        return Probe(value, outcome, len(network.attempts), network.elapsed)

    grid = default_grid(low, math.inf if infinity else high, integer=integer, top=high)
    with _time_patches_kept():
        segments, count = search(run, low, high, integer=integer, resolution=resolution, grid=grid)
    at_infinity = segments.pop().first if segments and math.isinf(segments[-1].low) else None
    return Envelope(base.name, base.main, low, high, segments, count, "" if integer else "s", at_infinity)
