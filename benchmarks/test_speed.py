"""What the virtual clock and the simulated network cost (pytest-benchmark; not part of
the test suite). Run: ``pytest benchmarks`` (see benchmarks/README.md)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import anthropic
import pytest
from conftest import MSG, STREAM_TEXT, served

import pytest_claude_timeout as pct


def read_stream(client: anthropic.Anthropic) -> int:
    return sum(1 for _ in client.messages.create(**MSG, stream=True))


def test_create_bare(benchmark: Any, bare_route: Any) -> None:
    bare_route.answer = served(pct.FakeApi(), stream=False)
    client = anthropic.Anthropic(api_key="sk-ant-test")
    message = benchmark(client.messages.create, **MSG)
    assert message.content[0].text == pct.FakeApi().text


def test_create_network(benchmark: Any) -> None:
    with pct.SimulatedNetwork():
        client = anthropic.Anthropic(api_key="sk-ant-test")
        message = benchmark(client.messages.create, **MSG)
    assert message.content[0].text == pct.FakeApi().text


def test_stream_bare(benchmark: Any, bare_route: Any) -> None:
    bare_route.answer = served(pct.FakeApi(text=STREAM_TEXT), stream=True)
    assert benchmark(read_stream, anthropic.Anthropic(api_key="sk-ant-test")) == 800


def test_stream_network(benchmark: Any) -> None:
    with pct.SimulatedNetwork(api=pct.FakeApi(text=STREAM_TEXT)):
        assert benchmark(read_stream, anthropic.Anthropic(api_key="sk-ant-test")) == 800


@pytest.mark.parametrize("n", [100, 1000])
def test_concurrent_async(benchmark: Any, n: int) -> None:
    async def calls() -> list[Any]:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=120)
        return await asyncio.gather(*(client.messages.create(**MSG) for _ in range(n)))

    def run() -> float:
        with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
            assert len(net.run(calls())) == n
        return net.elapsed

    assert benchmark.pedantic(run, rounds=3, iterations=1) == 75


def test_thread_pool_of_100_sync_calls(benchmark: Any) -> None:
    def run() -> float:
        with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
            client = anthropic.Anthropic(api_key="sk-ant-test", timeout=120)
            with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
                list(pool.map(lambda _: client.messages.create(**MSG), range(100)))
        return net.elapsed

    assert benchmark.pedantic(run, rounds=3, iterations=1) == 75
