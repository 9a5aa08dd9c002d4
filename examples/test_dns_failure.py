"""dns_failure: the API's host name does not resolve on the first attempt(s)."""

import anthropic
import pytest

import app

KEY = "sk-ant-test"


def test_a_dns_failure_is_retried(dns_failure, claude_network):
    summary = app.summarize(app.make_client(api_key=KEY), "A short note")

    assert summary
    assert [a.error for a in claude_network.attempts] == ["ConnectError", None]


@pytest.mark.parametrize("dns_failure", [3], indirect=True)
def test_three_dns_failures_exhaust_the_retries(dns_failure, claude_network):
    # the number sets ``attempts``: the first 3 attempts fail, and the client makes 3
    with pytest.raises(anthropic.APIConnectionError):
        app.summarize(app.make_client(api_key=KEY), "A short note")

    assert len(claude_network.attempts) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("dns_failure", [{"kind": "resolver_timeout"}], indirect=True)
async def test_an_unanswering_resolver_costs_the_connect_timeout(dns_failure, claude_network):
    # the async stack resolves inside its connect timeout (5 s here): ConnectTimeout, retried
    client = app.make_async_client(api_key=KEY)
    message = await client.messages.create(
        model=app.MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )

    assert message.content
    assert [a.error for a in claude_network.attempts] == ["ConnectTimeout", None]
    assert claude_network.attempts[0].end == 5
