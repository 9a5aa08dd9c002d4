"""pydantic-ai on the plugin's network: Agent.run (async), Agent.run_sync (its own event
loop), output_type (structured output through a tool call), and the SDK's retries in
virtual time under the agent."""

from __future__ import annotations

import anthropic
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider

import pytest_claude_timeout as pct

MODEL = "anthropic:claude-sonnet-4-6"


class City(BaseModel):
    name: str
    population: int


def agent_with(timeout: float, max_retries: int = 2, **options: object) -> Agent:
    """An agent on an SDK client the application configured (pydantic-ai's documented way
    to set the client's timeout and retries)."""
    client = anthropic.AsyncAnthropic(timeout=timeout, max_retries=max_retries)
    return Agent(AnthropicModel("claude-sonnet-4-6", provider=AnthropicProvider(anthropic_client=client)), **options)


@pytest.mark.asyncio
async def test_run_names_pydantic_ai_over_the_sdk(claude_network: pct.SimulatedNetwork) -> None:
    result = await Agent(MODEL).run("hi")

    assert result.output == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None and attempt.sender.asynchronous is True
    assert attempt.sender.sdk == anthropic.__version__
    assert any(layer.startswith("pydantic-ai") for layer in attempt.sender.layers)


@pytest.mark.asyncio
async def test_with_a_timeout_the_agent_streams_through_a_slow_prefill(slow_prefill, claude_network) -> None:
    result = await agent_with(timeout=60).run("hi")  # the read timeout is shorter than the prefill

    assert result.output == pct.FakeApi().text
    (attempt,) = claude_network.attempts  # pydantic-ai streams (as measured): the pings keep it alive
    assert attempt.stream and attempt.status == 200 and claude_network.elapsed == 75


@pytest.mark.asyncio
async def test_a_dns_failure_is_retried_by_the_sdk_under_the_agent(dns_failure, claude_network) -> None:
    result = await agent_with(timeout=60).run("hi")

    assert result.output == pct.FakeApi().text
    assert [a.retry_count for a in claude_network.attempts] == [0, 1]
    assert [a.phase for a in claude_network.attempts] == ["connect", "done"]


@pytest.mark.asyncio
async def test_a_stalled_stream_under_run_stream(stalled_stream, claude_network) -> None:
    with pytest.raises(Exception) as info:
        async with agent_with(timeout=30).run_stream("hi") as result:
            async for _text in result.stream_text():
                pass

    assert "ReadTimeout" in type(info.value).__name__ or "timed out" in str(info.value).lower()
    (attempt,) = claude_network.attempts
    assert attempt.stream and attempt.phase == "body" and claude_network.elapsed == 30


def test_run_sync(slow_prefill, claude_network) -> None:
    result = agent_with(timeout=120).run_sync("hi")

    assert result.output == pct.FakeApi().text
    assert claude_network.elapsed == 75


@pytest.mark.asyncio
async def test_output_type(claude_network) -> None:
    result = await agent_with(timeout=60, output_type=City).run("the largest city")

    assert isinstance(result.output, City)


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", "dns_failure")
async def test_the_agent_survives(claude_network) -> None:
    result = await agent_with(timeout=120).run("hi")
    assert result.output == pct.FakeApi().text
