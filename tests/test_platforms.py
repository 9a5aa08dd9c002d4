"""The cloud platforms' clients (AnthropicVertex, AnthropicBedrock, AnthropicFoundry) and
the other endpoints (count_tokens, models, batches, beta) under slow_prefill,
stalled_stream and proxy_cutoff, sync and async, streaming and not, on the real SDK.

No cloud credentials: Vertex gets ``access_token=`` (no google-auth lookup), Bedrock an API
key (``api_key=``, sent as a bearer token: no AWS signing), Foundry an ``api_key``. Bedrock's
streams are AWS event-stream messages, decoded by botocore as in production."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR, http_stack

import pytest_claude_timeout as pct

PLATFORMS = ("anthropic", "vertex", "bedrock", "foundry")
SCENARIOS = ("slow_prefill", "stalled_stream", "proxy_cutoff")
REPLY = pct.message("Cloudy.", pct.tool_use("get_weather", {"city": "Oslo", "days": [1, 2, 3]}, id="toolu_p"))
TIMEOUT = anthropic.Timeout(120, connect=5)


def make_client(platform: str, mode: str) -> Any:
    asynchronous = mode == "async"
    if platform == "vertex":
        cls: Any = anthropic.AsyncAnthropicVertex if asynchronous else anthropic.AnthropicVertex
        return cls(region="us-east5", project_id="test-project", access_token="ya29.test", timeout=TIMEOUT)
    if platform == "bedrock":
        pytest.importorskip("botocore")  # the SDK's bedrock extra: its event-stream decoder
        cls = anthropic.AsyncAnthropicBedrock if asynchronous else anthropic.AnthropicBedrock
        return cls(aws_region="us-east-1", api_key="bedrock-test-key", timeout=TIMEOUT)
    if platform == "foundry":
        cls = anthropic.AsyncAnthropicFoundry if asynchronous else anthropic.AnthropicFoundry
        return cls(resource="example-resource", api_key="foundry-test-key", timeout=TIMEOUT)
    cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    return cls(api_key="sk-ant-test", timeout=TIMEOUT)


def call(net: pct.SimulatedNetwork, platform: str, mode: str, kind: str, restarts: int = 2) -> Any:
    """A Messages call (a stream is restarted when it fails mid-body, as an app does)."""
    client = make_client(platform, mode)
    failures = (anthropic.APIError, http_stack().TransportError)

    def sync() -> Any:
        for attempt in range(restarts + 1):
            try:
                if kind == "create":
                    return client.messages.create(**MSG)
                with client.messages.stream(**MSG) as stream:
                    return stream.get_final_message()
            except failures:
                if kind == "create" or attempt == restarts:
                    raise
        raise AssertionError("unreachable")

    async def go() -> Any:
        for attempt in range(restarts + 1):
            try:
                if kind == "create":
                    return await client.messages.create(**MSG)
                async with client.messages.stream(**MSG) as stream:
                    return await stream.get_final_message()
            except failures:
                if kind == "create" or attempt == restarts:
                    raise
        raise AssertionError("unreachable")

    return sync() if mode == "sync" else net.run(go())


@pytest.mark.parametrize("kind", ["create", "stream"])
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_under_scenario(platform: str, scenario: str, kind: str, mode: str) -> None:
    with pct.SimulatedNetwork(scenario, respond=REPLY) as net:
        if scenario == "proxy_cutoff" and kind == "create":
            # 75 s upstream behind a 60 s idle cutoff: the proxy's 504, on every attempt. The
            # 0.x line's Vertex client maps a 504 to its own DeadlineExceededError.
            with pytest.raises(anthropic.APIStatusError) as info:
                call(net, platform, mode, kind)
            if platform == "vertex" and SDK_MAJOR < 1:
                assert type(info.value).__name__ == "DeadlineExceededError"
            else:  # (the newer line: its GatewayTimeoutError subclass)
                assert isinstance(info.value, anthropic.InternalServerError)
            assert [a.status for a in net.attempts] == [504, 504, 504]
            return
        msg = call(net, platform, mode, kind)
    assert msg.content[0].text == "Cloudy." and msg.content[1].input == {"city": "Oslo", "days": [1, 2, 3]}
    first = net.attempts[0]
    assert first.stream == (kind == "stream")
    if scenario == "stalled_stream" and kind == "stream":
        assert first.error == "ReadTimeout" and first.end == pytest.approx(120)  # the read timeout, then a restart
        assert net.attempts[1].phase == "done"
    elif scenario in ("slow_prefill", "proxy_cutoff"):
        assert len(net.attempts) == 1 and net.elapsed == pytest.approx(75)  # pings keep a stream alive
    expected_path = {
        "anthropic": "/v1/messages",
        "foundry": "/anthropic/v1/messages",
        "vertex": ":streamRawPredict" if kind == "stream" else ":rawPredict",
        "bedrock": "/invoke-with-response-stream" if kind == "stream" else "/invoke",
    }[platform]
    assert first.url.endswith(expected_path)


def test_bedrock_streams_aws_event_stream_frames() -> None:
    botocore_eventstream = pytest.importorskip("botocore.eventstream")
    seen: list[bytes] = []

    def tap(request: pct.ApiRequest) -> Any:
        assert request.platform == "bedrock" and request.stream and request.model == "claude-sonnet-4-6"
        assert "stream" not in request.body and "anthropic_version" in request.body  # the path says it streams
        return REPLY

    with pct.SimulatedNetwork(respond=tap) as net:
        client = make_client("bedrock", "sync")
        response = client.messages.create(**MSG, stream=True).response
        assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
        for chunk in response.iter_bytes():
            seen.append(chunk)
    buffer = botocore_eventstream.EventStreamBuffer()
    buffer.add_data(b"".join(seen))
    frames = list(buffer)
    assert [f.headers[":message-type"] for f in frames] == ["event"] * len(frames)
    events = [json.loads(base64.b64decode(json.loads(f.payload)["bytes"])) for f in frames]
    assert [e["type"] for e in events][:3] == ["message_start", "content_block_start", "ping"]
    assert events[-1]["type"] == "message_stop"
    assert len(frames) == len(net.attempts[-1].delivered)  # one frame per event


@pytest.mark.parametrize("platform", ["anthropic", "bedrock"])
def test_a_truncated_stream_is_cut_in_a_frame(platform: str) -> None:
    with pct.SimulatedNetwork("truncated_stream", respond=REPLY) as net:
        client = make_client(platform, "sync")
        try:
            with client.messages.stream(**MSG) as stream:
                for _ in stream:
                    pass
        except (anthropic.APIError, http_stack().TransportError):
            pass
    assert "message_stop" not in net.attempts[0].delivered


def test_an_overloaded_bedrock_stream_raises_the_sdks_error() -> None:
    # The in-stream error event becomes an event-stream exception message. The newer SDK's
    # decoder turns it back into an error event (the SDK raises its APIStatusError); the
    # 0.x line's decoder raises a bare ValueError ("Bad response code, expected 200").
    expected: Any = (anthropic.APIStatusError, "Overloaded") if SDK_MAJOR >= 1 else (ValueError, "Bad response code")
    with pct.SimulatedNetwork(pct.Overloaded(where="stream"), respond=REPLY) as net:
        client = make_client("bedrock", "sync")
        with pytest.raises(expected[0], match=expected[1]):
            with client.messages.stream(**MSG) as stream:
                for _ in stream:
                    pass
    assert net.attempts[0].delivered[-1] == "error"


# -- other endpoints -------------------------------------------------------------------------


def _endpoints(client: Any) -> dict[str, Any]:
    batch = client.messages.batches.create(requests=[{"custom_id": "one", "params": MSG}])
    return {
        "count_tokens": client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"]).input_tokens,
        "models": [m.id for m in client.models.list()],
        "model": client.models.retrieve("claude-haiku-4-5").display_name,
        "batch": batch.processing_status,
        "retrieved": client.messages.batches.retrieve(batch.id).processing_status,
        "results": [(r.custom_id, r.result.type, r.result.message.content[0].text) for r in client.messages.batches.results(batch.id)],
        "beta": client.beta.messages.create(**MSG, betas=["token-efficient-tools-2025-02-19"]).content[0].text,
        "beta_tokens": client.beta.messages.count_tokens(model=MSG["model"], messages=MSG["messages"]).input_tokens,
    }


async def _aendpoints(client: Any) -> dict[str, Any]:
    batch = await client.messages.batches.create(requests=[{"custom_id": "one", "params": MSG}])
    results = [(r.custom_id, r.result.type, r.result.message.content[0].text) async for r in await client.messages.batches.results(batch.id)]
    return {
        "count_tokens": (await client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"])).input_tokens,
        "models": [m.id async for m in client.models.list()],
        "model": (await client.models.retrieve("claude-haiku-4-5")).display_name,
        "batch": batch.processing_status,
        "retrieved": (await client.messages.batches.retrieve(batch.id)).processing_status,
        "results": results,
        "beta": (await client.beta.messages.create(**MSG, betas=["token-efficient-tools-2025-02-19"])).content[0].text,
        "beta_tokens": (await client.beta.messages.count_tokens(model=MSG["model"], messages=MSG["messages"])).input_tokens,
    }


@pytest.mark.parametrize("scenario", ["slow_prefill", "stalled_stream"])
def test_the_other_endpoints(scenario: str, mode: str) -> None:
    with pct.SimulatedNetwork(scenario, respond=lambda request: "scripted") as net:
        client = make_client("anthropic", mode)
        got = _endpoints(client) if mode == "sync" else net.run(_aendpoints(client))
    assert got["count_tokens"] > 0 and got["beta_tokens"] > 0
    assert "claude-sonnet-4-6" in got["models"] and got["model"] == "Claude Haiku 4.5"
    assert (got["batch"], got["retrieved"]) == ("in_progress", "ended")
    assert got["results"] == [("one", "succeeded", "scripted")]
    assert got["beta"] == "scripted"
    if scenario == "slow_prefill":  # every call waited: a slow count_tokens is real
        assert net.elapsed == pytest.approx(75 * len(net.attempts))
    assert all(a.phase == "done" for a in net.attempts)


@pytest.mark.parametrize("call_name", ["count_tokens", "models.list"])
def test_an_endpoint_behind_a_proxy_gets_its_504(call_name: str, mode: str) -> None:
    with pct.SimulatedNetwork("proxy_cutoff") as net:
        client = make_client("anthropic", mode)

        async def go() -> Any:
            if call_name == "count_tokens":
                return await client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"])
            return await client.models.list()

        with pytest.raises(anthropic.InternalServerError):
            if mode == "sync":
                if call_name == "count_tokens":
                    client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"])
                else:
                    client.models.list()
            else:
                net.run(go())
    assert [a.status for a in net.attempts] == [504, 504, 504]


def test_vertex_counts_tokens_under_a_slow_prefill(mode: str) -> None:
    with pct.SimulatedNetwork("slow_prefill") as net:
        client = make_client("vertex", mode)
        if mode == "sync":
            counted = client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"])
        else:
            counted = net.run(client.messages.count_tokens(model=MSG["model"], messages=MSG["messages"]))
    assert counted.input_tokens > 0
    assert net.attempts[0].url.endswith("/models/count-tokens:rawPredict") and net.elapsed == 75


def test_the_fault_server_serves_the_endpoints_and_bedrock() -> None:
    pytest.importorskip("botocore")
    scale = 0.01
    with pct.FaultServer("slow_prefill", time_scale=scale, respond=REPLY) as server:
        timeout = anthropic.Timeout(120 * scale, connect=5)
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-test", timeout=timeout)
        assert "claude-sonnet-4-6" in [m.id for m in client.models.list()]
        bedrock = anthropic.AnthropicBedrock(aws_region="us-east-1", api_key="k", base_url=server.base_url, timeout=timeout)
        with bedrock.messages.stream(**MSG) as stream:
            assert stream.get_final_message().content[1].input == {"city": "Oslo", "days": [1, 2, 3]}
    assert server.unhandled == []
    assert server.attempts[-1].url.endswith("/invoke-with-response-stream")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_platform_clients_share_the_sdks_defaults(platform: str) -> None:
    # What the catalog states: no platform client of the Python SDK changes the timeouts
    # or the retries (600 s read timeout, 2 retries), unlike boto3's bedrock-runtime client.
    with pct.SimulatedNetwork(pct.Overloaded(attempts=None), respond=REPLY) as net:
        client = make_client(platform, "sync").with_options(timeout=anthropic.DEFAULT_TIMEOUT)
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(**MSG)
    assert [a.status for a in net.attempts] == [529, 529, 529]
    assert {a.timeouts.read for a in net.attempts} == {600}
