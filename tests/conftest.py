"""Shared helpers for the test suite: the request used everywhere, the HTTP stack of the
installed SDK line, and one way to make a messages call sync or async.

Nothing here configures pytest or the plugin: the suite runs with the plugin's defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import anthropic
import pytest

import pytest_claude_timeout as pct

SDK_MAJOR = int(anthropic.__version__.split(".")[0])

MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
"""Keyword arguments of ``messages.create`` / ``messages.stream`` for a small request."""


def http_stack() -> ModuleType:
    """The HTTP stack the installed SDK runs on: ``httpx2`` for anthropic >= 1, else ``httpx``.

    Its exceptions (``ReadTimeout``, ``RemoteProtocolError`` ...) are what escapes a stream
    that fails mid-body."""
    return importlib.import_module("httpx2" if SDK_MAJOR >= 1 else "httpx")


@pytest.fixture
def stack() -> ModuleType:
    return http_stack()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Runs a test once with ``anthropic.Anthropic`` and once with ``AsyncAnthropic``."""
    return str(request.param)


# How a call reads the response: what it returns, and what it appends to ``received`` as
# text arrives (so a test can see what was delivered before a failure).
KINDS = ("create", "stream", "final", "create_stream")


def _sync_call(kind: str, client: anthropic.Anthropic, received: list[str]) -> Any:
    if kind == "create":
        return client.messages.create(**MSG)
    if kind == "create_stream":
        for event in client.messages.create(**MSG, stream=True):
            if event.type == "content_block_delta":
                received.append(event.delta.text)
        return "".join(received)
    with client.messages.stream(**MSG) as stream:
        if kind == "final":
            return stream.get_final_message()
        for text in stream.text_stream:
            received.append(text)
        return "".join(received)


async def _async_call(kind: str, client: anthropic.AsyncAnthropic, received: list[str]) -> Any:
    if kind == "create":
        return await client.messages.create(**MSG)
    if kind == "create_stream":
        async for event in await client.messages.create(**MSG, stream=True):
            if event.type == "content_block_delta":
                received.append(event.delta.text)
        return "".join(received)
    async with client.messages.stream(**MSG) as stream:
        if kind == "final":
            return await stream.get_final_message()
        async for text in stream.text_stream:
            received.append(text)
        return "".join(received)


def messages_call(
    net: pct.SimulatedNetwork,
    mode: str,
    kind: str = "create",
    received: list[str] | None = None,
    **client_options: Any,
) -> Any:
    """One call of the real SDK on ``net`` (which must be active).

    ``mode``: ``sync`` or ``async`` (run by ``net.run`` on a looptime loop). ``kind``:
    ``create`` (returns the Message), ``final`` (``messages.stream`` + ``get_final_message``),
    ``stream`` (``messages.stream`` + ``text_stream``, returns the text) or ``create_stream``
    (``create(stream=True)``, returns the text). Exceptions propagate as they are.
    """
    assert kind in KINDS, kind
    received = [] if received is None else received
    client_options.setdefault("api_key", "sk-ant-test")
    if mode == "sync":
        return _sync_call(kind, anthropic.Anthropic(**client_options), received)
    assert mode == "async", mode
    return net.run(_async_call(kind, anthropic.AsyncAnthropic(**client_options), received))


@pytest.fixture
def call(mode: str) -> Callable[..., Any]:
    """``messages_call`` bound to the test's ``mode``: ``call(net, kind, received, **options)``."""

    def bound(
        net: pct.SimulatedNetwork, kind: str = "create", received: list[str] | None = None, **options: Any
    ) -> Any:
        return messages_call(net, mode, kind, received, **options)

    return bound
