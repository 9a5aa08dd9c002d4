"""The engine without pytest: ``python examples/without_pytest.py``.

``SimulatedNetwork`` is a context manager: while it is active, every request of the
Anthropic SDK (sync or async, httpx or httpx2) reaches a fake API in virtual time.
"""

import anthropic

from pytest_claude_timeout import SimulatedNetwork, SlowPrefill, StalledStream

REQUEST = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}

# A sync client with a 60 s timeout against a 75 s prefill.
with SimulatedNetwork(SlowPrefill(75), seed=1) as net:
    client = anthropic.Anthropic(api_key="sk-ant-test", timeout=60)
    try:
        client.messages.create(**REQUEST)
    except anthropic.APITimeoutError:
        print(f"gave up after {len(net.attempts)} attempts, {net.elapsed:.1f} virtual seconds")
print(net.timeline())


# An async client: net.run() runs a coroutine on an event loop with virtual time.
async def stream_text(client: anthropic.AsyncAnthropic) -> str:
    async with client.messages.stream(**REQUEST) as stream:
        return "".join([text async for text in stream.text_stream])


with SimulatedNetwork(StalledStream(stall=45)) as net:
    text = net.run(stream_text(anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=60)))
print(f"{text!r} after {net.elapsed:g} virtual seconds")
