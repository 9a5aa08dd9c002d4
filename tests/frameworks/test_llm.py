"""Simon Willison's `llm` with llm-anthropic (which pins anthropic<2: the 1.x line, on
httpx2) on the plugin's network. llm-anthropic builds the SDK client with its defaults
(timeout 600 s, max_retries 2: neither can be set through llm) and always streams."""

from __future__ import annotations

import anthropic
import llm
import pytest
from pydantic import BaseModel

import pytest_claude_timeout as pct

MODEL = "claude-sonnet-4.6"
KEY = "sk-ant-dummy"


class City(BaseModel):
    name: str
    population: int


def test_prompt_names_llm_over_the_sdk(claude_network: pct.SimulatedNetwork) -> None:
    assert llm.get_model(MODEL).prompt("hi", key=KEY).text() == pct.FakeApi().text

    (attempt,) = claude_network.attempts
    assert attempt.stream  # llm-anthropic streams even when llm buffers the answer
    assert attempt.sender is not None and attempt.sender.sdk == anthropic.__version__
    assert attempt.sender.stack == "httpx2"
    assert [layer.split()[0] for layer in attempt.sender.layers] == ["llm", "llm-anthropic"]


def test_the_pings_carry_a_slow_prefill(slow_prefill, claude_network) -> None:
    assert llm.get_model(MODEL).prompt("hi", key=KEY).text() == pct.FakeApi().text
    assert len(claude_network.attempts) == 1 and claude_network.elapsed == 75


def test_a_stalled_stream_waits_out_the_sdk_default(stalled_stream, claude_network) -> None:
    with pytest.raises(__import__("httpx2").ReadTimeout):
        llm.get_model(MODEL).prompt("hi", key=KEY).text()

    (attempt,) = claude_network.attempts  # not retried: the stream had started
    assert attempt.timeouts.read == 600 and claude_network.elapsed == 600


def test_dns_failure_is_retried_by_the_sdk(dns_failure, claude_network) -> None:
    assert llm.get_model(MODEL).prompt("hi", key=KEY).text() == pct.FakeApi().text
    assert [a.retry_count for a in claude_network.attempts] == [0, 1]


@pytest.mark.asyncio
async def test_async_model(slow_prefill, claude_network) -> None:
    response = llm.get_async_model(MODEL).prompt("hi", key=KEY)

    assert await response.text() == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None and attempt.sender.asynchronous is True and claude_network.elapsed == 75


def test_schema(claude_network) -> None:
    text = llm.get_model(MODEL).prompt("the largest city", key=KEY, schema=City).text()

    City.model_validate_json(text)


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", "dns_failure")
def test_a_prompt_survives(claude_network) -> None:
    assert llm.get_model(MODEL).prompt("hi", key=KEY).text() == pct.FakeApi().text
