"""Where the simulation plugs in: respx's httpcore mocker, for both HTTP stacks.

respx's ``HTTPCoreMocker`` patches the connection pools' ``handle_request`` /
``handle_async_request``, so everything above them (httpx or httpx2, and the SDK) runs
unmodified. One subclass per stack: ``httpcore`` (anthropic 0.x on httpx) and ``httpcore2``
(anthropic >= 1.0 on httpx2). Each hands the request straight to the active network, which
answers with that stack's own ``Response`` and raises that stack's own exceptions.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING, Any, Protocol

from respx.mocks import HTTPCoreMocker

from ..errors import hide_unless_harness_error
from . import user_mocks

if TYPE_CHECKING:
    import httpx

    from ..api.user_route import UserAnswer

CORE_MODULES = ("httpcore", "httpcore2")


class Handler(Protocol):
    def handle(self, request: httpx.Request, core: str, pool: Any = None, answer: UserAnswer | None = None) -> Any: ...

    async def ahandle(self, request: httpx.Request, core: str, pool: Any = None, answer: UserAnswer | None = None) -> Any: ...


_active: list[Handler] = []
_paused: list[Any] = []
"""The user's respx mockers stopped while the network's own is in place (restarted after)."""


def _mocker_for(core: str) -> type[HTTPCoreMocker]:
    class StackMocker(HTTPCoreMocker):
        name = f"pytest-claude-timeout:{core}"
        targets = [  # noqa: RUF012 (respx reads this class attribute; never mutated)
            f"{core}._sync.connection.HTTPConnection",
            f"{core}._sync.connection_pool.ConnectionPool",
            f"{core}._sync.http_proxy.HTTPProxy",
            f"{core}._async.connection.AsyncHTTPConnection",
            f"{core}._async.connection_pool.AsyncConnectionPool",
            f"{core}._async.http_proxy.AsyncHTTPProxy",
        ]

        @classmethod
        def _send_sync_request(cls, httpx_request: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = hide_unless_harness_error
            answer = user_mocks.answer(httpx_request, core)
            routing = user_mocks.routing_mocker(core)
            if answer is None and routing is not None and not user_mocks.is_served(httpx_request):
                return routing._send_sync_request(httpx_request, **kwargs)
            return _active[-1].handle(httpx_request, core, kwargs.get("instance"), answer)

        @classmethod
        async def _send_async_request(cls, httpx_request: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = hide_unless_harness_error
            answer = await user_mocks.aanswer(httpx_request, core)
            routing = user_mocks.routing_mocker(core)
            if answer is None and routing is not None and not user_mocks.is_served(httpx_request):
                return await routing._send_async_request(httpx_request, **kwargs)
            return await _active[-1].ahandle(httpx_request, core, kwargs.get("instance"), answer)

    StackMocker.__name__ = StackMocker.__qualname__ = f"{core.capitalize()}NetworkMocker"
    return StackMocker


MOCKERS = {core: _mocker_for(core) for core in CORE_MODULES}


def installed_cores() -> list[str]:
    return [core for core in CORE_MODULES if importlib.util.find_spec(core) is not None]


def attach(handler: Handler) -> None:
    """Route every request of every installed stack to ``handler`` until :func:`detach`."""
    _active.append(handler)
    if len(_active) == 1:
        for core in installed_cores():
            for mocker in user_mocks.respx_mockers(core):
                if mocker._patches:  # started before the network: the network's goes first
                    mocker.stop(force=True)
                    _paused.append(mocker)
            MOCKERS[core].start()


def detach(handler: Handler) -> None:
    _active.remove(handler)
    if not _active:
        for mocker in MOCKERS.values():
            mocker.stop(force=True)
        while _paused:
            mocker = _paused.pop()
            if mocker.routers:  # still in use: back in place
                mocker.start()


def core_module(core: str) -> Any:
    module = sys.modules.get(core)  # (imported already while a request goes through it)
    return module if module is not None else importlib.import_module(core)


def stack_info() -> dict[str, str]:
    """The SDK line in use: anthropic's version and the HTTP stack it runs on."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk = version("anthropic")
    except PackageNotFoundError:
        return {"anthropic": "not installed", "stack": "none", "stack_version": ""}
    stack = "httpx2" if int(sdk.split(".")[0]) >= 1 else "httpx"
    try:
        stack_version = version(stack)
    except PackageNotFoundError:
        stack_version = "?"
    return {"anthropic": sdk, "stack": stack, "stack_version": stack_version}
