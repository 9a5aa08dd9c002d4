"""@pytest.mark.claude_timeout: one test, run once per scenario, judged, and explained
when it fails. The session ends with a matrix of tests x scenarios.

The app's configuration (``app.make_client()``: 120 s read timeout, 5 s connect, streaming
with restarts) survives every standard scenario. The tests with ``expect=`` state how
naive configurations fail; they pass because the failure is the one stated. To read the
failure report of the SDK's defaults, run ``pytest examples --runxfail -k sdk_defaults``.
"""

import anthropic
import pytest

import app
from pytest_claude_timeout import DnsFailure

KEY = "sk-ant-test"
TEXT = "A long document ..."


@pytest.mark.claude_timeout  # the standard set: slow prefill, stalled stream, proxy cutoffs at 30 s and 60 s, DNS failure
def test_the_app_survives_every_standard_scenario(claude_network):
    assert app.stream_summary(app.make_client(api_key=KEY), TEXT)


@pytest.mark.claude_timeout
async def test_the_async_app_survives_every_standard_scenario(claude_network):
    # an async test needs no asyncio marker of its own: the claude_timeout marker adds it
    assert await app.astream_summary(app.make_async_client(api_key=KEY), TEXT)


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", "proxy_cutoff:60", budget=80)
def test_the_pings_keep_one_stream_alive(claude_network):
    # the marker and the network compose: the test reads what happened
    assert app.stream_summary(app.make_client(api_key=KEY), TEXT)
    assert len(claude_network.attempts) == 1  # no restart, no retry
    assert claude_network.elapsed == 75  # the prefill, within the 80 s budget


@pytest.mark.claude_timeout(DnsFailure(attempts=None), expect=anthropic.APIConnectionError, budget=10)
def test_without_dns_the_app_fails_fast_and_cleanly(claude_network):
    # a permanent DNS failure: an SDK error (not a raw httpx2 one) after the SDK's retries, within 10 s
    app.summarize(app.make_client(api_key=KEY), TEXT)


@pytest.mark.claude_timeout("proxy_cutoff:30", "proxy_cutoff:60", expect=anthropic.InternalServerError)
def test_non_streaming_behind_a_proxy_gets_its_504(claude_network):
    # Without expect=, the report's diagnosis says: "read timeout 120 s exceeds the proxy's
    # 30 s idle cutoff: a non-streaming call longer than 30 s gets 504 from the proxy, on
    # every attempt (3 of 3). Stream the response ... or keep the call under 30 s."
    app.summarize(app.make_client(api_key=KEY), TEXT)


@pytest.mark.claude_timeout("stalled_stream", expect=app.http_stack().ReadTimeout, budget=600)
def test_a_naive_stream_lets_the_raw_read_timeout_escape(claude_network):
    # The SDK's defaults wait 600 s for the stalled stream, then httpx2.ReadTimeout (httpx on
    # anthropic 0.x) escapes: stream_summary_naive catches anthropic.APIError only. With
    # expect=anthropic.APIError the verdict would be "raw HTTP error".
    app.stream_summary_naive(anthropic.Anthropic(api_key=KEY), TEXT)


@pytest.mark.xfail(strict=True, reason="the SDK's defaults fail here; --runxfail shows the failure reports")
@pytest.mark.claude_timeout("proxy_cutoff:60", "stalled_stream")
def test_sdk_defaults(claude_network):
    client = anthropic.Anthropic(api_key=KEY)  # Timeout(600, connect=5), max_retries=2
    app.summarize(client, TEXT)
    app.stream_summary_naive(client, TEXT)
