"""aiohttp on the simulated network: the SDK's ``DefaultAioHttpClient`` and plain
``aiohttp.ClientSession`` requests, every kind of scenario, in virtual time, with the
timeouts and exceptions of real aiohttp (its connector, timers and parser run for real;
only the socket is simulated)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from conftest import MSG, http_stack

import pytest_claude_timeout as pct
from pytest_claude_timeout.api import wire

aiohttp = pytest.importorskip("aiohttp")

TEXT = wire.DEFAULT_TEXT
URL = "https://api.anthropic.com/v1/messages"


async def sdk_call(kind: str = "create", received: list[str] | None = None, **options: Any) -> Any:
    received = [] if received is None else received
    async with anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=anthropic.DefaultAioHttpClient(), **options) as client:
        if kind == "create":
            return "".join(block.text for block in (await client.messages.create(**MSG)).content)
        async with client.messages.stream(**MSG) as stream:
            async for text in stream.text_stream:
                received.append(text)
        return "".join(received)


async def plain_call(stream: bool = True, **timeout: Any) -> tuple[int, list[bytes]]:
    lines: list[bytes] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(**timeout)) as session:
        async with session.post(URL, json={**MSG, "stream": stream}, headers={"x-api-key": "sk-ant-test"}) as response:
            async for line in response.content:
                lines.append(line)
            return response.status, lines


def errors(net: pct.SimulatedNetwork) -> list[tuple[str | None, str | None]]:
    return [(a.error, a.phase) for a in net.attempts]


# -- the SDK's DefaultAioHttpClient --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["create", "stream"])
def test_sdk_healthy(kind: str) -> None:
    with pct.SimulatedNetwork() as net:
        assert net.run(sdk_call(kind)) == TEXT
    assert errors(net) == [(None, "done")]
    assert net.attempts[0].timeouts == pct.Timeouts(connect=5, read=600, write=None, pool=600)


def test_sdk_slow_prefill_read_timeout_60_fails_three_times() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net, pytest.raises(anthropic.APITimeoutError):
        net.run(sdk_call(timeout=60))
    assert errors(net) == [("SocketTimeoutError", "headers")] * 3  # aiohttp's sock_read timer
    assert [a.end - a.start for a in net.attempts] == pytest.approx([60, 60, 60])
    assert [a.retry_count for a in net.attempts] == [0, 1, 2]


def test_sdk_slow_prefill_stream_survives_on_pings() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        assert net.run(sdk_call("stream", timeout=60)) == TEXT
    assert net.attempts[0].end == 75
    assert net.attempts[0].delivered.count("ping") >= 7


def test_sdk_stalled_stream_raw_read_timeout_escapes() -> None:
    received: list[str] = []
    with pct.SimulatedNetwork(pct.StalledStream()) as net, pytest.raises(http_stack().ReadTimeout) as info:
        net.run(sdk_call("stream", received, timeout=30))
    assert not isinstance(info.value, anthropic.APIError)
    assert received == wire.chunk_text(TEXT)[:2]
    assert errors(net) == [("SocketTimeoutError", "body")]
    assert net.elapsed == 30


@pytest.mark.parametrize(
    ("scenario", "error"),
    [("dns_failure", "ConnectError"), ("connection_refused", "ConnectError"), ("server_disconnect", "RemoteProtocolError")],
)
def test_sdk_connection_failures_are_retried(scenario: str, error: str) -> None:
    with pct.SimulatedNetwork(scenario) as net:
        assert net.run(sdk_call()) == TEXT
    assert errors(net)[0][0] == error and errors(net)[1] == (None, "done")


def test_sdk_connect_timeout_is_aiohttps_sock_connect() -> None:
    with pct.SimulatedNetwork("connect_timeout:3") as net, pytest.raises(anthropic.APITimeoutError):
        net.run(sdk_call(timeout=anthropic.Timeout(60, connect=2)))
    assert [a.phase for a in net.attempts] == ["connect"] * 3
    assert [a.end - a.start for a in net.attempts] == pytest.approx([2, 2, 2])


def test_sdk_proxy_cutoff_gives_the_504() -> None:
    with pct.SimulatedNetwork("proxy_cutoff") as net, pytest.raises(anthropic.InternalServerError) as info:
        net.run(sdk_call())
    assert info.value.status_code == 504
    assert [a.status for a in net.attempts] == [504] * 3


def test_sdk_connection_reset_mid_stream() -> None:
    with pct.SimulatedNetwork("connection_reset") as net, pytest.raises(http_stack().ReadError):
        net.run(sdk_call("stream"))
    assert errors(net) == [("ReadError", "body")]


def test_sdk_rate_limited_waits_the_retry_after() -> None:
    with pct.SimulatedNetwork("rate_limited") as net:
        assert net.run(sdk_call()) == TEXT
    assert [a.status for a in net.attempts] == [429, 200]
    assert net.attempts[1].start == pytest.approx(5, abs=0.01)


# -- plain aiohttp -----------------------------------------------------------------------------


def test_plain_healthy_stream() -> None:
    with pct.SimulatedNetwork() as net:
        status, lines = net.run(plain_call())
    assert status == 200
    assert b"event: message_stop\n" in lines
    assert net.attempts[0].stream is True


def test_plain_sock_read() -> None:
    with pct.SimulatedNetwork(pct.StalledStream()) as net, pytest.raises(aiohttp.SocketTimeoutError):
        net.run(plain_call(sock_read=30))
    assert net.elapsed == 30


def test_plain_total_is_aiohttps_own() -> None:
    with pct.SimulatedNetwork(pct.StalledStream()) as net, pytest.raises(TimeoutError):
        net.run(plain_call(total=100))
    assert net.elapsed == 100
    assert net.attempts[0].phase == "body"


@pytest.mark.parametrize("limit", [{"sock_connect": 3}, {"connect": 4}])
def test_plain_connect_timeouts(limit: dict[str, float]) -> None:
    with pct.SimulatedNetwork("connect_timeout") as net, pytest.raises(aiohttp.ConnectionTimeoutError):
        net.run(plain_call(**limit))
    assert net.elapsed == next(iter(limit.values()))


def test_plain_dns_failure_is_aiohttps_dns_error() -> None:
    with pct.SimulatedNetwork("dns_failure") as net, pytest.raises(aiohttp.ClientConnectorDNSError, match="Name or service not known"):
        net.run(plain_call())
    assert errors(net) == [("ConnectError", "connect")]


def test_plain_without_timeouts_stops_at_the_horizon() -> None:
    with pct.SimulatedNetwork(pct.StalledStream(), horizon=1000) as net, pytest.raises(pct.HorizonExceeded):
        net.run(plain_call())
    assert errors(net) == [("HorizonExceeded", "body")]


def test_plain_other_requests_are_unhandled() -> None:
    async def get() -> None:
        async with aiohttp.ClientSession() as session:
            await session.get("https://api.anthropic.com/v1/unknown")

    with pct.SimulatedNetwork() as net, pytest.raises(pct.UnhandledRequest):
        net.run(get())
    assert net.unhandled == ["GET https://api.anthropic.com/v1/unknown"]


def test_aiohttp_is_left_alone_outside_a_network() -> None:
    from pytest_claude_timeout.transports import aiohttp_mock

    with pct.SimulatedNetwork():
        pass
    assert aiohttp.connector.TCPConnector._create_connection.__module__ == "aiohttp.connector"
    assert not aiohttp_mock._active


# -- the fixtures and the marker -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_fixture_serves_aiohttp(slow_prefill: Any, claude_network: Any) -> None:
    assert await sdk_call(timeout=120) == TEXT
    assert claude_network.elapsed == 75


@pytest.mark.claude_timeout("slow_prefill", "rate_limited", "proxy_cutoff:30")
@pytest.mark.asyncio
async def test_the_marker_judges_an_aiohttp_client() -> None:
    async with anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=anthropic.DefaultAioHttpClient(), timeout=120) as client:
        async with client.messages.stream(**MSG) as stream:
            await stream.get_final_message()
