"""The scenario catalog against the real SDK of the installed line, sync and async,
streaming and not: what the client sees, how many attempts, and the virtual time taken."""

from __future__ import annotations

import inspect
import itertools
import json
import math
from typing import Any

import anthropic
import pytest

import pytest_claude_timeout as pct
from pytest_claude_timeout.exchange import RECORDED_PINGS
from pytest_claude_timeout.scenarios.middleboxes import Middlebox

SDK_MAJOR = int(anthropic.__version__.split(".")[0])
STACK: Any = pytest.importorskip("httpx2" if SDK_MAJOR >= 1 else "httpx")
REQUEST = dict(model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}])

OK = "ok"
PARTIAL = "partial"  # a message came back with stop_reason None

# (scenario, streaming?, outcome, attempts, (min, max) virtual seconds)
CASES: list[tuple[pct.Scenario, bool, Any, int, tuple[float, float]]] = [
    (pct.LongGeneration(), False, OK, 1, (81, 81)),
    (pct.LongGeneration(), True, OK, 1, (81, 81)),
    (pct.AwsAlb(), False, anthropic.InternalServerError, 3, (181, 182)),
    (pct.AwsAlb(), True, OK, 1, (75, 75)),
    (pct.Cloudflare(upstream=120), False, anthropic.APIStatusError, 3, (301, 302)),
    (pct.Cloudflare(), True, OK, 1, (75, 75)),
    (pct.GcpLoadBalancer(), False, anthropic.InternalServerError, 3, (91, 92)),
    (pct.GcpLoadBalancer(), True, STACK.RemoteProtocolError, 1, (30, 30)),
    (pct.ConnectTimeout(), False, OK, 2, (5.3, 5.5)),
    (pct.ConnectTimeout(attempts=None), True, anthropic.APITimeoutError, 3, (16, 16.5)),
    (pct.ConnectionRefused(), False, OK, 2, (0.3, 0.6)),
    (pct.ServerDisconnect(), True, OK, 2, (0.3, 0.6)),
    (pct.ConnectionReset(), False, OK, 2, (0.3, 0.6)),
    (pct.ConnectionReset(), True, STACK.ReadError, 1, (0, 0)),
    (pct.TruncatedStream(), True, PARTIAL, 1, (0, 0)),
    (pct.LongSilence(), True, OK, 1, (330, 330)),
    (pct.RateLimited(retry_after=5), False, OK, 2, (5, 5)),
    (pct.RateLimited(retry_after=None, retry_after_ms=1500), True, OK, 2, (1.5, 1.5)),
    (pct.RateLimited(retry_after=30, http_date=True), False, OK, 2, (29, 31)),
    (pct.Overloaded(), False, OK, 2, (0.3, 0.6)),
    (pct.Overloaded(where="stream"), True, anthropic.APIStatusError, 1, (0, 0)),
    (pct.SlowUpload(rate=10, extra_bytes=10_000), False, anthropic.APITimeoutError, 3, (1801, 1802)),
    (pct.DnsFailure(kind="no_resolver", attempts=None), False, anthropic.APIConnectionError, 3, (1, 1.6)),
    # Scenario catalog 2
    (pct.LateHeaders(), True, OK, 1, (75, 75)),
    (pct.LateHeaders(700), True, anthropic.APITimeoutError, 3, (1800.5, 1801.6)),
    (pct.ConnectionClosed(), True, STACK.RemoteProtocolError, 1, (0, 0)),
    (pct.ConnectionClosed(), False, OK, 2, (0.3, 0.6)),
    (pct.PingStall(7200), True, OK, 1, (7200, 7200)),
    (pct.PingStall(), False, OK, 1, (0, 0)),
    (pct.SlicedStream(), True, OK, 1, (0.38, 0.39)),
    (pct.SlicedStream(size=1, newline="\r\n"), True, OK, 1, (2.7, 2.8)),
    (pct.SlicedStream(size=65536), False, OK, 1, (0, 0)),
    (pct.MalformedStream(kind="garbage"), False, OK, 2, (0.3, 0.6)),
    (pct.MalformedStream(kind="garbage", attempts=None), True, anthropic.APIConnectionError, 3, (1, 1.6)),
    (pct.MalformedStream(kind="empty"), True, OK, 2, (0.3, 0.6)),
    (pct.MalformedStream(kind="bad_chunk"), True, STACK.RemoteProtocolError, 1, (0, 0)),
    (pct.MalformedStream(kind="bad_json"), True, json.JSONDecodeError, 1, (0, 0)),
    (pct.MalformedStream(kind="bad_json"), False, json.JSONDecodeError, 1, (0, 0)),
    (pct.SlowDownload(), False, OK, 1, (8.2, 8.4)),  # the body's bytes at 50 B/s (417 B)
    (pct.SlowDownload(), True, OK, 1, (54.3, 54.6)),  # the stream's (2,723 B)
    (pct.ClientError(400), False, anthropic.BadRequestError, 1, (0, 0)),
    (pct.ClientError(401), True, anthropic.AuthenticationError, 1, (0, 0)),
    (pct.ClientError(403), False, anthropic.PermissionDeniedError, 1, (0, 0)),
    (pct.ClientError(413), True, anthropic.APIStatusError, 1, (0, 0)),
    (pct.ApiError(), False, OK, 2, (0.3, 0.6)),
    (pct.ApiError(), True, OK, 2, (0.3, 0.6)),
    (pct.ApiError(attempts=None), False, anthropic.InternalServerError, 3, (1, 1.6)),
    (pct.LongGeneration(tokens=100, every_event=True), True, OK, 1, (3.5, 3.5)),
]


def _id(case: tuple[Any, ...]) -> str:
    scenario, stream = case[0], case[1]
    return f"{scenario.label()}-{'stream' if stream else 'plain'}"


def call(network: pct.SimulatedNetwork, stream: bool, is_async: bool, **options: Any) -> Any:
    """One messages call through the real SDK; returns the message or the exception."""

    def sync() -> Any:
        client = anthropic.Anthropic(api_key="sk-test", **options)
        if stream:
            with client.messages.stream(**REQUEST) as s:
                return s.get_final_message()
        return client.messages.create(**REQUEST)

    async def run_async() -> Any:
        client = anthropic.AsyncAnthropic(api_key="sk-test", **options)
        if stream:
            async with client.messages.stream(**REQUEST) as s:
                return await s.get_final_message()
        return await client.messages.create(**REQUEST)

    try:
        return network.run(run_async()) if is_async else sync()
    except BaseException as exc:  # the outcome under test
        return exc


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_catalog_case(case: tuple[Any, ...], is_async: bool) -> None:
    scenario, stream, outcome, attempts, (low, high) = case
    with pct.SimulatedNetwork(scenario, seed="catalog") as network:
        result = call(network, stream, is_async)
    if outcome is OK:
        assert isinstance(result, anthropic.types.Message), result
        assert result.stop_reason == "end_turn"
    elif outcome is PARTIAL:
        assert isinstance(result, anthropic.types.Message), result
        assert result.stop_reason is None
    else:
        assert isinstance(result, outcome), repr(result)
    assert len(network.attempts) == attempts, network.timeline()
    assert low - 1e-6 <= network.elapsed <= high + 1e-6, network.timeline()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_retry_after_of_days(is_async: bool) -> None:
    """0.x ignores a retry-after over 60 s (normal backoff); 1.x and later wait it out,
    which the network stops at the horizon."""
    with pct.SimulatedNetwork(pct.RetryAfterExtreme(), horizon=3600) as network:
        result = call(network, False, is_async)
    if SDK_MAJOR >= 1:
        assert isinstance(result, pct.HorizonExceeded)
        assert network.elapsed == pytest.approx(3600)
    else:
        assert isinstance(result, anthropic.types.Message)
        assert network.elapsed < 2


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_resolver_that_never_answers(is_async: bool) -> None:
    """A sync client resolves outside its connect timeout and waits glibc's 10 s; an async
    one resolves inside it and gets ConnectTimeout at the connect timeout (5 s)."""
    with pct.SimulatedNetwork(pct.DnsFailure(kind="resolver_timeout"), seed=1) as network:
        result = call(network, False, is_async, max_retries=0)
    first = network.attempts[0]
    if is_async:
        assert isinstance(result, anthropic.APITimeoutError)
        assert (first.error, first.elapsed) == ("ConnectTimeout", 5.0)
    else:
        assert isinstance(result, anthropic.APIConnectionError)
        assert (first.error, first.elapsed) == ("ConnectError", 10.0)


def test_force_failure_fails_in_the_connect_phase() -> None:
    with pct.SimulatedNetwork(pct.ForceFailure(rtt=0.05), seed=1) as network:
        result = call(network, False, False, timeout=0.001, max_retries=0)
    assert isinstance(result, anthropic.APITimeoutError)
    assert network.attempts[0].error == "ConnectTimeout"
    assert network.elapsed == pytest.approx(0.001)


def test_pool_exhaustion_gives_pool_timeouts() -> None:
    import asyncio

    limits = STACK.Limits(max_connections=2)

    async def five(network: pct.SimulatedNetwork) -> list[str]:
        client = anthropic.AsyncAnthropic(
            api_key="sk-test",
            max_retries=0,
            http_client=anthropic.DefaultAsyncHttpxClient(limits=limits),
            timeout=anthropic.Timeout(60, pool=10),
        )

        async def one() -> str:
            try:
                await client.messages.create(**REQUEST)
                return "ok"
            except anthropic.APITimeoutError:
                return "timeout"

        return await asyncio.gather(*[one() for _ in range(5)])

    with pct.SimulatedNetwork(pct.PoolExhaustion(), seed=1) as network:
        results = network.run(five(network))
    assert sorted(results) == ["ok", "ok", "timeout", "timeout", "timeout"]
    assert [a.error for a in network.attempts].count("PoolTimeout") == 3
    assert network.elapsed == pytest.approx(30)


def test_https_proxy_traffic_is_intercepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    with pct.SimulatedNetwork(pct.ProxyCutoff(idle=30), seed=1) as network:
        result = call(network, False, False, max_retries=0)
    assert isinstance(result, anthropic.APIStatusError) and result.status_code == 504
    assert network.elapsed == pytest.approx(30)


def test_every_catalog_scenario_has_a_fixture_and_a_marker_name() -> None:
    from pytest_claude_timeout.plugin import fixtures

    for name, cls in pct.SCENARIOS.items():
        assert cls.name == name
        assert hasattr(fixtures, name)
        assert isinstance(pct.scenario_from_spec(name), cls)
        assert (cls.__doc__ or "").strip()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sliced_stream_inside_utf8_characters(is_async: bool, newline: str) -> None:
    """One byte at a time: the pieces split every multi-byte character (and CRLF line
    endings between their \\r and \\n); the SDK reassembles the text exactly."""
    text = "héllo wörld, ünïcode ✓ 日本語 🙂"
    api = pct.FakeApi(text=text)
    with pct.SimulatedNetwork(pct.SlicedStream(size=1, newline=newline), api=api, seed=1) as network:
        result = call(network, True, is_async)
    assert isinstance(result, anthropic.types.Message), result
    assert result.content[0].text == text  # type: ignore[union-attr]
    assert any(part.startswith("part of content_block_delta") for part in network.attempts[0].delivered)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ping_stall_never_hits_the_read_timeout(is_async: bool) -> None:
    """Pings every 10 s for an hour: a 60 s read timeout never fires, the call hangs."""
    with pct.SimulatedNetwork(pct.PingStall(3600), seed=1) as network:
        result = call(network, True, is_async, timeout=60, max_retries=0)
    assert isinstance(result, anthropic.types.Message), result
    assert network.elapsed == pytest.approx(3600)
    assert network.attempts[0].delivered.count("ping") == 361


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ping_stall_pings_forever_by_default(is_async: bool) -> None:
    """The default never ends: pings every 10 s until the virtual horizon stops the call,
    each produced as the clock reaches it (a day of pings, not an endless list)."""
    assert pct.PingStall().seconds == math.inf
    assert pct.PingStall().label() == "ping_stall-forever"
    with pct.SimulatedNetwork(pct.PingStall(), horizon=86_400, seed=1) as network:
        result = call(network, True, is_async, timeout=60, max_retries=0)
    assert isinstance(result, pct.HorizonExceeded), result
    assert network.elapsed == pytest.approx(86_400)
    # the stream's own ping, then one every 10 s up to the horizon: the first ones listed one
    # by one, the rest summed up (a fast-forwarded run of pings)
    assert network.attempts[0].delivered.count("ping") == 1 + RECORDED_PINGS
    assert network.attempts[0].error == "HorizonExceeded"


@pytest.mark.parametrize(("spec", "seconds"), [("ping_stall", math.inf), ("ping_stall:90", 90), ("ping_stall:inf", math.inf)])
def test_ping_stall_specs(spec: str, seconds: float) -> None:
    assert pct.scenario_from_spec(spec).seconds == seconds  # type: ignore[attr-defined]


def test_long_generation_every_event_evenly_spaced() -> None:
    with pct.SimulatedNetwork(pct.LongGeneration(tokens=50, prefill=0, every_event=True), seed=1) as network:
        result = call(network, True, False)
    assert isinstance(result, anthropic.types.Message)
    times = [e.at for e in network.attempts[0].events if e.text in network.attempts[0].delivered]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert gaps == {0.1}, gaps


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("pause", "retries", "outcome", "attempts"),
    [(3, 0, OK, 2), (4.5, 0, anthropic.APIConnectionError, 2), (4.5, 2, OK, 3), (6, 0, OK, 2)],
    ids=["reused-in-time", "stale-no-retries", "stale-retried", "expired-by-the-client"],
)
def test_stale_connection(is_async: bool, pause: float, retries: int, outcome: Any, attempts: int) -> None:
    """Two calls ``pause`` s apart on one client: the second reuses the kept-alive
    connection if it sat idle no longer than the pool's keepalive_expiry (5 s); the server
    dropped it after 4 s. Over 5 s the client opens a new one and never meets the stale one."""
    import asyncio
    import time

    def sync() -> Any:
        client = anthropic.Anthropic(api_key="sk-test", max_retries=retries)
        client.messages.create(**REQUEST)
        time.sleep(pause)
        return client.messages.create(**REQUEST)

    async def run_async() -> Any:
        client = anthropic.AsyncAnthropic(api_key="sk-test", max_retries=retries)
        await client.messages.create(**REQUEST)
        await asyncio.sleep(pause)
        return await client.messages.create(**REQUEST)

    with pct.SimulatedNetwork(pct.StaleConnection(), seed=1) as network:
        try:
            result = network.run(run_async()) if is_async else sync()
        except anthropic.APIError as exc:
            result = exc
    if outcome is OK:
        assert isinstance(result, anthropic.types.Message), result
    else:
        assert isinstance(result, outcome), repr(result)
        assert "Server disconnected without sending a response" in str(result.__cause__)
    assert len(network.attempts) == attempts, network.timeline()
    second = network.attempts[1]
    reused = any("reused after" in e.text for e in second.events)
    assert reused == (pause <= 5), network.timeline()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_buffering_proxy_holds_the_pings_back(is_async: bool, stream: bool) -> None:
    """Behind a proxy that holds the response, a stream's pings no longer reach the client:
    at timeout=60 a 75 s prefill times out before the headers and is retried, streaming
    or not; at timeout=120 the whole answer comes at once at 75 s."""
    with pct.SimulatedNetwork(pct.BufferingProxy(), seed=1) as network:
        result = call(network, stream, is_async, timeout=60, max_retries=1)
    assert isinstance(result, anthropic.APITimeoutError), result
    assert [a.error for a in network.attempts] == ["ReadTimeout", "ReadTimeout"]
    with pct.SimulatedNetwork(pct.BufferingProxy(), seed=1) as network:
        result = call(network, stream, is_async, timeout=120)
    assert isinstance(result, anthropic.types.Message), result
    head = next(e.at for e in network.attempts[0].events if e.text.startswith("response headers"))
    assert head == network.elapsed == 75


MIDDLEBOXES = [
    (pct.ProxyCutoff, "idle", 504, "nginx"),
    (pct.AwsAlb, "idle", 504, "awselb/2.0"),
    (pct.Cloudflare, "idle", 524, "cloudflare"),
    (pct.GcpLoadBalancer, "deadline", 502, "Google Frontend"),
]


@pytest.mark.parametrize(("cls", "main", "status", "server"), MIDDLEBOXES, ids=[m[0].__name__ for m in MIDDLEBOXES])
def test_middleboxes_share_one_base_and_keep_their_signatures(cls: Any, main: str, status: int, server: str) -> None:
    """The proxy-like scenarios get their upstream, error page and checks from one base
    (``Middlebox``); each keeps its own constructor (main duration first) and defaults."""
    assert issubclass(cls, Middlebox)
    assert list(inspect.signature(cls).parameters) == [main, "upstream", "ping_interval", "status", "server"]
    scenario = cls(12)
    assert (getattr(scenario, main), scenario.status, scenario.server) == (12, status, server)
    assert scenario._durations() == (main, "upstream", "ping_interval")
    with pytest.raises(pct.ScenarioError, match=rf"{cls.name}: status must be an HTTP status"):
        cls(status=99)
    with pytest.raises(pct.ScenarioError, match=rf"{cls.name}: server must be non-empty printable ASCII"):
        cls(server="")
    with pytest.raises(pct.ScenarioError, match=rf"{cls.name}: upstream must be a non-negative number of seconds"):
        cls(upstream=-1)
