"""slow_prefill: the API thinks for 75 s before the first byte (a long prompt's prefill).

A non-streaming call gets nothing at all for 75 s, so its read timeout must be larger.
A stream gets its headers at once and a ``ping`` every 10 s while it waits.
"""

import anthropic
import pytest

import app

KEY = "sk-ant-test"  # never a real key: nothing leaves the machine under the plugin


def test_app_configuration_survives_slow_prefill(slow_prefill, claude_network):
    summary = app.summarize(app.make_client(api_key=KEY), "A long document ...")

    assert summary
    assert len(claude_network.attempts) == 1  # no retry was needed
    assert claude_network.elapsed == 75  # virtual seconds; the test took milliseconds


def test_a_60_s_timeout_fails_three_times(slow_prefill, claude_network):
    client = app.make_client(api_key=KEY, timeout=60)

    with pytest.raises(anthropic.APITimeoutError):
        app.summarize(client, "A long document ...")

    # the SDK tried 3 times (max_retries=2), each attempt cut at 60 s by the read timeout
    assert [a.error for a in claude_network.attempts] == ["ReadTimeout"] * 3
    assert claude_network.elapsed > 180


def test_streaming_keeps_the_read_timeout_fed(slow_prefill, claude_network):
    # pings every 10 s: a stream survives even a 60 s read timeout
    client = app.make_client(api_key=KEY, timeout=60)

    assert app.stream_summary(client, "A long document ...")
    (attempt,) = claude_network.attempts
    assert attempt.error is None
    assert attempt.delivered.count("ping") >= 7  # one every 10 s of the 75 s wait


@pytest.mark.parametrize("slow_prefill", [30, 90, 119], indirect=True)
def test_prefill_durations_within_the_timeout(slow_prefill, claude_network):
    # indirect parametrization: a number sets the scenario's main parameter (seconds)
    assert app.summarize(app.make_client(api_key=KEY), "A long document ...")
    assert claude_network.elapsed == slow_prefill.seconds


def test_a_prefill_longer_than_the_timeout(slow_prefill, claude_network):
    # parameters can change until the first request
    slow_prefill.seconds = 150

    with pytest.raises(anthropic.APITimeoutError):
        app.summarize(app.make_client(api_key=KEY), "A very long document ...")
    assert len(claude_network.attempts) == 3
