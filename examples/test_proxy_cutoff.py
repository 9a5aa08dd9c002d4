"""proxy_cutoff: a proxy between the app and the API (nginx, a load balancer) closes
connections that stay idle for ``idle`` seconds; the API behind it needs 75 s."""

import anthropic
import pytest

import app

KEY = "sk-ant-test"


@pytest.mark.parametrize("proxy_cutoff", [30, 60], indirect=True)
def test_streaming_survives_the_proxy(proxy_cutoff, claude_network):
    # the stream's pings (every 10 s) keep the connection busy: the proxy never cuts it
    summary = app.stream_summary(app.make_client(api_key=KEY), "A long document ...")

    assert summary
    assert len(claude_network.attempts) == 1
    assert claude_network.elapsed == 75


@pytest.mark.parametrize("proxy_cutoff", [30, 60], indirect=True)
def test_non_streaming_gets_the_proxys_504(proxy_cutoff, claude_network):
    # nothing comes back for 75 s: the proxy answers 504 at its cutoff, three times
    with pytest.raises(anthropic.InternalServerError) as info:
        app.summarize(app.make_client(api_key=KEY), "A long document ...")

    assert info.value.status_code == 504
    assert [a.status for a in claude_network.attempts] == [504, 504, 504]
    assert claude_network.attempts[0].end == proxy_cutoff.idle


@pytest.mark.parametrize("proxy_cutoff", [{"idle": 30, "ping_interval": None}], indirect=True)
def test_a_silent_stream_is_cut_mid_body(proxy_cutoff, claude_network):
    # a dict sets any parameters: here an upstream that sends no pings while it thinks.
    # The proxy closes the stream after its headers, on every try: the app restarts it
    # twice, then gives up with the HTTP stack's raw error (not an anthropic.APIError).
    with pytest.raises(app.http_stack().RemoteProtocolError, match="incomplete chunked read"):
        app.stream_summary(app.make_client(api_key=KEY), "A long document ...")

    assert [a.error for a in claude_network.attempts] == ["RemoteProtocolError"] * 3
