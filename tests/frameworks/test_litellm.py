"""litellm on the plugin's network: it calls POST /v1/messages itself (no SDK), sync over
httpx 0.28 and async over aiohttp by default (over httpx with disable_aiohttp_transport).
Its own retry layer (num_retries, a tenacity loop) runs in virtual time, and the report
names litellm, not the installed SDK, as the sender."""

from __future__ import annotations

import litellm
import pytest
from pydantic import BaseModel

import pytest_claude_timeout as pct

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic")  # litellm's own TypedDicts

MODEL = "anthropic/claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "hi"}]
LITELLM = f"litellm {litellm.__version__}" if hasattr(litellm, "__version__") else "litellm"


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
def httpx_async(monkeypatch: pytest.MonkeyPatch) -> None:
    """litellm's async calls over httpx instead of its default aiohttp transport."""
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)


def test_completion_is_sent_by_litellm_over_httpx(claude_network: pct.SimulatedNetwork) -> None:
    response = litellm.completion(model=MODEL, messages=MESSAGES, timeout=60)

    assert response.choices[0].message.content == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    sender = attempt.sender
    assert sender is not None and sender.sdk is None and attempt.retry_count is None
    assert sender.client.startswith("litellm ") and sender.stack == "httpx"
    assert sender.describe() == f"{sender.client} on httpx {__import__('httpx').__version__}"


def test_a_504_becomes_litellm_timeout_without_retries(claude_network) -> None:
    claude_network.add(pct.ProxyCutoff(idle=60))

    with pytest.raises(litellm.Timeout):
        litellm.completion(model=MODEL, messages=MESSAGES, timeout=600)

    (attempt,) = claude_network.attempts  # litellm does not retry unless num_retries is set
    assert attempt.status == 504 and claude_network.elapsed == 60


def test_num_retries_is_litellms_own_layer_in_virtual_time(claude_network) -> None:
    claude_network.add(pct.SlowPrefill(75))

    with pytest.raises(litellm.Timeout):
        litellm.completion(model=MODEL, messages=MESSAGES, timeout=30, num_retries=2)

    attempts = claude_network.attempts
    assert len(attempts) == 3 and [a.error for a in attempts] == ["ReadTimeout"] * 3
    # the first try runs outside litellm's loop, which takes over once it failed
    assert [a.sender.retry_layer for a in attempts if a.sender] == [None, "litellm (tenacity)", "litellm (tenacity)"]
    assert attempts[2].start >= 60  # two 30 s read timeouts first; tenacity's waits are virtual


def test_streaming_stall_raises_litellms_error(stalled_stream, claude_network) -> None:
    with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="Timeout"):
        for _chunk in litellm.completion(model=MODEL, messages=MESSAGES, timeout=30, stream=True):
            pass

    (attempt,) = claude_network.attempts
    assert attempt.stream and attempt.phase == "body" and attempt.error == "ReadTimeout"
    assert claude_network.elapsed == 30


@pytest.mark.asyncio
async def test_acompletion_over_httpx(httpx_async, slow_prefill, claude_network) -> None:
    response = await litellm.acompletion(model=MODEL, messages=MESSAGES, timeout=120)

    assert response.choices[0].message.content == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None and attempt.sender.stack == "httpx" and attempt.sender.sdk is None
    assert claude_network.elapsed == 75


@pytest.mark.asyncio
async def test_acompletion_over_aiohttp_by_default(slow_prefill, claude_network) -> None:
    response = await litellm.acompletion(model=MODEL, messages=MESSAGES, timeout=120)

    assert response.choices[0].message.content == pct.FakeApi().text
    (attempt,) = claude_network.attempts
    assert attempt.sender is not None and attempt.sender.stack == "aiohttp"
    assert claude_network.elapsed == 75


def test_structured_output(claude_network) -> None:
    response = litellm.completion(model=MODEL, messages=MESSAGES, timeout=60, response_format=City)

    City.model_validate_json(response.choices[0].message.content)


def test_forced_tool_call(claude_network) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "population",
            "description": "The population of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    response = litellm.completion(
        model=MODEL, messages=MESSAGES, timeout=60, tools=[tool],
        tool_choice={"type": "function", "function": {"name": "population"}},
    )

    (call,) = response.choices[0].message.tool_calls
    assert call.function.name == "population"


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:60", expect=litellm.Timeout, budget=200)
def test_marker_judges_litellm(claude_network) -> None:
    litellm.completion(model=MODEL, messages=MESSAGES, timeout=60, num_retries=1)


def test_the_failure_report_names_litellm_and_its_retries(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_inner=f"""
import litellm
import pytest

@pytest.mark.claude_timeout("slow_prefill")
def test_call(claude_network):
    litellm.completion(model={MODEL!r}, messages={MESSAGES!r}, timeout=30, num_retries=2)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::UserWarning")
    result.assert_outcomes(failed=1)
    httpx_version = __import__("httpx").__version__
    result.stdout.fnmatch_lines(
        [
            f"client:   litellm * on httpx {httpx_version}",
            "- litellm's own retries (num_retries) retried: the call was sent 3 times (attempts 1, 2 and 3), "
            "litellm * calls the API itself, without the SDK's retries.",
        ]
    )
    result.stdout.no_fnmatch_line("*the SDK's max_retries*")
