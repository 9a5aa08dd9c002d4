"""What dense and endless scenarios cost in wall time (issue 11: "ends at the horizon in
milliseconds"): one streaming call each, sync and async, through the simulated network at
its default cap of parts (``MAX_EVENTS``). Run: ``pytest benchmarks -k dense`` (see
benchmarks/README.md for the figures before and after the fast-forward of pings)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from conftest import MSG

import pytest_claude_timeout as pct

CASES: dict[str, tuple[Callable[[], pct.Scenario], str]] = {
    # name: (scenario, how the call ends)
    "ping-every-microsecond": (lambda: pct.SlowPrefill(ping_interval=1e-6), "answer at 75 s"),
    "endless-prefill": (lambda: pct.SlowPrefill(math.inf), "horizon"),
    "billion-second-prefill": (lambda: pct.SlowPrefill(1e9), "horizon"),
    "endless-upstream-behind-a-proxy": (lambda: pct.ProxyCutoff(upstream=math.inf), "horizon"),
    "endless-microsecond-pings-behind-a-proxy": (lambda: pct.ProxyCutoff(upstream=math.inf, ping_interval=1e-6), "horizon"),
    "ping-stall-every-millisecond": (lambda: pct.PingStall(ping_interval=1e-3), "answer at 3600 s"),
    "billion-tokens": (lambda: pct.LongGeneration(tokens=10**9), "cap of parts"),
}


def one_stream(scenario: pct.Scenario, is_async: bool) -> str:
    """One streaming call under ``scenario``; how it ended."""

    async def run_async() -> None:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
        async with client.messages.stream(**MSG) as stream:
            await stream.get_final_message()

    def run_sync() -> None:
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
        with client.messages.stream(**MSG) as stream:
            stream.get_final_message()

    with pct.SimulatedNetwork(scenario) as net:
        try:
            net.run(run_async()) if is_async else run_sync()
        except pct.HorizonExceeded as exc:
            return "cap of parts" if "parts in one exchange" in str(exc) else "horizon"
    return f"answer at {net.elapsed:.0f} s"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", list(CASES))
def test_dense(benchmark: Any, case: str, is_async: bool) -> None:
    make, ends = CASES[case]
    rounds = 1 if ends == "cap of parts" else 3
    assert benchmark.pedantic(lambda: one_stream(make(), is_async), rounds=rounds, iterations=1) == ends
