"""What the harness costs per call on the chaos path (the 10,000-call example's mix of
faults), against the SDK's own cost for the same calls (pytest-benchmark; not part of the
test suite). Run: ``pytest benchmarks -k chaos`` (see benchmarks/README.md)."""

from __future__ import annotations

import math
from typing import Any

import anthropic
import pytest
from conftest import MSG, served

import pytest_claude_timeout as pct

CALLS = 500
FAULTS = (  # examples/test_chaos.py's mix
    (0.02, pct.LateHeaders(math.inf)),
    (0.01, pct.Overloaded()),
    (0.01, pct.ApiError()),
    (0.005, pct.ConnectionReset()),
    (0.005, pct.RateLimited(2)),
)


def client() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", timeout=anthropic.Timeout(120, connect=5), max_retries=2)


def test_chaos_calls_bare(benchmark: Any, bare_route: Any) -> None:
    """The SDK's floor: the same calls answered at once with fixed bytes by a bare respx
    mocker at the same patch point (the connection pool)."""
    bare_route.answer = served(pct.FakeApi(), stream=False)
    sdk = client()

    def run() -> int:
        for _ in range(CALLS):
            sdk.messages.create(**MSG)
        return CALLS

    assert benchmark.pedantic(run, rounds=3, iterations=1) == CALLS


@pytest.mark.parametrize("faults", ["chaos", "healthy"])
def test_chaos_calls_network(benchmark: Any, faults: str) -> None:
    """The same calls through the simulated network with ``run_calls``: under the example's
    chaos (a fresh network each round: the same seeded run), or healthy."""
    reports: list[pct.CallReport] = []

    def run() -> int:
        scenarios = [pct.Chaos(seed=2026, faults=FAULTS, latency=pct.LogNormal(median=2.0, sigma=0.6))] if faults == "chaos" else []
        with pct.SimulatedNetwork(*scenarios, seed=2026) as network:
            sdk = client()
            reports.append(pct.run_calls(network, lambda: sdk.messages.create(**MSG), CALLS))
        return len(reports[-1].calls)

    assert benchmark.pedantic(run, rounds=3, iterations=1) == CALLS
    assert len({r.attempts() for r in reports}) == 1  # the same run every round
    benchmark.extra_info["calls"] = CALLS
    benchmark.extra_info["attempts"] = reports[-1].attempts()
    assert reports[-1].survival() >= 0.99
