"""aiohttp on the simulated network: the SDK's ``DefaultAioHttpClient`` and plain
``aiohttp.ClientSession`` requests, every kind of scenario, in virtual time, with the
timeouts and exceptions of real aiohttp (its connector, timers and parser run for real;
only the socket is simulated)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, NamedTuple

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR, http_stack

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


# -- the scenario catalog on aiohttp -------------------------------------------------------------
# Every scenario of the catalog, played to the same real SDK twice: with its default httpx /
# httpx2 client and with DefaultAioHttpClient. Each row of the aiohttp table in
# docs/other-clients-and-mocks.md is one row here: "as httpx" rows assert that both clients see
# the same thing (outcome, attempts, virtual time); the others assert what aiohttp's client sees
# and that it differs from what httpx's sees.

OK, PARTIAL = "ok", "partial"
STACK = http_stack()
ON_0X = SDK_MAJOR == 0
"""anthropic 0.x's transport (httpx-aiohttp 0.2) maps every ``aiohttp.ClientConnectionError``
(a server disconnect, a refused connection, a DNS failure) to ``httpx.ConnectTimeout``: the SDK
raises ``APITimeoutError`` where httpx gives ``APIConnectionError``. The SDK's vendored copy on
>= 2 maps them to ``ConnectError``."""


class Sees(NamedTuple):
    """What DefaultAioHttpClient's caller sees, where it differs from httpx."""

    outcome: Any
    attempts: int
    elapsed: float


AS_HTTPX = Sees(None, 0, 0.0)
CATALOG: list[tuple[pct.Scenario, bool, dict[str, Any], Sees]] = [
    (pct.SlowPrefill(), False, {"timeout": 60}, AS_HTTPX),
    (pct.SlowPrefill(), True, {"timeout": 60}, AS_HTTPX),
    (pct.StalledStream(), True, {"timeout": 30}, AS_HTTPX),  # the same ReadTimeout, from aiohttp's SocketTimeoutError
    (pct.ProxyCutoff(), False, {}, AS_HTTPX),
    (pct.ProxyCutoff(), True, {}, AS_HTTPX),
    (pct.AwsAlb(), False, {}, AS_HTTPX),
    (pct.Cloudflare(upstream=120), False, {}, AS_HTTPX),
    (pct.GcpLoadBalancer(), False, {}, AS_HTTPX),
    (pct.GcpLoadBalancer(), True, {}, Sees(STACK.ReadError, 1, 30)),  # aiohttp's ClientPayloadError
    (pct.LongGeneration(), False, {"timeout": 60}, AS_HTTPX),
    (pct.LongGeneration(), True, {}, AS_HTTPX),
    (pct.LongSilence(), True, {}, AS_HTTPX),
    (pct.LongSilence(), True, {"timeout": 60}, AS_HTTPX),
    (pct.DnsFailure(), False, {}, AS_HTTPX),
    (pct.DnsFailure(attempts=None), False, {}, Sees(anthropic.APITimeoutError, 3, 1.43) if ON_0X else AS_HTTPX),
    # The lookup is outside aiohttp's sock_connect timer: glibc's full 2 x 5 s, then a DNS error.
    (pct.DnsFailure(kind="resolver_timeout"), False, {}, Sees(OK, 2, 10.43)),
    (pct.ConnectTimeout(), False, {}, AS_HTTPX),
    (pct.ConnectTimeout(attempts=None), True, {}, AS_HTTPX),
    (pct.ConnectionRefused(), False, {}, AS_HTTPX),
    (pct.ConnectionRefused(attempts=None), False, {}, Sees(anthropic.APITimeoutError, 3, 1.37) if ON_0X else AS_HTTPX),
    (pct.ServerDisconnect(), False, {}, AS_HTTPX),
    (pct.ServerDisconnect(attempts=None), False, {}, Sees(anthropic.APITimeoutError, 3, 1.37) if ON_0X else AS_HTTPX),
    (pct.ConnectionReset(), False, {}, AS_HTTPX),
    (pct.ConnectionReset(), True, {}, AS_HTTPX),  # the same ReadError, from aiohttp's ClientPayloadError
    (pct.TruncatedStream(), True, {}, AS_HTTPX),
    (pct.RateLimited(), False, {}, AS_HTTPX),
    (pct.RateLimited(retry_after=30, http_date=True), False, {}, AS_HTTPX),
    (pct.RetryAfterExtreme(), False, {}, AS_HTTPX),
    (pct.Overloaded(), False, {}, AS_HTTPX),
    (pct.Overloaded(where="stream"), True, {}, AS_HTTPX),
    (pct.SlowUpload(rate=10, extra_bytes=10_000), False, {}, AS_HTTPX),
    (pct.ForceFailure(), False, {"timeout": 0.001, "max_retries": 0}, AS_HTTPX),
    # aiohttp's own limit (TCPConnector(limit=max_connections)); the wait is under ClientTimeout.connect,
    # which the SDK's transport sets to the pool timeout.
    # The calls waiting for aiohttp's pool never reach the network: the timeline lists only the 2
    # attempts that got a connection (on httpx, the network is the pool: it lists the 3 timeouts too).
    (
        pct.PoolExhaustion(),
        False,
        {"timeout": anthropic.Timeout(60, connect=5, pool=10), "max_retries": 0, "concurrent": (5, 2)},
        Sees(["APITimeoutError"] * 3 + [OK] * 2, 2, 30),
    ),
    (pct.LateHeaders(), True, {"timeout": 60}, AS_HTTPX),
    (pct.ConnectionClosed(), True, {}, Sees(STACK.ReadError, 1, 0)),  # aiohttp's ClientPayloadError
    (pct.ConnectionClosed(), False, {}, AS_HTTPX),
    (pct.PingStall(), True, {}, AS_HTTPX),
    (pct.StaleConnection(), False, {"pause": 4.5}, AS_HTTPX),  # aiohttp's keepalive_timeout: the SDK's 5 s
    (pct.StaleConnection(), False, {"pause": 6}, AS_HTTPX),  # past it: a new connection
    (pct.BufferingProxy(), True, {"timeout": 60}, AS_HTTPX),
    (pct.SlicedStream(), True, {}, AS_HTTPX),
    (pct.SlicedStream(size=1, newline="\r\n"), True, {}, AS_HTTPX),
    (pct.MalformedStream(kind="garbage"), False, {}, AS_HTTPX),
    (pct.MalformedStream(kind="garbage", attempts=None), True, {}, Sees(anthropic.APITimeoutError, 3, 1.37) if ON_0X else AS_HTTPX),
    (pct.MalformedStream(kind="empty"), True, {}, AS_HTTPX),
    (pct.MalformedStream(kind="bad_chunk"), True, {}, Sees(STACK.ReadError, 1, 0)),  # aiohttp's ClientPayloadError
    (pct.MalformedStream(kind="bad_json"), True, {}, AS_HTTPX),
    (pct.SlowDownload(), True, {}, AS_HTTPX),
    (pct.ClientError(413), True, {}, AS_HTTPX),
    (pct.ApiError(attempts=None), False, {}, AS_HTTPX),
    (pct.Chaos(seed=3, faults=((0.5, pct.ApiError()),), latency=pct.Uniform(1, 3)), False, {}, AS_HTTPX),
]


class Seen(NamedTuple):
    outcome: Any
    attempts: int
    elapsed: float


async def _catalog_call(aio: bool, stream: bool, options: dict[str, Any]) -> Any:
    options = dict(options)
    pause, concurrent = options.pop("pause", None), options.pop("concurrent", None)
    limits = {"limits": STACK.Limits(max_connections=concurrent[1])} if concurrent else {}
    http = anthropic.DefaultAioHttpClient(**limits) if aio else anthropic.DefaultAsyncHttpxClient(**limits)
    async with anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=http, **options) as client:

        async def one() -> Any:
            try:
                if not stream:
                    return await client.messages.create(**MSG)
                async with client.messages.stream(**MSG) as s:
                    return await s.get_final_message()
            except BaseException as exc:  # the outcome under test
                return exc

        if concurrent:
            return sorted(str(getattr(o, "__name__", o)) for o in map(_outcome, await asyncio.gather(*[one() for _ in range(concurrent[0])])))
        if pause is not None:  # a first call, then the one that counts on the kept-alive connection
            await one()
            await asyncio.sleep(pause)
        return _outcome(await one())


def _outcome(result: Any) -> Any:
    if isinstance(result, BaseException):
        return type(result)
    return OK if result.stop_reason is not None else PARTIAL


def _seen(scenario: pct.Scenario, aio: bool, stream: bool, options: dict[str, Any]) -> Seen:
    with pct.SimulatedNetwork(dataclasses.replace(scenario), seed="catalog") as net:
        outcome = net.run(_catalog_call(aio, stream, options))
    return Seen(outcome, len(net.attempts), round(net.elapsed, 2))


def _catalog_id(row: tuple[Any, ...]) -> str:
    scenario, stream, options, _ = row
    extra = "-".join(f"{k}{v}" for k, v in options.items() if k != "timeout") + (f"-timeout{options['timeout']}" if "timeout" in options else "")
    return f"{scenario.label()}-{'stream' if stream else 'plain'}{'-' + extra if extra else ''}"


@pytest.mark.parametrize(("scenario", "stream", "options", "expected"), CATALOG, ids=[_catalog_id(r) for r in CATALOG])
def test_catalog_on_aiohttp(scenario: pct.Scenario, stream: bool, options: dict[str, Any], expected: Sees) -> None:
    httpx_sees = _seen(scenario, False, stream, options)
    aiohttp_sees = _seen(scenario, True, stream, options)
    if expected is AS_HTTPX:
        assert aiohttp_sees == httpx_sees
    else:
        assert aiohttp_sees == Seen(*expected)
        assert aiohttp_sees != httpx_sees, "documented as a difference, but httpx sees the same"


def test_catalog_on_aiohttp_covers_every_scenario() -> None:
    assert {row[0].name for row in CATALOG} == set(pct.SCENARIOS)


def test_kept_alive_connections_follow_aiohttps_connector() -> None:
    """aiohttp's own connector decides reuse: the SDK's DefaultAioHttpClient keeps connections
    5 s (its keepalive_expiry), a plain TCPConnector 15 s (aiohttp's default), one with
    force_close never; a reused connection has no connect phase, and its idle time is recorded."""

    async def sdk(pause: float) -> None:
        async with anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=anthropic.DefaultAioHttpClient()) as client:
            await client.messages.create(**MSG)
            await asyncio.sleep(pause)
            await client.messages.create(**MSG)

    async def plain(pause: float, **connector: Any) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(**connector)) as session:
            for i in range(2):
                await asyncio.sleep(pause if i else 0)
                async with session.post(URL, json=MSG, headers={"x-api-key": "sk-ant-test"}) as response:
                    await response.read()

    def reuses(calls: Any, *scenarios: str) -> list[str]:
        with pct.SimulatedNetwork(*scenarios) as net:
            net.run(calls)
        assert len(net.attempts) == 2 + len(scenarios), net.timeline()
        return [e.text for a in net.attempts for e in a.events if "reused" in e.text]

    # The SDK's first attempt meets a connect timeout: the retry's connection is the one kept.
    assert reuses(sdk(1), "connect_timeout:1") == ["on connection 2, reused after 1.000 s idle"]
    assert reuses(sdk(6), "connect_timeout:1") == []
    assert reuses(plain(14)) == ["on connection 1, reused after 14.000 s idle"]
    assert reuses(plain(16)) == []
    assert reuses(plain(1, force_close=True)) == []
    assert reuses(plain(100, keepalive_timeout=120)) == ["on connection 1, reused after 100.000 s idle"]


def test_stale_connection_on_aiohttp() -> None:
    """The server dropped the kept-alive connection: aiohttp's ServerDisconnectedError (a POST is
    not idempotent: aiohttp itself does not retry it); the SDK retries on a new connection."""

    async def two_calls() -> Any:
        async with anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=anthropic.DefaultAioHttpClient()) as client:
            await client.messages.create(**MSG)
            await asyncio.sleep(4.5)
            return await client.messages.create(**MSG)

    with pct.SimulatedNetwork(pct.StaleConnection()) as net:
        assert net.run(two_calls()).stop_reason == "end_turn"
    assert errors(net) == [(None, "done"), ("RemoteProtocolError", "headers"), (None, "done")]
    assert "reused after 4.500 s idle" in net.timeline()
