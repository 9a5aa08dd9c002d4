"""The pytest entry point (``pytest11``). Thin on purpose: hooks and options only.

Importing it must stay cheap: pytest loads it in every run of every suite, so nothing
here imports anthropic, httpx, httpx2, respx or freezegun.
"""

from __future__ import annotations

import inspect

import pytest

from .fixtures import (  # noqa: F401  (registered as fixtures by pytest)
    NETWORK_FIXTURES,
    claude_network,
    dns_failure,
    proxy_cutoff,
    slow_prefill,
    stalled_stream,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claude-timeout", "pytest-claude-timeout: Anthropic clients on a simulated network")
    group.addoption(
        "--claude-timeout-horizon",
        dest="claude_timeout_horizon",
        type=float,
        default=None,
        help="virtual seconds after which any simulated wait ends with HorizonExceeded (default 86400)",
    )
    parser.addini(
        "claude_timeout_horizon",
        "virtual seconds after which any simulated wait ends with HorizonExceeded",
        default="86400",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "claude_timeout(*scenarios, budget=None, expect=None): run the test under simulated "
        "network scenarios in virtual time (pytest-claude-timeout)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Async tests on the simulated network need virtual event-loop time: looptime provides
    # it for pytest-asyncio loops, switched on per test by its marker.
    for item in items:
        function = getattr(item, "function", None)
        if not inspect.iscoroutinefunction(function):
            continue
        if NETWORK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            if item.get_closest_marker("looptime") is None:
                item.add_marker(pytest.mark.looptime)
