"""Scripted responses against the real SDK, sync and async, streaming and not: each form
of reply, successive replies and retries, callables that read the request, the defaults
for forced tools and structured output, recorded responses, and a stream that stalls in
the middle of a tool call's input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR, http_stack

import pytest_claude_timeout as pct
from pytest_claude_timeout.api.responders import ScriptError

DATA = Path(__file__).parent / "data"
KEY = "sk-ant-test"
KINDS = ("create", "stream")


def ask(net: pct.SimulatedNetwork, mode: str, kind: str, **overrides: Any) -> Any:
    """One Messages call with the real client; returns the Message (a stream's final one)."""
    args = {**MSG, **overrides}
    timeout = anthropic.Timeout(30, connect=5)
    if mode == "sync":
        client = anthropic.Anthropic(api_key=KEY, timeout=timeout)
        if kind == "create":
            return client.messages.create(**args)
        with client.messages.stream(**args) as stream:
            return stream.get_final_message()

    async def go() -> Any:
        client = anthropic.AsyncAnthropic(api_key=KEY, timeout=timeout)
        if kind == "create":
            return await client.messages.create(**args)
        async with client.messages.stream(**args) as stream:
            return await stream.get_final_message()

    return net.run(go())


def plain(msg: Any) -> dict[str, Any]:
    """A Message as JSON, without what only the streaming helper adds (``parsed_output``)."""
    data = json.loads(msg.to_json())
    for block in data["content"]:
        block.pop("parsed_output", None)
    return data


WEATHER = pct.tool_use("get_weather", {"city": "Paris", "days": 3, "units": ["c", "f"]}, id="toolu_01")

FORMS: dict[str, tuple[Any, dict[str, Any]]] = {
    # form -> (the reply, what the Message must hold)
    "text": ("Bonjour.", {"content": [{"type": "text", "text": "Bonjour."}], "stop_reason": "end_turn"}),
    "tool_use": (pct.message("Let me look.", WEATHER), {"content": [{"type": "text", "text": "Let me look."}, WEATHER], "stop_reason": "tool_use"}),
    "thinking": (
        pct.message(pct.thinking("First, the weather.", signature="sig-1"), pct.redacted_thinking("b3BhcXVl"), "Sunny."),
        {"content": [{"type": "thinking", "thinking": "First, the weather.", "signature": "sig-1"}, {"type": "redacted_thinking", "data": "b3BhcXVl"}, {"type": "text", "text": "Sunny."}]},
    ),
    "max_tokens": (pct.message("It was a dark and", stop_reason="max_tokens"), {"stop_reason": "max_tokens"}),
    "refusal": (pct.message(stop_reason="refusal"), {"content": [], "stop_reason": "refusal"}),
    "usage": (pct.message("ok", usage={"input_tokens": 1234, "output_tokens": 56, "cache_read_input_tokens": 1000}), {"usage": {"input_tokens": 1234, "output_tokens": 56, "cache_read_input_tokens": 1000}}),
    "dict": (
        {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-opus-4-5", "content": [{"type": "text", "text": "As a dict."}], "stop_reason": "stop_sequence", "stop_sequence": "###", "usage": {"input_tokens": 3, "output_tokens": 4}},
        {"id": "msg_01", "model": "claude-opus-4-5", "stop_reason": "stop_sequence", "stop_sequence": "###"},
    ),
    "block": ({"type": "tool_use", "id": "toolu_02", "name": "search", "input": {"q": "timeouts"}}, {"stop_reason": "tool_use"}),
}


def _contains(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if isinstance(value, dict):
            assert {k: actual[key].get(k) for k in value} == value, key
        elif key == "content":
            assert [{k: b.get(k) for k in e} for b, e in zip(actual[key], value)] == value
            assert len(actual[key]) == len(value)
        else:
            assert actual[key] == value, key


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_streamed_and_not(form: str, mode: str) -> None:
    reply, expected = FORMS[form]
    with pct.SimulatedNetwork(respond=[reply, reply]) as net:
        created = ask(net, mode, "create")
        streamed = ask(net, mode, "stream")
    _contains(plain(created), expected)
    assert {**plain(streamed), "id": ""} == {**plain(created), "id": ""}  # the stream adds up to the same Message
    assert [a.stream for a in net.attempts] == [False, True]


def test_an_sdk_message_object(mode: str) -> None:
    reply = anthropic.types.Message(
        id="msg_obj", type="message", role="assistant", model="claude-haiku-4-5",
        content=[anthropic.types.TextBlock(type="text", text="From an object.")],
        stop_reason="end_turn", stop_sequence=None,
        usage=anthropic.types.Usage(input_tokens=7, output_tokens=3),
    )
    with pct.SimulatedNetwork(respond=lambda request: reply) as net:
        created = ask(net, mode, "create")
        streamed = ask(net, mode, "stream")
    assert created.id == "msg_obj" and created.content[0].text == "From an object."
    assert plain(streamed) == plain(created)


def test_the_stream_has_the_real_apis_events() -> None:
    reply = pct.message(pct.thinking("hmm " * 3, signature="sig"), WEATHER)
    with pct.SimulatedNetwork(respond=reply) as net:
        client = anthropic.Anthropic(api_key=KEY)
        events = list(client.messages.create(**MSG, stream=True))
    kinds = [e.type if e.type != "content_block_delta" else e.delta.type for e in events]
    assert kinds[:3] == ["message_start", "content_block_start", "thinking_delta"]  # the SDK drops pings
    assert net.attempts[0].delivered[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds.count("thinking_delta") == 3 and kinds.count("signature_delta") == 1
    assert kinds.index("signature_delta") < kinds.index("content_block_stop")
    partial = [e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert partial[0] == "" and len(partial) > 3  # the API's first input delta is empty
    assert json.loads("".join(partial)) == WEATHER["input"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert net.attempts[0].delivered.count("ping") == 1


def test_successive_replies_and_a_retry_gets_the_same_one(mode: str) -> None:
    # The first attempt of turn 1 gets a 529; the SDK retries it: the retry is still turn 1.
    with pct.SimulatedNetwork(pct.Overloaded(attempts=1), respond=["turn 1", "turn 2"]) as net:
        first = ask(net, mode, "create")
        second = ask(net, mode, "create", messages=[{"role": "user", "content": "again"}])
        with pytest.raises(ScriptError, match="the script has 2 replies and the client made call 3"):
            ask(net, mode, "create", messages=[{"role": "user", "content": "a third"}])
    assert [first.content[0].text, second.content[0].text] == ["turn 1", "turn 2"]
    assert [a.status for a in net.attempts[:3]] == [529, 200, 200]


def test_a_callable_reads_the_request(mode: str) -> None:
    seen: list[pct.ApiRequest] = []

    def responder(request: pct.ApiRequest) -> Any:
        seen.append(request)
        return f"{len(request.messages)} turn(s), system {request.system!r}, tools {[t['name'] for t in request.tools]}"

    tools = [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {}}}]
    with pct.SimulatedNetwork() as net:
        net.respond(responder)
        msg = ask(net, mode, "stream", system="Be brief.", tools=tools, tool_choice={"type": "auto"}, extra_headers={"x-trace": "t-1"})
    assert msg.content[0].text == "1 turn(s), system 'Be brief.', tools ['lookup']"
    assert seen[0].tool_choice == {"type": "auto"} and seen[0].headers["x-trace"] == "t-1"
    assert seen[0].stream and not seen[0].retry


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_stalls_in_the_middle_of_a_tool_calls_input(mode: str, kind: str) -> None:
    # The stall falls after the 3rd content_block_delta: the 3rd input_json_delta of the
    # tool call (the text block has none here). The client's read timeout ends the
    # attempt; the SDK does not retry a stream that failed mid-body, the app does.
    reply = pct.message(WEATHER)
    with pct.SimulatedNetwork(pct.StalledStream(deltas=3), respond=reply) as net:
        client_timeout = anthropic.Timeout(20, connect=5)
        client = anthropic.Anthropic(api_key=KEY, timeout=client_timeout)
        if mode == "sync":
            with pytest.raises(http_stack().ReadTimeout):
                with client.messages.stream(**MSG) as stream:
                    for _ in stream:
                        pass
        else:
            async def go() -> None:
                aclient = anthropic.AsyncAnthropic(api_key=KEY, timeout=client_timeout)
                async with aclient.messages.stream(**MSG) as stream:
                    async for _ in stream:
                        pass

            with pytest.raises(http_stack().ReadTimeout):
                net.run(go())
        again = ask(net, mode, "stream")  # the restart: a new stream, healthy, the same reply
    stalled = net.attempts[0]
    assert stalled.error == "ReadTimeout" and stalled.end == pytest.approx(20)
    assert stalled.delivered == ["message_start", "content_block_start", "ping", *["content_block_delta"] * 3]
    assert again.content[0].input == WEATHER["input"]
    assert net.attempts[1].phase == "done"


# -- defaults: forced tools and structured output ----------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "kind": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
    },
    "required": ["name", "age", "kind", "tags", "zip"],
    "additionalProperties": False,
}


def _valid(value: Any) -> None:
    import jsonschema

    jsonschema.validate(value, SCHEMA)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("choice", [{"type": "tool", "name": "record"}, {"type": "any"}])
def test_a_forced_tool_gets_a_schema_valid_call(mode: str, kind: str, choice: dict[str, Any]) -> None:
    tools = [{"name": "record", "description": "Record a person", "input_schema": SCHEMA}]
    with pct.SimulatedNetwork() as net:
        msg = ask(net, mode, kind, tools=tools, tool_choice=choice)
        again = ask(net, mode, kind, tools=tools, tool_choice=choice)
    call = msg.content[0]
    assert msg.stop_reason == "tool_use" and call.type == "tool_use" and call.name == "record"
    _valid(call.input)
    assert again.content[0].input == call.input  # the same schema, the same example


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_gets_schema_valid_json(mode: str, kind: str) -> None:
    extra = {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}
    with pct.SimulatedNetwork() as net:
        msg = ask(net, mode, kind, extra_body=extra)
    _valid(json.loads(msg.content[0].text))


@pytest.mark.skipif(SDK_MAJOR < 1, reason="messages.parse(output_format=...) is in the newer SDK line")
def test_the_sdks_parse_helper_gets_a_valid_object() -> None:
    import pydantic

    class Person(pydantic.BaseModel):
        name: str
        age: int

    with pct.SimulatedNetwork():
        parsed = anthropic.Anthropic(api_key=KEY).messages.parse(**MSG, output_format=Person).parsed_output
    assert isinstance(parsed, Person)


def test_the_beta_structured_output_shape_is_read() -> None:
    body = {"output_format": {"type": "json_schema", "schema": SCHEMA}}
    request = pct.ApiRequest("POST", "https://api.anthropic.com/v1/messages", "/v1/messages", body)
    assert request.output_schema == SCHEMA


# -- recorded responses --------------------------------------------------------------------

RECORDINGS = ["tool_use_stream.sse", "text_message.json"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", RECORDINGS)
def test_a_recording_is_served(mode: str, kind: str, name: str) -> None:
    recording = pct.recorded(DATA / name)
    with pct.SimulatedNetwork(respond=recording) as net:
        msg = ask(net, mode, kind)
    assert plain(msg)["content"] == recording.message["content"]
    assert msg.id == recording.message["id"]
    if kind == "stream" and recording.events:
        assert net.attempts[0].delivered == [event for event, _ in recording.events]


@pytest.mark.parametrize(
    "scenario",
    ["slow_prefill", "stalled_stream:30", "proxy_cutoff:30", "truncated_stream"],
)
def test_a_recorded_stream_under_scenarios(scenario: str) -> None:
    # The scenario's stall or cut falls between the recorded events.
    recording = pct.recorded(DATA / "tool_use_stream.sse")
    with pct.SimulatedNetwork(scenario, respond=recording) as net:
        client = anthropic.Anthropic(api_key=KEY, timeout=anthropic.Timeout(120, connect=5))
        try:
            with client.messages.stream(**MSG) as stream:
                final = stream.get_final_message()
        except (anthropic.APIError, http_stack().TransportError):
            final = None
    first = net.attempts[0]
    recorded_names = [name for name, _ in recording.events if name != "ping"]
    delivered = [d for d in first.delivered if d != "ping"]  # slow_prefill adds its own pings
    assert delivered == recorded_names[: len(delivered)]
    if scenario == "truncated_stream":  # the stream ends early, without message_stop
        assert 0 < len(delivered) < len(recorded_names)
    else:
        assert final is not None and plain(final)["content"] == recording.message["content"]
    if scenario.startswith("stalled"):
        assert any("stream stalled" in event.text for event in first.events)
        assert delivered[:4] == ["message_start", "content_block_start", "content_block_delta", "content_block_delta"]
    assert not math.isnan(net.elapsed)


def test_a_responder_that_fails_is_a_harness_fault_the_sdk_cannot_retry(mode: str) -> None:
    def broken(request: pct.ApiRequest) -> Any:
        raise KeyError("no such turn")

    with pct.SimulatedNetwork(respond=broken) as net:
        with pytest.raises(ScriptError, match="KeyError"):
            ask(net, mode, "create")
    assert len(net.attempts) == 1  # not retried as a connection error
    with pct.SimulatedNetwork(respond=[42]) as net:
        with pytest.raises(pct.SimulationError, match="not 42"):
            ask(net, mode, "stream")
