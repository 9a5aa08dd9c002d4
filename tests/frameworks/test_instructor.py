"""instructor (which pins anthropic 0.93, on httpx) on the plugin's network: structured
output in JSON mode and in its default tools mode, its own retry loop (re-asking after an
invalid answer, a tenacity loop) in virtual time, and the SDK's retries beneath it."""

from __future__ import annotations

import anthropic
import instructor
import pytest
from instructor.exceptions import InstructorRetryException
from pydantic import BaseModel

import pytest_claude_timeout as pct
from pytest_claude_timeout.plugin.retries import retry_lines

MESSAGES = [{"role": "user", "content": "the largest city"}]
PARIS = '{"name": "Paris", "population": 2100000}'


class City(BaseModel):
    name: str
    population: int


def extract(client: anthropic.Anthropic, mode: instructor.Mode = instructor.Mode.JSON, retries: int = 2) -> City:
    patched = instructor.from_anthropic(client, mode=mode)
    return patched.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=MESSAGES, response_model=City, max_retries=retries
    )


def test_json_mode_names_instructor_over_the_sdk(claude_network: pct.SimulatedNetwork) -> None:
    claude_network.api.text = PARIS

    assert extract(anthropic.Anthropic(timeout=60)).model_dump() == {"name": "Paris", "population": 2100000}
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None and attempt.sender.sdk == anthropic.__version__
    assert [layer.split()[0] for layer in attempt.sender.layers] == ["instructor"]
    assert attempt.sender.stack == "httpx"  # instructor pins anthropic 0.93: the httpx line


def test_instructor_reasks_after_an_invalid_answer(claude_network) -> None:
    claude_network.add(pct.SlowPrefill(20))  # each re-ask takes its own 20 s, in virtual time

    with pytest.raises(InstructorRetryException):
        extract(anthropic.Anthropic(timeout=60))  # the answer is prose, not JSON

    attempts = claude_network.attempts
    assert [a.retry_count for a in attempts] == [0, 0, 0]  # new SDK calls: not the SDK's retries
    assert [a.status for a in attempts] == [200, 200, 200] and claude_network.elapsed == 60
    assert all(a.sender and a.sender.retry_layer and a.sender.retry_layer.startswith("instructor ") for a in attempts)
    assert any(line.startswith("instructor's own retries") and "sent 3 times" in line for line in retry_lines(attempts))


def test_network_failures_are_the_sdks_to_retry(slow_prefill, claude_network) -> None:
    with pytest.raises(InstructorRetryException) as info:
        extract(anthropic.Anthropic(timeout=30, max_retries=2))

    assert isinstance(info.value.__cause__ or info.value.__context__, anthropic.APITimeoutError) or "timed out" in str(info.value)
    assert [a.retry_count for a in claude_network.attempts] == [0, 1, 2]  # instructor does not re-ask
    lines = retry_lines(claude_network.attempts)
    assert lines[0].startswith("the SDK's max_retries retried 2 times (on the SDK client that instructor ")


def test_tools_mode_the_default(claude_network) -> None:
    city = extract(anthropic.Anthropic(timeout=60), mode=instructor.Mode.TOOLS, retries=0)

    assert isinstance(city, City)
    assert len(claude_network.attempts) == 1


@pytest.mark.claude_timeout("slow_prefill", "dns_failure")
def test_extraction_survives(claude_network) -> None:
    claude_network.api.text = PARIS
    assert extract(anthropic.Anthropic(timeout=120)).name == "Paris"


@pytest.mark.claude_timeout("proxy_cutoff:30", expect=InstructorRetryException, budget=100)
def test_a_non_streaming_extraction_behind_a_proxy_fails_cleanly(claude_network) -> None:
    claude_network.api.text = PARIS
    extract(anthropic.Anthropic(timeout=120))  # the proxy's 504, retried by the SDK, wrapped by instructor
