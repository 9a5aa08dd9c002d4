"""Dense and endless inputs end in bounded work, at the right virtual moment, on both SDK
lines, sync and async (issue 11, item 2).

A run of keep-alive pings is fast-forwarded when the SDK's own SSE decoder reads the body
(``exchange.fast_forwarded``): a ping every microsecond costs what one ping costs. These
tests check that it is exact: the same virtual times, timeouts and timelines as pings
played one by one (``with_streaming_response`` reads the raw bytes, so there each ping is
played), a read timeout shorter than the interval fires as before, and a caller that stops
the call mid-run stops it at the same moment. Content events (a billion tokens) reach user
code and are played one by one, up to the attempt's cap of parts.

No hang, never a timed assert: each test lowers ``max_events``, so a regression that plays
pings one by one again ends at that cap (a clear failure) instead of running for minutes.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import anthropic
import pytest
from conftest import MSG

import pytest_claude_timeout as pct
from pytest_claude_timeout.api import wire
from pytest_claude_timeout.exchange import RECORDED_PINGS
from pytest_claude_timeout.server.fault_server import FaultServer

GUARD = 2_000
"""``max_events`` in these tests: far below the pings the scenarios describe, so only the
fast-forward lets them finish."""

HORIZON = 86_400.0


def network(*scenarios: pct.Scenario, **options: Any) -> pct.SimulatedNetwork:
    net = pct.SimulatedNetwork(*scenarios, **options)
    net.max_events = GUARD
    return net


def outcome(fn: Any) -> Any:
    try:
        return fn()
    except BaseException as exc:  # the outcome under test (HorizonExceeded is a BaseException)
        return exc


# -- pings every microsecond -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["stream", "final", "create_stream"])
def test_a_ping_every_microsecond_ends_at_the_answer(call: Any, kind: str) -> None:
    # 75 s of prefill with a ping every microsecond: 75 million pings, fast-forwarded.
    with network(pct.SlowPrefill(75, ping_interval=1e-6)) as net:
        text = call(net, kind, timeout=60)
    if kind == "final":
        text = "".join(block.text for block in text.content)
    assert text == wire.DEFAULT_TEXT
    attempt = net.attempts[0]
    assert len(net.attempts) == 1 and attempt.error is None
    assert attempt.end == pytest.approx(75, abs=1e-6)
    # the timeline lists the first pings one by one, then sums up the run in one line
    summary = [e.text for e in attempt.events if "a ping every" in e.text]
    # 74,999,999 pings before the 75th second: the first ones listed, the rest summed up
    more = 74_999_999 - RECORDED_PINGS
    assert summary == [f"prefill: a ping every 1e-06 s until 75 s ({more:,} more pings, fast-forwarded)"]
    assert attempt.delivered.count("ping") == RECORDED_PINGS + 1  # and the stream's own ping
    assert len(attempt.events) < 3 * RECORDED_PINGS


@pytest.mark.parametrize(
    "scenario",
    [
        pct.SlowPrefill(math.inf, ping_interval=1e-6),
        pct.SlowPrefill(1e9, ping_interval=1e-6),
        pct.ProxyCutoff(upstream=math.inf, ping_interval=1e-6),
        pct.SlowPrefill(math.inf),
        pct.ProxyCutoff(upstream=math.inf),
    ],
    ids=["endless-microsecond", "billion-seconds-microsecond", "proxy-endless-upstream-microsecond", "endless", "proxy-endless-upstream"],
)
def test_endless_pings_end_at_the_horizon(mode: str, scenario: pct.Scenario) -> None:
    with network(scenario) as net:
        result = outcome(lambda: _stream(net, mode))
    assert isinstance(result, pct.HorizonExceeded), result
    interval = scenario.ping_interval  # type: ignore[attr-defined]
    assert f"the client would wait {interval:g} s; the simulation stopped it at the virtual horizon of 86400 s" in str(result)
    assert net.elapsed == HORIZON
    assert [a.error for a in net.attempts] == ["HorizonExceeded"]
    assert net.attempts[0].end == HORIZON


def _stream(net: pct.SimulatedNetwork, mode: str, **options: Any) -> Any:
    from conftest import messages_call

    return messages_call(net, mode, "final", timeout=options.pop("timeout", 600), max_retries=0, **options)


# -- exact: the read timeout, the caller, the middleboxes ---------------------------------


def test_pings_further_apart_than_the_read_timeout_still_time_out(mode: str) -> None:
    with network(pct.SlowPrefill(75, ping_interval=20)) as net:
        result = outcome(lambda: _stream(net, mode, timeout=15))
    assert type(result).__name__ == "ReadTimeout", result  # mid-body: the stack's own, not retried
    assert [(a.error, a.end) for a in net.attempts] == [("ReadTimeout", 15.0)]


def test_pings_exactly_the_read_timeout_apart_keep_it_alive(mode: str) -> None:
    # (as when played one by one: a silence as long as the read timeout does not exceed it)
    with network(pct.SlowPrefill(75, ping_interval=0.5)) as net:
        _stream(net, mode, timeout=0.5)
    assert net.attempts[0].error is None
    assert net.attempts[0].end == 75


def test_a_caller_deadline_mid_run_stops_it_at_that_moment() -> None:
    async def main() -> None:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0, timeout=600)

        async def read() -> None:
            async with client.messages.stream(**MSG) as stream:
                await stream.get_final_message()

        await asyncio.wait_for(read(), 33.3333)

    with network(pct.SlowPrefill(75, ping_interval=1e-3)) as net:
        with pytest.raises(asyncio.TimeoutError):
            net.run(main())
    attempt = net.attempts[0]
    assert attempt.cancelled and attempt.end == 33.3333
    assert net.elapsed == 33.3333


def test_another_thread_closing_the_stream_mid_run_is_seen_at_the_next_ping() -> None:
    # The reader is in a run of pings a millisecond apart; another thread closes the stream
    # at 33.3333 s. Played ping by ping, the reader would notice at the next ping (33.334):
    # the fast-forward stops there too, because the other thread's wake-up bounds it.
    seen: dict[str, float] = {}
    with network(pct.SlowPrefill(75, ping_interval=1e-3)) as net:
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
        with client.messages.stream(**MSG) as stream:

            def read() -> None:
                outcome(lambda: [None for _ in stream])
                seen["reader"] = net.elapsed

            reader = threading.Thread(target=read)
            reader.start()
            time.sleep(33.3333)  # virtual
            stream.close()
            seen["closed"] = net.elapsed
            reader.join()
    assert seen["closed"] == 33.3333
    assert seen["reader"] == pytest.approx(33.334, abs=1e-9)
    assert net.attempts[0].end == 33.3333


SAME_AS_PLAYED = [
    pct.SlowPrefill(75, ping_interval=0.25),
    pct.ProxyCutoff(idle=60, upstream=75, ping_interval=0.5),
    pct.ProxyCutoff(idle=5, upstream=75, ping_interval=10),
    pct.GcpLoadBalancer(deadline=30.3, upstream=75, ping_interval=0.7),
    pct.PingStall(seconds=100, ping_interval=0.5, deltas=2),
    pct.BufferingProxy(upstream=75, ping_interval=0.5),
]


@pytest.mark.parametrize("scenario", SAME_AS_PLAYED, ids=[s.describe() for s in SAME_AS_PLAYED])
def test_the_fast_forward_gives_the_timeline_of_pings_played_one_by_one(mode: str, scenario: pct.Scenario) -> None:
    # with_streaming_response hands the raw bytes to the caller: there every ping is played
    fast = _events(scenario, mode, raw=False)
    played = _events(scenario, mode, raw=True)
    assert fast == played


def _events(scenario: pct.Scenario, mode: str, *, raw: bool) -> list[tuple[float, str, str]]:
    opts = {"api_key": "sk-ant-test", "max_retries": 0, "timeout": 60}

    def sync() -> None:
        client = anthropic.Anthropic(**opts)  # type: ignore[arg-type]
        if raw:
            with client.messages.with_streaming_response.create(**MSG, stream=True) as response:
                for _ in response.iter_lines():
                    pass
        else:
            for _ in client.messages.create(**MSG, stream=True):
                pass

    async def run_async() -> None:
        client = anthropic.AsyncAnthropic(**opts)  # type: ignore[arg-type]
        if raw:
            async with client.messages.with_streaming_response.create(**MSG, stream=True) as response:
                async for _ in response.iter_lines():
                    pass
        else:
            async for _ in await client.messages.create(**MSG, stream=True):
                pass

    with network(scenario) as net:
        outcome(sync if mode == "sync" else lambda: net.run(run_async()))
    kinds = {"wait", "ping", "data", "head", "timeout", "hangup"}
    return [(round(e.at, 6), e.text, e.kind) for a in net.attempts for e in a.events if e.kind in kinds]


# -- content reaches user code: played one by one, up to the cap --------------------------


def test_a_billion_tokens_end_at_the_cap_of_parts(mode: str) -> None:
    with network(pct.LongGeneration(tokens=10**9)) as net:
        result = outcome(lambda: _stream(net, mode))
    assert isinstance(result, pct.HorizonExceeded), result
    assert str(result).startswith(f"attempt 1: the scenario would deliver more than {GUARD:,} parts in one exchange")
    # 1 s of prefill, then a delta every 0.1 s: the cap is reached after ~1,000 deltas
    assert net.attempts[0].error == "HorizonExceeded"
    assert 95 < net.elapsed < 105


# -- the fault server: the same bound ---------------------------------------------------


def test_the_fault_server_stops_a_dense_exchange_at_the_cap() -> None:
    server = FaultServer(pct.SlowPrefill(75, ping_interval=1e-6), time_scale=0.001)
    server.max_events = 200
    with server:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.base_url, max_retries=0, timeout=5)
        result = outcome(lambda: _final(client))
        # the connection closed without the body's end: the stack's own error, mid-body
        assert type(result).__name__ == "RemoteProtocolError", result
        assert "incomplete chunked read" in str(result)
    assert [str(f) for f in server.faults] == [
        f"fault server ({server.base_url}): attempt 1: the scenario would deliver more than 200 parts in one exchange "
        + str(server.faults[0]).split(" parts in one exchange ", 1)[1]
    ]
    assert server.attempts[0].error == "HorizonExceeded"
    assert "stopped by the fault server: more than 200 parts in one exchange" in server.timeline()


def _final(client: anthropic.Anthropic) -> Any:
    with client.messages.stream(**MSG) as stream:
        return stream.get_final_message()
