"""Running a test body on the simulated network: a marker item is judged against its marker
(verdict, report, envelope); a test on the fixtures is recorded for the HTML report; on any
test, a fault of the simulation fails it even when the code under test swallowed it."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

import pytest

from ..scenarios import Scenario
from .marker import MARKER, SCENARIO_FIXTURE, parse_marker

if TYPE_CHECKING:
    from ..network.simulated import SimulatedNetwork


def run_item(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """``pytest_pyfunc_call`` (a hook wrapper's body: ``yield from`` it)."""
    # A marker item: run the body, catch what it raises, and judge it against the marker.
    # Any test on the network: a fault of the simulation fails it even when the code under
    # test swallowed the HarnessError (``except BaseException``).
    scenario = pyfuncitem.funcargs.get(SCENARIO_FIXTURE)
    if not isinstance(scenario, Scenario):
        if "claude_network" not in pyfuncitem.funcargs:
            return (yield)
        if pyfuncitem.config.getoption("claude_timeout_html", None):
            result = yield from _recorded_fixture_run(pyfuncitem)
        else:
            result = yield
        faults = getattr(pyfuncitem.funcargs["claude_network"], "faults", None)
        if faults:
            raise faults[0]
        return result
    from .evaluation import conclude, evaluate, pass_through

    network = cast("SimulatedNetwork", pyfuncitem.funcargs["claude_network"])
    started = network.elapsed
    exc: BaseException | None = None
    try:
        result = yield
    except pass_through():
        raise
    except BaseException as error:  # judged below, whatever it is
        exc, result = error, True
    mark = pyfuncitem.get_closest_marker(MARKER)
    assert mark is not None
    spec = parse_marker(mark.args, mark.kwargs)
    label = spec.labels()[pyfuncitem.callspec.indices[SCENARIO_FIXTURE]]
    record, failure = evaluate(pyfuncitem.nodeid, label, spec, scenario, network, exc, network.elapsed - started)
    from .envelopes import of_marked_test, wanted

    settings = wanted(pyfuncitem.config, spec)
    if settings is not None:
        record["envelope"] = of_marked_test(pyfuncitem, settings, spec, scenario)
    conclude(pyfuncitem, (record, failure))
    return result


def _recorded_fixture_run(item: pytest.Function) -> Generator[None, Any, Any]:
    # A test on the fixtures, while an HTML report is asked for: record its timeline too.
    from .evaluation import attach_fixture_record, fixture_run, pass_through

    network = cast("SimulatedNetwork", item.funcargs["claude_network"])
    try:
        result = yield
    except pass_through():
        raise
    except BaseException as exc:
        attach_fixture_record(item, fixture_run(item.nodeid, network, exc))
        raise
    attach_fixture_record(item, fixture_run(item.nodeid, network, None))
    return result
