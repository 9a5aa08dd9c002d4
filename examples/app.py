"""A small summarizer built on the Anthropic SDK: the code under test in these examples.

Nothing here knows about pytest-claude-timeout. It is ordinary application code, written
to survive a slow or broken network:

* ``make_client()``: one place for the timeout configuration. The SDK's default is
  ``Timeout(600, connect=5)``, and ``max_retries=2`` (3 attempts in all); this app waits at
  most 120 s for any byte, and 5 s for a connection.
* ``summarize()``: one non-streaming call. The SDK retries it on timeouts, connection
  errors, 408/409/429 and 5xx.
* ``stream_summary()`` / ``astream_summary()``: streaming, which the SDK does *not* retry
  once the response has started. A stream that stalls or is cut mid-body raises the HTTP
  stack's raw ``ReadTimeout`` / ``RemoteProtocolError`` (``httpx2.*`` on anthropic >= 1,
  ``httpx.*`` on 0.x), not an ``anthropic.APIError``, so these functions catch both and
  start the stream again.
* ``stream_summary_naive()``: the same stream, catching only ``anthropic.APIError``, as
  most code does. The tests show what escapes it.
* ``summarize_all()``: many summaries at once, fanned out on a thread pool that shares
  one client (and its connection pool).
* ``summarize_blocking()``: a sync entry point over the async client, with ``asyncio.run``,
  as command-line tools and sync frameworks do.

Works with both SDK lines: anthropic 0.x (httpx) and anthropic >= 1 (httpx2).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
from typing import Any

import anthropic

log = logging.getLogger(__name__)

MODEL = "claude-sonnet-4-6"
MAX_TOKENS = 1024
TIMEOUT = anthropic.Timeout(120, connect=5)
"""Wait at most 120 s for any byte (read, write, pool), 5 s to connect."""
MAX_RETRIES = 2
STREAM_RESTARTS = 2
"""How many times a failed stream is started again (on top of the SDK's own retries,
which cover only the request up to the response headers)."""


def http_stack() -> Any:
    """The HTTP library the installed SDK runs on: ``httpx2`` for anthropic >= 1, else ``httpx``."""
    major = int(anthropic.__version__.split(".")[0])
    return importlib.import_module("httpx2" if major >= 1 else "httpx")


STREAM_ERRORS: tuple[type[BaseException], ...] = (anthropic.APIError, http_stack().TransportError)
"""What a stream can raise when the network fails: the SDK's errors (before the headers,
after its retries), and the raw transport errors of the HTTP stack (after the headers:
``ReadTimeout``, ``RemoteProtocolError``, ``ReadError`` ...)."""


def worth_restarting(exc: BaseException) -> bool:
    """Whether starting the stream again may help: not for a bad request or a bad key."""
    if isinstance(exc, anthropic.APIStatusError):
        # 200: an ``error`` event inside the stream (e.g. overloaded_error)
        return exc.status_code in (200, 408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, STREAM_ERRORS)


def make_client(**options: Any) -> anthropic.Anthropic:
    """The app's client. ``options`` override the defaults (tests pass ``api_key``)."""
    options = {"timeout": TIMEOUT, "max_retries": MAX_RETRIES, **options}
    return anthropic.Anthropic(**options)


def make_async_client(**options: Any) -> anthropic.AsyncAnthropic:
    options = {"timeout": TIMEOUT, "max_retries": MAX_RETRIES, **options}
    return anthropic.AsyncAnthropic(**options)


def _request(text: str) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": f"Summarize in three sentences:\n\n{text}"}],
    }


def summarize(client: anthropic.Anthropic, text: str) -> str:
    """One non-streaming call; the SDK retries failures before the response arrives."""
    message = client.messages.create(**_request(text))
    return "".join(block.text for block in message.content if block.type == "text")


def stream_summary(client: anthropic.Anthropic, text: str, *, restarts: int = STREAM_RESTARTS) -> str:
    """Stream the summary; when the stream fails, start it again (up to ``restarts`` times).

    A restart discards the partial text: the answer is regenerated from the start.
    """
    for attempt in range(restarts + 1):
        parts: list[str] = []
        try:
            with client.messages.stream(**_request(text)) as stream:
                for delta in stream.text_stream:
                    parts.append(delta)
            return "".join(parts)
        except STREAM_ERRORS as exc:
            if attempt == restarts or not worth_restarting(exc):
                raise
            log.warning("stream failed after %d text deltas (%r); starting it again", len(parts), exc)
    raise AssertionError("unreachable")


async def astream_summary(client: anthropic.AsyncAnthropic, text: str, *, restarts: int = STREAM_RESTARTS) -> str:
    """The async form of :func:`stream_summary`."""
    for attempt in range(restarts + 1):
        parts: list[str] = []
        try:
            async with client.messages.stream(**_request(text)) as stream:
                async for delta in stream.text_stream:
                    parts.append(delta)
            return "".join(parts)
        except STREAM_ERRORS as exc:
            if attempt == restarts or not worth_restarting(exc):
                raise
            log.warning("stream failed after %d text deltas (%r); starting it again", len(parts), exc)
    raise AssertionError("unreachable")


def stream_summary_naive(client: anthropic.Anthropic, text: str) -> str:
    """How streaming code often looks: it handles ``anthropic.APIError`` only.

    Mid-stream failures are not ``APIError``: they escape this ``except``.
    """
    parts: list[str] = []
    try:
        with client.messages.stream(**_request(text)) as stream:
            for delta in stream.text_stream:
                parts.append(delta)
    except anthropic.APIError:
        log.exception("the summary failed")
        return ""
    return "".join(parts)


def summarize_all(client: anthropic.Anthropic, texts: list[str], *, workers: int = 4) -> list[str]:
    """Stream the summaries of ``texts`` side by side, on a thread pool sharing ``client``."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda text: stream_summary(client, text), texts))


def summarize_blocking(text: str, **options: Any) -> str:
    """A sync entry point over the async client: the event loop is ``asyncio.run``'s own."""
    return asyncio.run(astream_summary(make_async_client(**options), text))
