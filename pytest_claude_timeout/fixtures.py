"""The pytest fixtures: the network, and one fixture per scenario.

Each scenario fixture (one per scenario of the catalog, named like it) activates ``claude_network`` with its scenario and returns the
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

from .catalog import SCENARIOS

if TYPE_CHECKING:
    from .network import SimulatedNetwork
    from .scenarios import Scenario

NETWORK_FIXTURES = frozenset({"claude_network", "claude_timeout_scenario", *SCENARIOS})
__all__ = ["NETWORK_FIXTURES", "claude_network", "claude_timeout_scenario", "horizon_of", *SCENARIOS]


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


def _scenario_fixture(name: str, cls: type[Scenario]) -> Any:
    def fixture(request: pytest.FixtureRequest, claude_network: SimulatedNetwork) -> Scenario:
        return claude_network.add(cls.from_param(getattr(request, "param", None)))

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
    return claude_network.add(dataclasses.replace(param))
