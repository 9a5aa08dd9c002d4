"""The pytest fixtures: the network, and one fixture per scenario.

Each scenario fixture (one per scenario of the catalog, named like it) activates ``claude_network`` with its scenario and returns the
scenario object, whose parameters can be changed before the first request, or set by
indirect parametrization with a number (the main duration) or a dict of parameters::

    @pytest.mark.parametrize("proxy_cutoff", [30, 60], indirect=True)
    def test_survives(proxy_cutoff, claude_network): ...

Heavy imports happen inside the fixtures, when a test uses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..scenarios import SCENARIOS
from . import options

if TYPE_CHECKING:
    from ..network.simulated import SimulatedNetwork
    from ..scenarios import Scenario
    from ..server.fault_server import FaultServer

NETWORK_FIXTURES = frozenset({"claude_network", "claude_timeout_scenario", *SCENARIOS})
__all__ = ["NETWORK_FIXTURES", "claude_fault_server", "claude_network", "claude_timeout_scenario", "horizon_of", *SCENARIOS]


def horizon_of(config: pytest.Config) -> float:
    """The virtual horizon of the run (``--claude-timeout-horizon`` or the ini value)."""
    return options.horizon(config)


FAULT_SERVER_OPTIONS = frozenset({"time_scale", "api", "host", "port", "resolver"})


@contextlib.contextmanager
def _bad_parameter(request: pytest.FixtureRequest, fixture: str, param: object) -> Iterator[None]:
    """A bad parameter of a fixture (indirect parametrization) fails its test with one line
    naming the test, the fixture and the parameter, not a traceback through the plugin."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        pytest.fail(f"{request.node.nodeid}: bad {fixture} parameter {param!r}: {exc}", pytrace=False)


def network_options(config: pytest.Config) -> dict[str, Any]:
    """The ini's and the command line's settings of every network the plugin starts."""
    return {"horizon": horizon_of(config), "allow": config.getini("claude_timeout_allow_hosts")}


@pytest.fixture
def claude_network(request: pytest.FixtureRequest) -> Iterator[SimulatedNetwork]:
    """The simulated network (healthy by default), active for the whole test.

    Every request of the Anthropic SDK (httpx, httpx2 or aiohttp) reaches a fake API in
    virtual time; nothing leaves the machine: any other connection or DNS lookup beyond
    loopback fails with ``EgressRefused`` (``claude_network.allow("host:port")`` opens one).
    ``claude_network.attempts`` lists what happened,
    ``claude_network.timeline()`` renders it, ``claude_network.add(...)`` composes scenarios.
    """
    from ..network.simulated import SimulatedNetwork

    with SimulatedNetwork(**network_options(request.config), seed=request.node.nodeid) as network:
        yield network


def _scenario_fixture(name: str, cls: type[Scenario]) -> Any:
    def fixture(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> Scenario:
        param = getattr(request, "param", None)
        with _bad_parameter(request, name, param):
            return claude_network.add(cls.from_param(param))

    fixture.__name__ = fixture.__qualname__ = name
    fixture.__doc__ = cls.__doc__
    return pytest.fixture(name=name)(fixture)


# One fixture per scenario of the catalog, named as the scenario (slow_prefill, ...).
for _name, _cls in SCENARIOS.items():
    globals()[_name] = _scenario_fixture(_name, _cls)


@pytest.fixture
def claude_timeout_scenario(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> Scenario:
    """The scenario of a ``@pytest.mark.claude_timeout`` item (set by the marker)."""
    import dataclasses

    param = getattr(request, "param", None)
    if param is None:
        raise pytest.UsageError(
            "claude_timeout_scenario is set by @pytest.mark.claude_timeout; use the marker, "
            "or a scenario fixture such as slow_prefill"
        )
    mark = request.node.get_closest_marker("claude_timeout")
    if mark is not None and mark.kwargs.get("respond") is not None:
        claude_network.respond(mark.kwargs["respond"])  # a fresh script for each scenario
    return claude_network.add(dataclasses.replace(param))


@pytest.fixture
def claude_fault_server(request: pytest.FixtureRequest) -> Iterator[FaultServer]:
    """The fault server: the fake API and its scenarios over real sockets on 127.0.0.1,
    in real time scaled by ``time_scale`` (default 0.01: 1 scenario second = 10 ms).

    For clients the in-process network cannot reach (a subprocess, a service, another
    language's SDK). Point the client at ``claude_fault_server.base_url`` and scale its
    timeouts by ``claude_fault_server.time_scale``; ``claude_fault_server.attempts`` lists
    what the server saw (scenario seconds). Healthy by default; parametrize it indirectly
    with a scenario spec (``"proxy_cutoff:30"``), a Scenario, a list of them, or a dict
    ``{"scenarios": [...], "time_scale": 0.02, "resolver": False}``.
    """
    from ..server.fault_server import FaultServer

    param = getattr(request, "param", None)
    options: dict[str, Any] = dict(param) if isinstance(param, dict) else {"scenarios": param}
    scenarios = options.pop("scenarios", None)
    if scenarios is None:
        scenarios = []
    elif not isinstance(scenarios, (list, tuple)):
        scenarios = [scenarios]
    with _bad_parameter(request, "claude_fault_server", param):
        unknown = sorted(set(options) - FAULT_SERVER_OPTIONS)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; known: {sorted({'scenarios', *FAULT_SERVER_OPTIONS})}")
        server = FaultServer(*scenarios, **options)
    with server:
        yield server
    if server.faults:
        raise server.faults[0]
