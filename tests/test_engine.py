"""The engine on its own: ``SimulatedNetwork`` as a context manager (no fixtures), against
the real SDK of the installed line, sync and async (``net.run`` on a looptime loop)."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import importlib.util
import time
from typing import Any

import anthropic
import pytest
from conftest import MSG

import pytest_claude_timeout as pct
from pytest_claude_timeout.api import wire

FULL_TEXT = wire.DEFAULT_TEXT
FIRST_TWO_DELTAS = wire.chunk_text(FULL_TEXT)[:2]


def text_of(result: Any) -> str:
    """The text of a Message, or the text a streaming call returned."""
    return result if isinstance(result, str) else "".join(block.text for block in result.content)


# -- SlowPrefill ------------------------------------------------------------------------


def test_slow_prefill_read_timeout_60_fails_after_three_attempts(call: Any) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        with pytest.raises(anthropic.APITimeoutError):
            call(net, timeout=60)
    assert len(net.attempts) == 3
    assert [a.timeouts.read for a in net.attempts] == [60, 60, 60]
    assert [a.error for a in net.attempts] == ["ReadTimeout"] * 3
    assert 181 <= net.attempts[-1].end <= 182


def test_slow_prefill_timeout_120_message_arrives_at_75_s(call: Any) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        message = call(net, timeout=120)
    assert text_of(message) == FULL_TEXT
    assert len(net.attempts) == 1
    assert net.attempts[0].end == 75.0
    assert net.elapsed == 75.0


@pytest.mark.parametrize("kind", ["stream", "final"])
def test_slow_prefill_stream_with_pings_survives_timeout_60(call: Any, kind: str) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        result = call(net, kind, timeout=60)
    assert text_of(result) == FULL_TEXT
    assert len(net.attempts) == 1
    # pings every 10 s during the 75 s prefill kept the 60 s read timeout from firing
    assert net.attempts[0].delivered.count("ping") >= 7
    assert net.attempts[0].end == 75.0


# -- StalledStream ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["stream", "create_stream"])
def test_stalled_stream_raw_read_timeout_escapes_after_delivered_text(call: Any, stack: Any, kind: str) -> None:
    received: list[str] = []
    with pct.SimulatedNetwork(pct.StalledStream()) as net:
        with pytest.raises(stack.ReadTimeout) as info:
            call(net, kind, received, timeout=30)
    assert not isinstance(info.value, anthropic.APIError)  # raw, neither wrapped nor retried
    assert received == FIRST_TWO_DELTAS
    assert len(net.attempts) == 1
    attempt = net.attempts[0]
    last_delta = [e.at for e in attempt.events if e.text == "content_block_delta"][-1]
    assert attempt.end - last_delta == pytest.approx(30.0)
    assert net.elapsed == pytest.approx(30.0)


def test_no_timeout_against_a_stalled_stream_raises_horizon_exceeded(call: Any) -> None:
    with pct.SimulatedNetwork(pct.StalledStream()) as net:
        with pytest.raises(pct.HorizonExceeded) as info:
            call(net, "stream", timeout=None)
    assert info.value.forever is True
    assert net.attempts[0].error == "HorizonExceeded"


# -- ProxyCutoff ------------------------------------------------------------------------


@pytest.mark.parametrize("idle", [60, 30])
def test_proxy_cutoff_non_streaming_gets_504_after_three_attempts(call: Any, idle: float) -> None:
    with pct.SimulatedNetwork(pct.ProxyCutoff(idle=idle)) as net:
        with pytest.raises(anthropic.InternalServerError) as info:
            call(net)
    assert info.value.status_code == 504
    assert len(net.attempts) == 3
    assert [a.status for a in net.attempts] == [504, 504, 504]


@pytest.mark.parametrize("idle", [60, 30])
def test_proxy_cutoff_stream_with_pings_succeeds(call: Any, idle: float) -> None:
    with pct.SimulatedNetwork(pct.ProxyCutoff(idle=idle)) as net:
        message = call(net, "final")
    assert text_of(message) == FULL_TEXT
    assert len(net.attempts) == 1
    assert net.attempts[0].status == 200


# -- DnsFailure -------------------------------------------------------------------------


def test_dns_failure_is_retried_by_default(call: Any) -> None:
    with pct.SimulatedNetwork(pct.DnsFailure()) as net:
        message = call(net)
    assert text_of(message) == FULL_TEXT
    assert len(net.attempts) == 2
    assert net.attempts[0].error == "ConnectError"


def test_dns_failure_without_retries_is_a_connection_error(call: Any) -> None:
    with pct.SimulatedNetwork(pct.DnsFailure()) as net:
        with pytest.raises(anthropic.APIConnectionError) as info:
            call(net, max_retries=0)
    assert not isinstance(info.value, anthropic.APITimeoutError)
    assert len(net.attempts) == 1
    assert net.elapsed < 1


# -- concurrency ------------------------------------------------------------------------


async def _five_concurrent(timeout: float) -> list[tuple[Any, float]]:
    """Five calls on one AsyncAnthropic; each returns (result or exception, loop time at its end)."""
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=timeout)
    loop = asyncio.get_running_loop()

    async def one() -> tuple[Any, float]:
        try:
            result: Any = await client.messages.create(**MSG)
        except anthropic.APIError as exc:
            result = exc
        return result, loop.time()

    return await asyncio.gather(*(one() for _ in range(5)))


def test_five_concurrent_calls_time_out_together() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        outcomes = net.run(_five_concurrent(60))
    assert all(isinstance(result, anthropic.APITimeoutError) for result, _ in outcomes)
    ends = [at for _, at in outcomes]
    # each ran 3 x 60 s plus its own jittered backoff: all end within the same second
    assert all(181 <= at <= 182 for at in ends), ends
    assert len(net.attempts) == 15
    assert max(ends) == pytest.approx(net.elapsed)


def test_five_concurrent_calls_succeed_together() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        outcomes = net.run(_five_concurrent(120))
    assert [text_of(result) for result, _ in outcomes] == [FULL_TEXT] * 5
    assert [at for _, at in outcomes] == [75.0] * 5
    assert len(net.attempts) == 5


# -- the user's clocks ------------------------------------------------------------------


def _read_clocks() -> dict[str, float]:
    readings = {
        "time.time": time.time(),
        "time.monotonic": time.monotonic(),
        "datetime.now": datetime.datetime.now().timestamp(),
    }
    loop = asyncio._get_running_loop()
    if loop is not None:
        readings["loop.time"] = loop.time()
    return readings


def test_user_clocks_move_with_the_network(mode: str) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        client_options: dict[str, Any] = {"api_key": "sk-ant-test", "timeout": 60}
        if mode == "sync":
            before = _read_clocks()
            with pytest.raises(anthropic.APITimeoutError):
                anthropic.Anthropic(**client_options).messages.create(**MSG)
            after = _read_clocks()
        else:

            async def measured() -> tuple[dict[str, float], dict[str, float]]:
                first = _read_clocks()
                with pytest.raises(anthropic.APITimeoutError):
                    await anthropic.AsyncAnthropic(**client_options).messages.create(**MSG)
                return first, _read_clocks()

            before, after = net.run(measured())
        elapsed = net.elapsed
    assert elapsed > 181
    expected = {"time.time", "time.monotonic", "datetime.now"} | ({"loop.time"} if mode == "async" else set())
    assert set(before) == expected
    for name in expected:
        assert after[name] - before[name] == pytest.approx(elapsed, abs=1e-3), name


# -- requests the network does not serve, API keys, base URLs ---------------------------

FAKE_REAL_KEY = "sk-ant-api03-" + "Z" * 86 + "-AAAAAAAA"


def test_files_list_is_unhandled(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_REAL_KEY)
    with pct.SimulatedNetwork() as net:
        with pytest.raises(pct.UnhandledRequest, match=r"https://api\.anthropic\.com/v1/files"):
            if mode == "sync":
                anthropic.Anthropic().beta.files.list()
            else:

                async def models() -> None:
                    await anthropic.AsyncAnthropic().beta.files.list()

                net.run(models())
    assert len(net.unhandled) == 1
    assert net.unhandled[0].startswith("GET https://api.anthropic.com/v1/files")
    assert net.attempts == []


# Every installed stack is intercepted, whichever one the SDK uses.
STACKS = [name for name in ("httpx", "httpx2") if importlib.util.find_spec(name) is not None]


@pytest.mark.parametrize("stack_name", STACKS)
def test_raw_request_is_unhandled(mode: str, stack_name: str) -> None:
    stack = importlib.import_module(stack_name)
    url = "https://example.com/"
    with pct.SimulatedNetwork() as net:
        with pytest.raises(pct.UnhandledRequest, match=r"GET https://example\.com"):
            if mode == "sync":
                with stack.Client() as client:
                    client.get(url)
            else:

                async def get() -> None:
                    async with stack.AsyncClient() as client:
                        await client.get(url)

                net.run(get())
    assert net.unhandled == [f"GET {url}"]


def test_real_api_key_changes_nothing(call: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_REAL_KEY)
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        message = call(net, api_key=None, timeout=120)  # the key comes from the environment
    assert text_of(message) == FULL_TEXT
    assert message.id.startswith("msg_sim")  # answered by the fake API
    assert len(net.attempts) == 1
    assert net.attempts[0].end == 75.0


def test_gateway_base_url_is_served(call: Any) -> None:
    with pct.SimulatedNetwork() as net:
        message = call(net, base_url="https://gateway.example.com/anthropic")
    assert text_of(message) == FULL_TEXT
    assert [a.url for a in net.attempts] == ["https://gateway.example.com/anthropic/v1/messages"]
    assert net.unhandled == []


def test_base_url_from_the_environment_is_served(call: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://llm-proxy.internal:8080")
    with pct.SimulatedNetwork(pct.ProxyCutoff(idle=30)) as net:
        with pytest.raises(anthropic.InternalServerError):
            call(net, max_retries=0)
    assert [a.url for a in net.attempts] == ["http://llm-proxy.internal:8080/v1/messages"]
    assert net.attempts[0].status == 504
    assert net.unhandled == []


# -- scenario parameters ----------------------------------------------------------------


def test_from_param_number_sets_the_main_parameter() -> None:
    assert pct.SlowPrefill.from_param(20) == pct.SlowPrefill(seconds=20)
    assert pct.ProxyCutoff.from_param(30.5).idle == 30.5
    assert pct.DnsFailure.from_param(2).attempts == 2
    assert pct.StalledStream.from_param(None) == pct.StalledStream()


def test_from_param_dict_sets_named_parameters() -> None:
    cutoff = pct.ProxyCutoff.from_param({"idle": 30, "upstream": 40, "ping_interval": None})
    assert (cutoff.idle, cutoff.upstream, cutoff.ping_interval) == (30, 40, None)
    assert cutoff.status == 504  # the rest keep their defaults


@pytest.mark.parametrize(
    "param, message",
    [
        ("soon", "slow_prefill: expected a number"),
        (True, "slow_prefill: expected a number"),
        ({"secs": 3}, r"slow_prefill: unknown parameter\(s\) \['secs'\]"),
        (-1, "slow_prefill: seconds must be a non-negative number of seconds"),
        (float("nan"), "slow_prefill: seconds must be a non-negative number of seconds"),
    ],
    ids=["string", "bool", "unknown-key", "negative", "nan"],
)
def test_from_param_rejects_bad_values(param: Any, message: str) -> None:
    with pytest.raises(pct.ScenarioError, match=message):
        pct.SlowPrefill.from_param(param)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pct.SlowPrefill(seconds=-5),
        lambda: pct.SlowPrefill(ping_interval=-1),
        lambda: pct.ProxyCutoff(idle=-30),
        lambda: pct.ProxyCutoff(upstream=-1),
        lambda: pct.StalledStream(stall=-0.5),
    ],
    ids=["prefill-seconds", "ping-interval", "cutoff-idle", "cutoff-upstream", "stall"],
)
def test_negative_durations_are_rejected(make: Any) -> None:
    with pytest.raises(pct.ScenarioError, match="must be a non-negative number of seconds"):
        make()


def test_parameters_lock_at_the_first_request(call: Any) -> None:
    with pct.SimulatedNetwork() as net:
        prefill = net.add(pct.SlowPrefill())
        prefill.seconds = 20  # allowed: nothing was sent yet
        message = call(net, timeout=30)
        with pytest.raises(pct.ScenarioError, match="cannot set 'seconds' after the network served its first request"):
            prefill.seconds = 5
    assert text_of(message) == FULL_TEXT
    assert net.elapsed == 20.0
    assert prefill.seconds == 20


def test_scenario_from_spec() -> None:
    scenario = pct.scenario_from_spec("proxy_cutoff:30")
    assert isinstance(scenario, pct.ProxyCutoff)
    assert scenario.idle == 30
    assert scenario.describe() == "proxy_cutoff(idle=30, upstream=75, ping_interval=10, status=504, server='nginx')"
    assert pct.SimulatedNetwork("proxy_cutoff:30").scenarios == [scenario]
    with pytest.raises(pct.ScenarioError, match="unknown scenario 'proxy_cutof'"):
        pct.scenario_from_spec("proxy_cutof:30")
    with pytest.raises(pct.ScenarioError, match="is not a number"):
        pct.scenario_from_spec("proxy_cutoff:soon")


# -- the timeline -----------------------------------------------------------------------


def test_timeline_tells_what_happened(call: Any) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        with pytest.raises(anthropic.APITimeoutError):
            call(net, timeout=60, max_retries=0)
    text = net.timeline()
    assert "scenario: slow_prefill(seconds=75, ping_interval=10)" in text
    assert "attempt 1: 0.000 -> 60.000 s" in text
    assert "timeouts: connect=60 read=60 write=60 pool=60" in text
    assert "ReadTimeout (read timeout 60 s)" in text
