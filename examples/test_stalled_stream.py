"""stalled_stream: the first stream sends two text deltas, then nothing, forever, on an
open connection. The SDK does not retry a stream once its response has started."""

import anthropic
import pytest

import app

KEY = "sk-ant-test"


def test_resilient_stream_restarts_after_a_stall(stalled_stream, claude_network):
    summary = app.stream_summary(app.make_client(api_key=KEY), "A long document ...")

    assert summary
    first, second = claude_network.attempts
    assert first.error == "ReadTimeout"  # the 120 s read timeout noticed the stall
    assert first.end == 120
    assert second.error is None  # the restarted stream completed


@pytest.mark.asyncio
async def test_async_resilient_stream_restarts_after_a_stall(stalled_stream, claude_network):
    # async tests run on a virtual-time event loop (the plugin switches looptime on)
    summary = await app.astream_summary(app.make_async_client(api_key=KEY), "A long document ...")

    assert summary
    assert [a.error for a in claude_network.attempts] == ["ReadTimeout", None]
    assert claude_network.elapsed == 120


def test_naive_stream_lets_the_raw_read_timeout_escape(stalled_stream, claude_network):
    # stream_summary_naive catches anthropic.APIError only: the mid-stream timeout is
    # httpx2.ReadTimeout (httpx.ReadTimeout on anthropic 0.x), which is not one.
    with pytest.raises(app.http_stack().ReadTimeout) as info:
        app.stream_summary_naive(app.make_client(api_key=KEY), "A long document ...")

    assert not isinstance(info.value, anthropic.APIError)
    assert len(claude_network.attempts) == 1  # and the SDK did not retry it


@pytest.mark.parametrize("stalled_stream", [{"stall": 90}], indirect=True)
def test_a_pause_shorter_than_the_read_timeout_is_harmless(stalled_stream, claude_network):
    assert app.stream_summary_naive(app.make_client(api_key=KEY), "A long document ...")
    assert len(claude_network.attempts) == 1
    assert claude_network.elapsed == 90
