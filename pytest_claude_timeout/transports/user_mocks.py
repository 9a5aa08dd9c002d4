"""A suite's own HTTP mocks, composed with the simulated network.

Two families of mocking libraries meet the SDK's stacks:

* respx (``respx_mock``, ``respx.mock``) and pytest-httpx2 (``httpx2_mock``, built on
  respx) patch the same connection-pool methods as the network's own mocker
  (``httpcore_mock``). The network's mocker stays the one in place, whichever started
  first (a respx mocker started earlier is stopped and restarted around the network), and
  consults their routers through respx's own API: a request the network does not serve
  goes to respx's mocker (its routes, its pass-through, its "not mocked" errors);
* pytest-httpx (``httpx_mock``) and httpx2-pytest (``httpx2_mock``) patch the HTTP
  transport, above the pools. Their documented option ``should_mock`` is narrowed (by the
  plugin, when the fixture is set up) so that Messages API calls go on to the pools, and
  so to the network; every other request is theirs as before.

For a Messages API call, a matching route or response of the user's mock (recorded as
called, as the library would) is what the healthy API answers; the scenarios shape it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from ..api.fake import is_messages_call
from ..api.user_route import UserAnswer

OWN_PREFIX = "pytest-claude-timeout:"

_transport_mocks: list[Any] = []
"""pytest-httpx-style ``HTTPXMock`` objects active now (their ``should_mock`` narrowed)."""


def _messages(request: Any) -> bool:
    return is_messages_call(str(request.method), request.url.path)


def is_served(request: Any) -> bool:
    """Whether the simulated network serves this request (a Messages API call)."""
    return _messages(request)


def register_transport_mock(mock: Any) -> bool:
    """Compose a pytest-httpx / httpx2-pytest mock (``HTTPXMock``); False if it is not one."""
    options = getattr(mock, "_options", None)
    if options is None or not callable(getattr(options, "should_mock", None)) or not hasattr(mock, "_get_callback"):
        return False
    original = options.should_mock

    def should_mock(request: Any) -> bool:
        return not _messages(request) and bool(original(request))

    options.should_mock = should_mock
    _transport_mocks.append(mock)
    return True


def unregister_transport_mock(mock: Any) -> None:
    if mock in _transport_mocks:
        _transport_mocks.remove(mock)


def respx_mockers(core: str) -> list[Any]:
    """respx mocker classes (other than the network's) that patch ``core``'s pools."""
    from respx.mocks import Mocker

    return list(_respx_mockers(core, len(Mocker.registry)))


@functools.lru_cache(maxsize=16)
def _respx_mockers(core: str, registered: int) -> tuple[Any, ...]:
    """:func:`respx_mockers`, read once per size of respx's registry (every request asks;
    the registry only grows: a mocker class registers when it is defined)."""
    from respx.mocks import Mocker

    return tuple(
        mocker
        for name, mocker in Mocker.registry.items()
        if not name.startswith(OWN_PREFIX) and any(t.startswith(f"{core}.") for t in mocker.targets)
    )


def _answer(response: Any) -> UserAnswer:
    return UserAnswer(response.status_code, tuple(response.headers.multi_items()), bytes(response.content))


def _respx_prospects(request: Any, core: str) -> list[tuple[Any, Any, Any]]:
    return [(router, route, route.match(request)) for mocker in respx_mockers(core) for router in mocker.routers for route in router.routes]


_STACKS = {"pytest_httpx": "httpx", "pytest_httpx2": "httpx2"}


def _transport_request(mock: Any, request: Any) -> Any:
    """The request in the mock's own stack (httpx2-pytest matches httpx2 requests)."""
    stack = importlib.import_module(_STACKS.get(type(mock).__module__.split(".")[0], "httpx"))
    if isinstance(request, stack.Request):
        return request
    return stack.Request(request.method, str(request.url), headers=request.headers.raw, content=request.content)


def _transport_callbacks(request: Any) -> list[tuple[Any, Any, Any]]:
    found = []
    for mock in list(_transport_mocks):
        own = _transport_request(mock, request)
        callback = mock._get_callback(None, own)
        if callback is not None:
            mock._requests.append((None, own))
            found.append((mock, own, callback))
    return found[:1]


def answer(request: Any, core: str) -> UserAnswer | None:
    """The user's mocked answer to a Messages API call (sync), or None."""
    if not _messages(request):
        return None
    for router, route, prospect in _respx_prospects(request, core):
        if prospect is not None and prospect is not request:
            router.record(request, response=prospect, route=route)
            prospect.read()
            return _answer(prospect)
    for _mock, own, callback in _transport_callbacks(request):
        response = callback(own)
        if response is not None:
            response.read()
            return _answer(response)
    return None


async def aanswer(request: Any, core: str) -> UserAnswer | None:
    """The user's mocked answer to a Messages API call (async side effects awaited), or None."""
    if not _messages(request):
        return None
    for router, route, prospect in _respx_prospects(request, core):
        if inspect.isawaitable(prospect):
            prospect = await prospect
        if prospect is not None and prospect is not request:
            router.record(request, response=prospect, route=route)
            await prospect.aread()
            return _answer(prospect)
    for _mock, own, callback in _transport_callbacks(request):
        response = callback(own)
        if inspect.isawaitable(response):
            response = await response
        if response is not None:
            await response.aread()
            return _answer(response)
    return None


def routing_mocker(core: str) -> Any:
    """The user's respx mocker with active routers for ``core``, if any (it routes what
    the network does not serve)."""
    return next((m for m in respx_mockers(core) if m.routers), None)
