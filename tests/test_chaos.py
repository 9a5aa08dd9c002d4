"""Chaos over many calls on the real SDK: seeded draws that repeat, fault rates as asked,
outcome counts and latency percentiles, sync and concurrent async calls told apart."""

from __future__ import annotations

import math
import random
from typing import Any

import anthropic
import pytest

import pytest_claude_timeout as pct
from pytest_claude_timeout.network.calls import CallRecord, CallReport

REQUEST = dict(model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
FAULTS = ((0.05, pct.LateHeaders(math.inf)), (0.05, pct.ApiError()), (0.02, pct.ClientError(400)))


def play(calls: int, seed: int = 7, **options: Any) -> tuple[pct.CallReport, pct.SimulatedNetwork]:
    chaos = pct.Chaos(seed=seed, faults=FAULTS, latency=pct.LogNormal(1.0, 0.5))
    with pct.SimulatedNetwork(chaos, seed=seed) as network:
        client = anthropic.Anthropic(api_key="sk-test", timeout=30, **options)
        report = pct.run_calls(network, lambda: client.messages.create(**REQUEST), calls)
    return report, network


def test_a_seeded_run_repeats_exactly() -> None:
    first, _ = play(150)
    second, _ = play(150)
    assert first.counts() == second.counts()
    assert [c.latency for c in first.calls] == [c.latency for c in second.calls]
    assert first.faults == second.faults
    other, _ = play(150, seed=8)
    assert [c.latency for c in other.calls] != [c.latency for c in first.calls]


def test_outcomes_fault_rates_and_percentiles() -> None:
    report, network = play(300)
    counts = report.counts()
    assert sum(counts.values()) == 300
    # a 400 is never retried: every call whose first attempt drew it fails with it
    assert counts["failed: BadRequestError"] == sum(
        1 for c in report.calls if report_fault(network, c.attempts[0]) == "client_error-400"
    )
    assert counts["retried and survived"] > 0 and counts["survived"] > 240
    attempts = report.attempts()
    assert attempts == len(network.attempts) == sum(report.faults.values())
    assert 0.02 < report.faults["late_headers-forever"] / attempts < 0.09
    # a stalled attempt costs the read timeout (30 s) before the SDK retries
    stalled = [c for c in report.calls if report_fault(network, c.attempts[0]) == "late_headers-forever"]
    assert stalled and all(c.latency > 30 for c in stalled if c.error is None)
    assert report.p50 < 2 < 30 < report.p99 <= report.percentile(100)
    assert "latency (virtual): p50" in str(report) and "late_headers-forever" in str(report)


def report_fault(network: pct.SimulatedNetwork, attempt: pct.Attempt) -> str:
    chaos = network.scenarios[0]
    assert isinstance(chaos, pct.Chaos)
    return chaos.drawn[attempt.number]


def test_concurrent_async_calls_are_told_apart() -> None:
    chaos = pct.Chaos(seed=3, faults=((0.2, pct.ApiError()),), latency=pct.Uniform(1, 3))
    with pct.SimulatedNetwork(chaos, seed=3) as network:
        client = anthropic.AsyncAnthropic(api_key="sk-test")

        async def one() -> None:
            await client.messages.create(**REQUEST)

        report = pct.run_calls(network, one, 60, concurrency=20)
    assert report.survival() == 1.0
    assert sorted(a.call for a in network.attempts if a.call is not None) == sorted(
        c.number for c in report.calls for _ in c.attempts
    )
    for record in report.calls:
        assert record.attempts and all(a.call == record.number for a in record.attempts)
        if len(record.attempts) > 1:
            assert record.attempts[0].status == 500 and record.attempts[-1].status == 200
    assert network.elapsed < 60  # concurrent: far less than one after another


def test_distributions() -> None:
    rng = random.Random(1)
    assert pct.Fixed(2.5).draw(rng) == 2.5
    assert all(1 <= pct.Uniform(1, 3).draw(rng) <= 3 for _ in range(100))
    draws = sorted(pct.LogNormal(2.0, 0.5).draw(rng) for _ in range(2001))
    assert draws[1000] == pytest.approx(2.0, rel=0.1)  # the median


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"faults": ((0.7, pct.ApiError()), (0.5, pct.Overloaded()))}, "add up to more than 1"),
        ({"faults": ((1.5, pct.ApiError()),)}, "probability is a number from 0 to 1"),
        ({"faults": ((0.1, "api_error"),)}, "a fault is a Scenario object"),
        ({"latency": 3}, "latency is a Fixed, Uniform or LogNormal"),
    ],
)
def test_bad_chaos_parameters(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(pct.ScenarioError, match=problem):
        pct.Chaos(**kwargs)


def test_report_of_no_calls_and_percentiles() -> None:
    calls = [CallRecord(n, 0.0, float(n), None, []) for n in range(1, 101)]
    report = CallReport(calls)
    assert (report.p50, report.p95, report.p99, report.percentile(100)) == (50, 95, 99, 100)
    assert math.isnan(CallReport([]).p50)
