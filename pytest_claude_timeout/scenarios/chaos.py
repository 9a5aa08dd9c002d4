"""Chaos over many calls: each attempt gets a fault drawn from a list with given
probabilities, and a latency drawn from a distribution, from a seed, so that a run repeats
exactly (the draws depend only on the seed and the attempt's number).

One fault per test is not how production fails: a service making thousands of calls sees a
few percent of them slow, stalled or refused (Toxiproxy's toxicity, WireMock's lognormal
delays, llmock's fault rates do this in real time). ``network.calls.run_calls`` plays many
calls in virtual time and reports their outcomes and latency percentiles.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exchange import Step
from .base import SERVER, AttemptContext, Scenario, ScenarioError, delay_first_byte
from .service import ConnectionReset, Overloaded, RateLimited, StalledStream
from .service_errors import ApiError


@dataclass(frozen=True)
class Fixed:
    """Always ``seconds``."""

    seconds: float

    def draw(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True)
class Uniform:
    """Uniformly between ``low`` and ``high`` seconds."""

    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal around ``median`` seconds (``sigma``: the spread of its logarithm), the
    long-tailed shape of real response times (WireMock's ``lognormal`` delay)."""

    median: float
    sigma: float = 0.5

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


Latency = Fixed | Uniform | LogNormal

DEFAULT_FAULTS: tuple[tuple[float, Scenario], ...] = (
    (0.02, StalledStream()),
    (0.01, Overloaded()),
    (0.01, ApiError()),
    (0.005, ConnectionReset()),
    (0.005, RateLimited(2)),
)
"""A few percent of attempts failing in the usual ways (probability, scenario)."""


@dataclass
class Chaos(Scenario):
    """Each attempt draws, from ``seed`` and its number, a fault from ``faults``
    (``(probability, scenario)`` pairs; with the remaining probability, none) and a time to first
    token from ``latency`` (``Fixed``, ``Uniform`` or ``LogNormal``; a stream pings every
    ``ping_interval`` seconds meanwhile, as the API does). The fault acts on the attempt as
    on a first attempt (``attempts=1`` applies). ``drawn`` maps each attempt's number to its
    fault's label (``"none"``). What the client does about it is the real client's. Assumed
    (a model of a mix of faults); each fault's own source is its scenario's."""

    name: ClassVar[str] = "chaos"
    main: ClassVar[str] = "seed"
    layer: ClassVar[int] = SERVER

    seed: int | str = 0
    faults: tuple[tuple[float, Scenario], ...] = DEFAULT_FAULTS
    latency: Latency = LogNormal(1.0, 0.5)
    ping_interval: float | None = 10.0

    def _durations(self) -> tuple[str, ...]:
        return ("ping_interval",)

    def __post_init__(self) -> None:
        super().__post_init__()
        pairs = []
        for pair in self.faults:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ScenarioError(f"{self.name}: each fault is a (probability, scenario) pair, not {pair!r}")
            probability, scenario = pair
            if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
                raise ScenarioError(f"{self.name}: a fault's probability is a number from 0 to 1, not {probability!r}")
            if not isinstance(scenario, Scenario):
                raise ScenarioError(f"{self.name}: a fault is a Scenario object (StalledStream() ...), not {scenario!r}")
            pairs.append((float(probability), scenario))
        if sum(p for p, _ in pairs) > 1 + 1e-9:
            raise ScenarioError(f"{self.name}: the faults' probabilities add up to more than 1")
        if not isinstance(self.latency, (Fixed, Uniform, LogNormal)):
            raise ScenarioError(f"{self.name}: latency is a Fixed, Uniform or LogNormal distribution, not {self.latency!r}")
        self.__dict__["faults"] = tuple(pairs)  # as checked (not through __setattr__)
        self.__dict__["drawn"] = {}

    @property
    def drawn(self) -> dict[int, str]:
        """Attempt number -> the label of the fault it drew (``"none"``)."""
        return self.__dict__["drawn"]  # type: ignore[no-any-return]

    def draw(self, number: int) -> tuple[Scenario | None, float]:
        """Attempt ``number``'s fault (``None``: none) and latency: the same every run."""
        rng = random.Random(f"{self.seed}:{number}")
        latency = max(0.0, self.latency.draw(rng))
        roll = rng.random()
        total = 0.0
        for probability, scenario in self.faults:
            total += probability
            if roll < total:
                return scenario, latency
        return None, latency

    def apply(self, steps: list[Step], ctx: AttemptContext) -> Iterable[Step]:
        fault, latency = self.draw(ctx.number)
        self.drawn[ctx.number] = "none" if fault is None else fault.label()
        steps = delay_first_byte(steps, latency, self.ping_interval, "latency")
        if fault is None:
            return steps
        first = dataclasses.replace(ctx, number=1, stream_number=1 if ctx.request.stream else 0)
        return fault.apply(steps, first)

    def params(self) -> dict[str, Any]:
        """Plain values (a report is JSON): the faults by label, the latency by its repr."""
        faults = [[p, s.label()] for p, s in self.faults]
        return {"seed": self.seed, "faults": faults, "latency": repr(self.latency), "ping_interval": self.ping_interval}
