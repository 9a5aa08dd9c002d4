"""Who sent a request: the client library, the layers above it, and the HTTP stack.

A request that reaches the simulated network carries its sender in two places: its headers
(the SDK's ``x-stainless-*`` headers and ``User-Agent``) and the Python call stack that is
sending it (a framework's frames, a retry loop's frames). :func:`identify` reads both when
the request arrives, so every attempt records what really sent it: ``litellm`` over httpx,
``langchain-anthropic`` over the SDK over httpx2, ``instructor``'s retry loop ...

Nothing here imports a client library: distributions are looked up by module name.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

SDK = "anthropic"
"""The distribution of the Anthropic SDK (both lines)."""

STACKS = {"httpcore": "httpx", "httpcore2": "httpx2"}
"""Which HTTP client sits above each mocked core (the name a user knows)."""

# Top-level modules that carry a request without deciding anything about it: the test
# runner, this plugin and its mocks, the HTTP stacks, and async plumbing. Never a layer.
_PLUMBING = frozenset(
    {
        "pytest", "_pytest", "pluggy", "pytest_asyncio", "xdist", "execnet", "pytest_claude_timeout",
        "looptime", "freezegun", "respx", "anyio", "sniffio", "httpx", "httpcore", "httpx2", "httpcore2",
        "aiohttp", "httpx_aiohttp", "h11", "h2", "typing_extensions", "tenacity", "wrapt", "opentelemetry",
        "logfire", "pydantic", "pydantic_core", "distro", "jiter",
    }
)


@dataclass(frozen=True)
class Sender:
    """What sent one request."""

    stack: str
    """The HTTP client the request went through (``httpx``, ``httpx2``, ``aiohttp`` ...)."""
    stack_version: str
    sdk: str | None = None
    """The Anthropic SDK's version when the SDK sent it, else None (a client of its own)."""
    layers: tuple[str, ...] = ()
    """Distributions on the call stack above the SDK (or above the HTTP client when no SDK
    was involved), outermost first, each as ``name version``."""
    retry_layer: str | None = None
    """The retry loop above the HTTP client that was running when the request was sent
    (``litellm (tenacity)``, ``langchain-core (langchain_core.runnables.retry)`` ...); the
    SDK's own loop is not one (its retries show in ``x-stainless-retry-count``)."""
    user_agent: str | None = None
    asynchronous: bool | None = None
    """From ``x-stainless-async`` when the SDK sent it."""

    @property
    def client(self) -> str:
        """The client library that built the request: the innermost layer above the HTTP
        client (``anthropic 2.14.0``, or ``litellm 1.110.2`` when no SDK was involved)."""
        if self.sdk is not None:
            return f"{SDK} {self.sdk}"
        if self.layers:
            return self.layers[-1]
        return self.user_agent or "unknown client"

    def describe(self) -> str:
        """``langchain-core 1.8.3 > langchain-anthropic 1.7.10 > anthropic 2.14.0 (sync) on
        httpx2 2.16.2``."""
        chain = list(self.layers)
        if self.sdk is not None:
            mode = "" if self.asynchronous is None else (" (async)" if self.asynchronous else " (sync)")
            chain.append(f"{SDK} {self.sdk}{mode}")
        elif not chain:
            chain.append(self.client)
        return f"{' > '.join(chain)} on {self.stack} {self.stack_version}".rstrip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "sdk": self.sdk,
            "stack": self.stack,
            "stack_version": self.stack_version,
            "layers": list(self.layers),
            "retry_layer": self.retry_layer,
            "user_agent": self.user_agent,
            "async": self.asynchronous,
            "description": self.describe(),
        }


@functools.cache
def _distribution(module: str) -> tuple[str, str] | None:
    """The installed distribution (name, version) that provides a top-level module."""
    names = _module_distributions().get(module)
    if not names:
        return None
    name = names[0]
    try:
        return name, importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _module_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _is_retry_module(module: str) -> bool:
    return module.split(".")[0] == "tenacity" or "retry" in module.split(".")


def _walk(frame: FrameType | None) -> tuple[tuple[str, ...], str | None]:
    """Distributions on the stack (outermost first, without plumbing) and the innermost
    retry loop outside the SDK."""
    modules: list[str] = []
    while frame is not None:
        modules.append(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    return _layers(tuple(modules))


@functools.lru_cache(maxsize=1024)
def _layers(modules: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """:func:`_walk` for the stack's module names (innermost first): the same stack (every
    attempt of a loop of calls) is read once."""
    layers: list[str] = []
    retry: str | None = None
    owner: str | None = None  # the distribution whose code is running (for a tenacity loop)
    stdlib = sys.stdlib_module_names
    for module in reversed(modules):  # outermost first
        module = str(module)
        top = module.split(".")[0]
        if not top or top in stdlib or top == "__main__":
            continue
        found = _distribution(top)
        if top not in _PLUMBING and found is not None and found[0] != SDK:
            label = f"{found[0]} {found[1]}"
            if label not in layers:
                layers.append(label)
            owner = found[0]
        if found is not None and found[0] == SDK:
            continue
        if _is_retry_module(module):
            if top == "tenacity":
                retry = f"{owner} (tenacity)" if owner else "tenacity"
            else:
                retry = f"{found[0] if found else top} ({module})"
    return tuple(layers), retry


def identify(headers: Mapping[str, str], core: str, frame: FrameType | None = None) -> Sender:
    """The sender of a request that arrived through ``core`` (the mocked transport:
    ``httpcore``, ``httpcore2``, or a stack's own name such as ``aiohttp``), from its
    headers and the calling ``frame``'s stack (default: the caller's)."""
    stack = STACKS.get(core, core)
    if frame is None:
        frame = sys._getframe(1)
    layers, retry = _walk(frame)
    lowered = {k.lower(): v for k, v in headers.items()}
    sdk = lowered.get("x-stainless-package-version") if "x-stainless-lang" in lowered else None
    mode = lowered.get("x-stainless-async")
    return Sender(
        stack=stack,
        stack_version=version_of(stack),
        sdk=sdk,
        layers=layers,
        retry_layer=retry,
        user_agent=lowered.get("user-agent"),
        asynchronous=None if mode is None or sdk is None else mode != "false",
    )
