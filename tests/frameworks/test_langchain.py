"""LangChain (langchain-anthropic's ChatAnthropic) on the plugin's network: calls, streams,
.batch() on its thread pool, structured output, tool calls, and both retry layers (the
SDK's max_retries, which ChatAnthropic passes down, and LangChain's own with_retry())."""

from __future__ import annotations

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage
from pydantic import BaseModel

import pytest_claude_timeout as pct

MODEL = "claude-sonnet-4-6"
STACK = "httpx2" if int(anthropic.__version__.split(".")[0]) >= 1 else "httpx"


class City(BaseModel):
    name: str
    population: int


def test_invoke_names_langchain_over_the_sdk(claude_network: pct.SimulatedNetwork) -> None:
    answer = ChatAnthropic(model=MODEL, timeout=60).invoke("hi")

    assert isinstance(answer, AIMessage) and answer.content == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None
    assert attempt.sender.sdk == anthropic.__version__ and attempt.sender.stack == STACK
    assert [layer.split()[0] for layer in attempt.sender.layers] == ["langchain-core", "langchain-anthropic"]
    assert attempt.sender.describe().startswith("langchain-core ")
    assert f"> anthropic {anthropic.__version__} (sync) on {STACK} " in attempt.sender.describe()


def test_slow_prefill_is_retried_by_the_sdk_in_virtual_time(slow_prefill, claude_network) -> None:
    llm = ChatAnthropic(model=MODEL, timeout=60, max_retries=2)  # passed down to the SDK client

    with pytest.raises(anthropic.APITimeoutError):
        llm.invoke("hi")

    assert [a.retry_count for a in claude_network.attempts] == [0, 1, 2]
    assert [a.error for a in claude_network.attempts] == ["ReadTimeout"] * 3
    assert 180 < claude_network.elapsed < 185  # three read timeouts and the SDK's backoff, virtual


def test_with_retry_is_langchains_own_layer(slow_prefill, claude_network) -> None:
    llm = ChatAnthropic(model=MODEL, timeout=30, max_retries=0).with_retry(
        retry_if_exception_type=(anthropic.APITimeoutError,), stop_after_attempt=3
    )

    with pytest.raises(anthropic.APITimeoutError):
        llm.invoke("hi")

    attempts = claude_network.attempts
    assert [a.retry_count for a in attempts] == [0, 0, 0]  # three fresh SDK calls
    assert {a.sender.retry_layer for a in attempts if a.sender} == {"langchain-core (langchain_core.runnables.retry)"}
    assert attempts[-1].end is not None and attempts[-1].end >= 90  # three 30 s timeouts plus waits, virtual


@pytest.mark.asyncio
async def test_ainvoke_streaming_stall_raises_the_raw_read_timeout(stalled_stream, claude_network) -> None:
    llm = ChatAnthropic(model=MODEL, timeout=30, streaming=True)

    with pytest.raises(pct_stack().ReadTimeout):
        await llm.ainvoke("hi")

    (attempt,) = claude_network.attempts
    assert attempt.stream and attempt.phase == "body" and claude_network.elapsed == 30
    assert attempt.sender is not None and attempt.sender.asynchronous is True


def pct_stack():  # the HTTP stack of the installed SDK line
    import importlib

    return importlib.import_module(STACK)


def test_batch_calls_run_side_by_side_on_the_thread_pool(claude_network) -> None:
    claude_network.add(pct.SlowPrefill(20))
    answers = ChatAnthropic(model=MODEL, timeout=60).batch(["a", "b", "c"])

    assert [a.content for a in answers] == [pct.FakeApi().text] * 3
    assert [(a.start, a.end) for a in claude_network.attempts] == [(0, 20)] * 3  # one prefill, not three
    assert claude_network.elapsed == 20
    assert all(a.sender and a.sender.layers[-1].startswith("langchain-anthropic") for a in claude_network.attempts)


def test_with_structured_output(claude_network) -> None:
    city = ChatAnthropic(model=MODEL, timeout=60).with_structured_output(City).invoke("the largest city")

    assert isinstance(city, City)
    (attempt,) = claude_network.attempts
    assert attempt.status == 200


def test_forced_tool_call(claude_network) -> None:
    def population(city: str) -> int:
        """The population of a city."""
        return 1

    llm = ChatAnthropic(model=MODEL, timeout=60).bind_tools([population], tool_choice="population")
    answer = llm.invoke("how many people live in Paris?")

    assert [call["name"] for call in answer.tool_calls] == ["population"]
    assert isinstance(answer.tool_calls[0]["args"]["city"], str)


def stream_text(llm: ChatAnthropic, restarts: int = 2) -> str:
    """An application's streaming call: LangChain does not retry a stream that broke after
    it started (nor does the SDK), so the application restarts it."""
    for attempt in range(restarts + 1):
        try:
            return "".join(str(chunk.content) for chunk in llm.stream("summarize"))
        except (anthropic.APIError, pct_stack().TransportError):
            if attempt == restarts:
                raise
    raise AssertionError("unreachable")


@pytest.mark.claude_timeout
def test_the_streaming_app_survives_the_standard_scenarios(claude_network) -> None:
    # ChatAnthropic(timeout=) takes one number (no separate connect timeout: a known limit)
    assert stream_text(ChatAnthropic(model=MODEL, timeout=120)) == pct.FakeApi().text


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:60", expect=anthropic.APIError, budget=200)
def test_non_streaming_defaults_fail_cleanly(claude_network) -> None:
    ChatAnthropic(model=MODEL, timeout=60).invoke("summarize")
