"""Scripted responses with the marker, the fixtures and the fault server: a two-turn
tool-use agent loop under the marker's standard scenarios (sync and async, streaming with
restarts), a per-test responder, and the same script over real sockets."""

from __future__ import annotations

import anthropic
import pytest
from conftest import MSG
from pytester_helpers import inner, run, sync_and_async  # noqa: F401 (inner: a fixture)

import pytest_claude_timeout as pct

AGENT = '''
TOOLS = [{"name": "get_weather", "description": "The weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
TURNS = [
    pct.message("Let me check.", pct.tool_use("get_weather", {"city": "Paris"}, id="toolu_01")),
    "It is sunny in Paris.",
]
TRANSPORT = (anthropic.APIError, stack.TransportError)
'''

LOOP = '''
client = Client(api_key="sk-ant-test", timeout=anthropic.Timeout(120, connect=5))
messages = [{"role": "user", "content": "Weather in Paris?"}]
for turn in range(4):
    for restart in range(3):  # the SDK does not retry a stream that fails mid-body
        try:
            ASYNC with client.messages.stream(model="claude-sonnet-4-6", max_tokens=200, tools=TOOLS, messages=messages) as stream:
                reply = AWAIT stream.get_final_message()
            break
        except TRANSPORT:
            if restart == 2:
                raise
    messages.append({"role": "assistant", "content": [b.to_dict() for b in reply.content]})
    if reply.stop_reason != "tool_use":
        break
    call = next(b for b in reply.content if b.type == "tool_use")
    assert call.input == {"city": "Paris"}
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]})
assert reply.content[0].text == "It is sunny in Paris."
assert turn == 1
'''


def test_a_two_turn_agent_loop_under_the_standard_scenarios(inner: pytest.Pytester) -> None:
    source = AGENT + sync_and_async("agent", "claude_network", LOOP, "@pytest.mark.claude_timeout(respond=TURNS)")
    result = run(inner, source)
    result.assert_outcomes(passed=10)  # 2 tests x the 5 standard scenarios


def test_the_marker_responder_is_fresh_for_each_scenario(inner: pytest.Pytester) -> None:
    source = '''
@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:60", respond=["first", "second"])
def test_two_calls(claude_network):
    client = anthropic.Anthropic(api_key="sk-ant-test", timeout=anthropic.Timeout(120, connect=5))
    with client.messages.stream(**MSG) as stream:
        assert stream.get_final_message().content[0].text == "first"
    with client.messages.stream(**{**MSG, "messages": [{"role": "user", "content": "next"}]}) as stream:
        assert stream.get_final_message().content[0].text == "second"
'''
    run(inner, source).assert_outcomes(passed=2)


def test_a_marker_without_a_reply_is_a_collection_error(inner: pytest.Pytester) -> None:
    source = '''
@pytest.mark.claude_timeout("slow_prefill", respond=None)
def test_bad(claude_network):
    pass
'''
    result = run(inner, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*respond= needs a reply*"])


def test_the_fixture_and_a_scenario_fixture(inner: pytest.Pytester) -> None:
    source = '''
def test_scripted(slow_prefill, claude_network):
    claude_network.respond(pct.message(pct.tool_use("lookup", {"q": "x"})))
    msg = anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
    assert msg.stop_reason == "tool_use" and msg.content[0].input == {"q": "x"}
    assert claude_network.elapsed == 75
'''
    run(inner, source).assert_outcomes(passed=1)


def test_the_fault_server_serves_a_script() -> None:
    scale = 0.01
    turns = [pct.message(pct.tool_use("lookup", {"q": "x"}, id="toolu_9")), "done"]
    with pct.FaultServer("stalled_stream", time_scale=scale, respond=turns) as server:
        client = anthropic.Anthropic(
            base_url=server.base_url, api_key="sk-ant-test", max_retries=0,
            timeout=anthropic.Timeout(20 * scale, connect=5),
        )
        with _raises_transport():
            with client.messages.stream(**MSG) as stream:
                stream.get_final_message()
        with client.messages.stream(**MSG) as stream:  # the restart: the same turn
            first = stream.get_final_message()
        second = client.messages.create(**{**MSG, "messages": [{"role": "user", "content": "next"}]})
        with pytest.raises(anthropic.InternalServerError, match="the script has 2 replies"):
            client.messages.create(**{**MSG, "messages": [{"role": "user", "content": "third"}]})
    assert first.content[0].input == {"q": "x"} and first.content[0].id == "toolu_9"
    assert second.content[0].text == "done"
    assert len(server.errors) == 1


def _raises_transport() -> pytest.RaisesContext:  # type: ignore[type-arg]
    from conftest import http_stack

    return pytest.raises((anthropic.APIError, http_stack().TransportError))


def test_the_engine_takes_an_api_with_a_script() -> None:
    api = pct.FakeApi()
    api.script(lambda request: f"model {request.model}")
    with pct.SimulatedNetwork(api=api):
        msg = anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)
    assert msg.content[0].text == "model claude-sonnet-4-6"


def test_serve_answers_with_a_recorded_reply() -> None:
    import signal
    import subprocess
    import sys
    from pathlib import Path

    recording = Path(__file__).parent / "data" / "tool_use_stream.sse"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_claude_timeout", "serve", "--scenario", "stalled_stream:30", "--reply", str(recording)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0, timeout=anthropic.Timeout(1.2, connect=5))
        with client.messages.stream(**MSG) as stream:
            final = stream.get_final_message()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert final.content[1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert proc.returncode == 0, err
    assert "stream stalled" in err
