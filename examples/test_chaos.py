"""Chaos over many calls: 10,000 calls of the app under a seeded mix of faults, in virtual
time. Each attempt draws its fault (2% stalled before the response, 1% overloaded, 1%
internal errors, 0.5% connection resets, 0.5% rate limited) and its time to first byte
(log-normal around 2 s) from the seed, so every run is the same run; the report counts the
calls' outcomes and gives their latency percentiles. Run ``pytest examples/test_chaos.py -s``
to read it.
"""

import math

import app
import pytest

from pytest_claude_timeout import (
    ApiError,
    Chaos,
    ConnectionReset,
    LateHeaders,
    LogNormal,
    Overloaded,
    RateLimited,
    SimulatedNetwork,
    run_calls,
)

CALLS = 10_000
FAULTS = (
    (0.02, LateHeaders(math.inf)),  # the server never answers: the read timeout fires, the SDK retries
    (0.01, Overloaded()),
    (0.01, ApiError()),
    (0.005, ConnectionReset()),
    (0.005, RateLimited(2)),
)


@pytest.fixture(scope="module")
def report():
    chaos = Chaos(seed=2026, faults=FAULTS, latency=LogNormal(median=2.0, sigma=0.6))
    with SimulatedNetwork(chaos, seed=2026) as network:
        client = app.make_client(api_key="sk-ant-test")
        result = run_calls(network, lambda: app.summarize(client, "A long document ..."), CALLS)
    print(f"\n{result}")
    return result


def test_99_percent_of_calls_survive_with_2_percent_of_attempts_stalled(report):
    assert len(report.calls) == CALLS
    assert report.survival() >= 0.99
    stalled = report.faults["late_headers-forever"] / report.attempts()
    assert 0.015 < stalled < 0.025


def test_a_stalled_attempt_costs_the_read_timeout_and_a_retry(report):
    # The app waits 120 s for a byte: a call whose first attempt stalled takes over 120 s.
    retried = [c for c in report.calls if c.outcome == "retried and survived"]
    assert retried and report.counts()["survived"] > 0.9 * CALLS
    assert report.p50 < 10
    assert report.p99 > 120
