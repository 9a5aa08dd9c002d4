"""The pytest entry point (``pytest11``). Thin on purpose: hooks and options only.

Importing it must stay cheap: pytest loads it in every run of every suite, so nothing
here imports anthropic, httpx, httpx2, respx or freezegun (the engine is imported by the
fixtures and hooks when a test uses it).
"""

from __future__ import annotations

import inspect
import unittest
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

import pytest

from ..scenarios import Scenario
from .fixtures import *  # noqa: F403  (the fixtures, registered by pytest from this module)
from .marker import MARKER, SCENARIO_FIXTURE, MarkerError, parse_marker

if TYPE_CHECKING:
    from ..network.simulated import SimulatedNetwork


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claude-timeout", "pytest-claude-timeout: Anthropic clients on a simulated network")
    group.addoption(
        "--claude-timeout-horizon", dest="claude_timeout_horizon", type=float, default=None,
        help="virtual seconds after which any simulated wait ends with HorizonExceeded (default 86400)",
    )
    group.addoption(
        "--claude-timeout-report", dest="claude_timeout_report", default=None, metavar="PATH",
        help="write every scenario run (verdict, reason, attempts, SDK) as JSON to PATH",
    )
    group.addoption(
        "--claude-timeout-save-baseline", dest="claude_timeout_save_baseline", default=None, metavar="PATH",
        help="store each scenario run's verdict and virtual elapsed time in PATH",
    )
    group.addoption(
        "--claude-timeout-baseline", dest="claude_timeout_baseline", default=None, metavar="PATH",
        help="fail the session when a scenario run regressed against the baseline in PATH",
    )
    group.addoption(
        "--claude-timeout-html", dest="claude_timeout_html", default=None, metavar="PATH",
        help="write an HTML report to PATH (one self-contained file): the matrix, each run's timeline, envelopes",
    )
    group.addoption(
        "--claude-timeout-envelope", dest="claude_timeout_envelope", action="store_true", default=False,
        help="search every scenario run's survival envelope: where its verdict changes along the "
        "scenario's main parameter (slow_prefill's seconds, proxy_cutoff's idle ...)",
    )
    group.addoption(
        "--claude-timeout-tolerance", dest="claude_timeout_tolerance", type=float, default=0.10,
        help="allowed growth of virtual elapsed time against the baseline (default 0.10 = 10%%)",
    )
    parser.addini(
        "claude_timeout_horizon", "virtual seconds after which any simulated wait ends with HorizonExceeded",
        default="86400",
    )
    parser.addini(
        "claude_timeout_allow_hosts",
        "hosts (host or host:port) the egress guard lets through while a simulated network is active "
        "(loopback is always open)",
        type="linelist", default=[],
    )
    parser.addini(
        "claude_timeout_clients", "client factories (module:function) to audit under every standard scenario",
        type="linelist", default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*scenarios, budget=None, expect=None, envelope=None): run the test once per simulated "
        "network scenario in virtual time and judge it; envelope=True also searches how far each "
        "scenario's main parameter can go before the verdict changes (pytest-claude-timeout)",
    )
    from . import options
    from .session import SessionReport

    options.check(config)  # one usage error for a bad option or ini value, before any test
    config.pluginmanager.register(SessionReport(config), "claude-timeout-session")


class MarkerUsageError(pytest.Collector):
    """Stands in for a test whose marker arguments are wrong: a collection error that
    names the test and the bad argument, while the module's other tests still collect."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def collect(self) -> list[pytest.Item]:
        raise self.CollectError(self.message)


def _marker_on(collector: pytest.Collector, obj: object) -> pytest.Mark | None:
    own = [m for m in getattr(obj, "pytestmark", []) if getattr(m, "name", None) == MARKER]
    return own[0] if own else collector.get_closest_marker(MARKER)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> MarkerUsageError | None:
    # A marked test needs the scenario fixture in its closure (for the parametrization)
    # and, when async, pytest-asyncio's marker: add both before the item is built. Bad
    # marker arguments become a collection error naming the test.
    # The marker is applied or refused, never ignored: a unittest.TestCase (run by unittest,
    # without fixtures) is a collection error; a staticmethod is a test function like any.
    if inspect.isclass(obj) and issubclass(obj, unittest.TestCase):
        return _refuse_unittest(collector, name, obj)
    if isinstance(obj, staticmethod):
        obj = obj.__func__  # pytest collects a test class's staticmethods as functions
    if not inspect.isfunction(obj) or not getattr(collector, "funcnamefilter", lambda n: False)(name):
        return None
    mark = _marker_on(collector, obj)
    if mark is None:
        return None
    try:
        parse_marker(mark.args, mark.kwargs)
    except MarkerError as exc:
        message = f"{collector.nodeid}::{name}: @pytest.mark.{MARKER}: {exc}"
        return MarkerUsageError.from_parent(collector, name=name, message=message)
    pytest.mark.usefixtures(SCENARIO_FIXTURE)(obj)
    if inspect.iscoroutinefunction(obj) and collector.get_closest_marker("asyncio") is None:
        if not any(getattr(m, "name", None) == "asyncio" for m in getattr(obj, "pytestmark", [])):
            pytest.mark.asyncio(obj)
    return None


def _refuse_unittest(collector: pytest.Collector, name: str, cls: type) -> MarkerUsageError | None:
    marked = [
        attr for attr, value in vars(cls).items()
        if any(getattr(m, "name", None) == MARKER for m in getattr(value, "pytestmark", []))
    ]
    if not marked and _marker_on(collector, cls) is None:
        return None
    where = f"its method(s) {', '.join(marked)}" if marked else "it"
    message = (
        f"{collector.nodeid}::{name}: @pytest.mark.{MARKER} cannot run a unittest.TestCase ({where} marked): "
        "unittest runs its methods without pytest's fixtures or parametrization. Write the test as a "
        "pytest function (or a method of a plain class), or use pytest_claude_timeout.SimulatedNetwork "
        "inside the TestCase."
    )
    return MarkerUsageError.from_parent(collector, name=name, message=message)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    mark = metafunc.definition.get_closest_marker(MARKER)
    if mark is None:
        return
    try:
        spec = parse_marker(mark.args, mark.kwargs)
    except MarkerError as exc:  # checked at collection already; kept for markers added later
        problem = str(exc)
    else:
        metafunc.parametrize(SCENARIO_FIXTURE, spec.scenarios, ids=spec.ids(), indirect=True)
        return
    pytest.fail(f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER}: {problem}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
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


TRANSPORT_MOCK_FIXTURES = ("httpx_mock", "httpx2_mock")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    # pytest-httpx / httpx2-pytest mock the HTTP transport, above the network: narrow their
    # `should_mock` so that Messages API calls reach the network (the mock's own response
    # for them becomes the healthy API's answer). respx-based mocks need nothing here.
    value = yield
    if fixturedef.argname in TRANSPORT_MOCK_FIXTURES:
        from ..transports import user_mocks

        if user_mocks.register_transport_mock(value):
            fixturedef.addfinalizer(lambda: user_mocks.unregister_transport_mock(value))
    return value


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    # The ini audit's items hang off the session, beside the collected paths; a run that
    # names single tests (path::test) does not get them.
    report = yield
    if isinstance(collector, pytest.Session) and report.passed and collector.config.getini("claude_timeout_clients"):
        if not any("::" in str(arg) for arg in collector.config.args):
            from .audit import audit_collectors

            report.result.extend(audit_collectors(collector))
    return report
