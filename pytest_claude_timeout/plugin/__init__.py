"""The pytest entry point (``pytest11``). Thin on purpose: the hooks, each handing its work to
the module that does it (``options``, ``collection``, ``runs``, ``session``, ``audit``).

Importing it must stay cheap: pytest loads it in every run of every suite, so nothing
here imports anthropic, httpx, httpx2, respx or freezegun (the engine is imported by the
fixtures and hooks when a test uses it).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import options
from .collection import make_item, parametrize
from .fixtures import *  # noqa: F403  (the fixtures, registered by pytest from this module)
from .marker import MARKER
from .runs import run_item


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*scenarios, budget=None, expect=None, envelope=None): run the test once per simulated "
        "network scenario in virtual time and judge it; envelope=True also searches how far each "
        "scenario's main parameter can go before the verdict changes (pytest-claude-timeout)",
    )
    from .session import SessionReport

    options.check(config)  # one usage error for a bad option or ini value, before any test
    config.pluginmanager.register(SessionReport(config), "claude-timeout-session")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> pytest.Collector | None:
    return make_item(collector, name, obj)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize(metafunc)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    return (yield from run_item(pyfuncitem))


TRANSPORT_MOCK_FIXTURES = ("httpx_mock", "httpx2_mock")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    # pytest-httpx / httpx2-pytest mock the HTTP transport, above the network: narrow their
    # `should_mock` so that Messages API calls reach the network (the mock's own response
    # for them becomes the healthy API's answer). respx-based mocks need nothing here.
    value = yield
    if fixturedef.argname in TRANSPORT_MOCK_FIXTURES:
        from ..transports import user_mocks

        if user_mocks.register_transport_mock(value):
            fixturedef.addfinalizer(lambda: user_mocks.unregister_transport_mock(value))
    return value


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    # The ini audit's items hang off the session, beside the collected paths; a run that
    # names single tests (path::test) does not get them.
    report = yield
    if isinstance(collector, pytest.Session) and report.passed and collector.config.getini("claude_timeout_clients"):
        if not any("::" in str(arg) for arg in collector.config.args):
            from .audit import audit_collectors

            report.result.extend(audit_collectors(collector))
    return report
