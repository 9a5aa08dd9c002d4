"""The pytest fixtures: the network, and one fixture per scenario.

Each scenario fixture activates ``claude_network`` with its scenario and returns the
scenario object, whose parameters can be changed before the first request, or set by
indirect parametrization with a number (the main duration) or a dict of parameters::

    @pytest.mark.parametrize("proxy_cutoff", [30, 60], indirect=True)
    def test_survives(proxy_cutoff, claude_network): ...

Heavy imports happen inside the fixtures, when a test uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .network import SimulatedNetwork
    from .scenarios import DnsFailure, ProxyCutoff, Scenario, SlowPrefill, StalledStream

NETWORK_FIXTURES = frozenset(
    {"claude_network", "slow_prefill", "stalled_stream", "proxy_cutoff", "dns_failure", "claude_timeout_scenario"}
)


def horizon_of(config: pytest.Config) -> float:
    value = config.getoption("claude_timeout_horizon", None) or config.getini("claude_timeout_horizon")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"claude_timeout_horizon must be a number of seconds, not {value!r}") from None


@pytest.fixture
def claude_network(request: pytest.FixtureRequest) -> Iterator[SimulatedNetwork]:
    """The simulated network (healthy by default), active for the whole test.

    Every request of the Anthropic SDK (httpx or httpx2) reaches a fake API in virtual
    time; nothing leaves the machine. ``claude_network.attempts`` lists what happened,
    ``claude_network.timeline()`` renders it, ``claude_network.add(...)`` composes scenarios.
    """
    from .network import SimulatedNetwork

    with SimulatedNetwork(horizon=horizon_of(request.config), seed=request.node.nodeid) as network:
        yield network


def _use(request: pytest.FixtureRequest, network: SimulatedNetwork, name: str) -> Any:
    from .scenarios import SCENARIOS

    scenario: Scenario = SCENARIOS[name].from_param(getattr(request, "param", None))
    return network.add(scenario)


@pytest.fixture
def slow_prefill(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> SlowPrefill:
    """The API needs 75 s (``seconds``) before the first byte; streams ping every 10 s."""
    return _use(request, claude_network, "slow_prefill")  # type: ignore[no-any-return]


@pytest.fixture
def stalled_stream(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> StalledStream:
    """A stream sends its opening events and 2 text deltas, then goes silent (``stall``)."""
    return _use(request, claude_network, "stalled_stream")  # type: ignore[no-any-return]


@pytest.fixture
def proxy_cutoff(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> ProxyCutoff:
    """A proxy closes connections idle for 60 s (``idle``) in front of a 75 s API."""
    return _use(request, claude_network, "proxy_cutoff")  # type: ignore[no-any-return]


@pytest.fixture
def dns_failure(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> DnsFailure:
    """The API host does not resolve on the first attempt (``attempts``; None: always)."""
    return _use(request, claude_network, "dns_failure")  # type: ignore[no-any-return]


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
    return claude_network.add(dataclasses.replace(param))
