"""The pytest side of the survival envelope (the search is ``pytest_claude_timeout.envelope``):
which runs ask for it, how a marked test's body and an audit item's call are run again at
each probed value, and how each run is judged (as the marker judges it)."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .evaluation import pass_through
from .fixtures import horizon_of
from .marker import SCENARIO_FIXTURE, MarkerSpec
from .verdict import judge

if TYPE_CHECKING:
    import pytest

    from ..envelope import Outcome
    from ..network.simulated import SimulatedNetwork
    from ..scenarios import Scenario

ENVELOPE_OPTION = "claude_timeout_envelope"


def wanted(config: pytest.Config, spec: MarkerSpec) -> dict[str, float] | None:
    """The search's settings when this run asks for its envelope (the marker's
    ``envelope=``, or ``--claude-timeout-envelope`` for every run), else None."""
    if spec.envelope is not None:
        return spec.envelope
    return {} if config.getoption(ENVELOPE_OPTION, False) else None


def judge_as(spec: MarkerSpec) -> Callable[[BaseException | None, SimulatedNetwork], Outcome]:
    """Each probe judged as the marker judges the test (expect=, budget=, silent data loss)."""
    from ..envelope import Outcome

    def judged(exc: BaseException | None, network: SimulatedNetwork) -> Outcome:
        verdict = judge(spec, exc, network.elapsed, network.attempts)
        return Outcome(verdict.passed, verdict.kind, type(exc).__name__ if exc is not None else None)

    return judged


def search(
    config: pytest.Config,
    settings: Mapping[str, float],
    spec: MarkerSpec,
    scenario: Scenario,
    call: Callable[[SimulatedNetwork], Any],
    also: list[Scenario] | None = None,
) -> dict[str, Any]:
    """The envelope of ``scenario`` for ``call``, JSON-ready."""
    from ..envelope import accepts_infinity, survival_envelope

    high = settings.get("high")
    if high is not None and math.isinf(high) and not accepts_infinity(scenario):
        high = None  # envelope={"high": inf} for every scenario of the test: a count keeps its own range
    envelope = survival_envelope(
        call,
        dataclasses.replace(scenario),
        horizon=horizon_of(config),
        judge=judge_as(spec),
        also=also or [],
        passthrough=pass_through(),
        low=settings.get("low"),
        high=high,
        resolution=settings.get("resolution", 1.0),
        infinity=None if settings.get("infinity", 1.0) else False,  # where the parameter can be infinite
    )
    return envelope.as_dict()


def of_marked_test(item: pytest.Function, settings: Mapping[str, float], spec: MarkerSpec, scenario: Scenario) -> dict[str, Any]:
    """Run the test body again at each probed value: the same fixtures, except a fresh
    network holding the probed scenario (and copies of the scenario fixtures it uses)."""
    from ..scenarios import SCENARIOS

    network = cast("SimulatedNetwork", item.funcargs["claude_network"])
    network.stop()  # the test's own network is done; each probe gets its own
    names = item._fixtureinfo.argnames
    fixtures = {name: item.funcargs[name] for name in names}
    others = [n for n in names if n in SCENARIOS]
    body = inspect.unwrap(item.obj)  # pytest-asyncio wraps coroutine functions

    def call(probe: SimulatedNetwork) -> Any:
        kwargs = dict(fixtures)
        if "claude_network" in kwargs:
            kwargs["claude_network"] = probe
        if SCENARIO_FIXTURE in kwargs:
            kwargs[SCENARIO_FIXTURE] = probe.scenarios[0]
        for i, name in enumerate(others):
            kwargs[name] = probe.scenarios[1 + i]
        return body(**kwargs)

    return search(item.config, settings, spec, scenario, call, [cast("Scenario", item.funcargs[n]) for n in others])
