"""Helpers for tests that run inner pytest sessions (pytester) with the plugin: the inner
files' common header, their ini file, the ``inner`` fixture, ``run()`` and
``sync_and_async()``. Import what you use: ``from pytester_helpers import inner, run``
(``inner`` is a fixture: importing it makes it available to the importing module).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import textwrap
from typing import Any

import pytest
from conftest import MSG

# pytester's in-process runs remove from sys.modules whatever an inner session imported
# first. httpx / httpx2 import httpcore / httpcore2 lazily and cache their exception map on
# first use, so a later inner session would raise exceptions of a re-imported httpcore that
# the stack no longer maps (a raw httpcore2.ReadTimeout instead of httpx2.ReadTimeout).
# Importing the cores here, in the outer session, keeps one module object for all runs.
# The same holds for the plugin's transport: respx refuses a second mocker class of the
# same name, which a re-imported module would define.
for _module in ("httpcore", "httpcore2", "pytest_claude_timeout.transports.httpcore_mock"):
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)

# Shared by every inner test file: the request, and the HTTP stack of the installed SDK line.
HEADER = f"""
import importlib

import anthropic
import pytest

import pytest_claude_timeout as pct

SDK_MAJOR = int(anthropic.__version__.split(".")[0])
stack = importlib.import_module("httpx2" if SDK_MAJOR >= 1 else "httpx")
MSG = {MSG!r}
TEXT = pct.FakeApi().text
"""

INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""


def sync_and_async(name: str, params: str, body: str, decorators: str = "") -> str:
    """Two inner tests from one body: ``test_<name>_sync`` with ``anthropic.Anthropic`` and
    ``test_<name>_async`` with ``AsyncAnthropic`` on pytest-asyncio. In ``body``, ``Client``
    is the client class, ``AWAIT `` and ``ASYNC `` mark where the async form awaits."""
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    sync = body.replace("AWAIT ", "").replace("ASYNC ", "")
    asynchronous = body.replace("AWAIT ", "await ").replace("ASYNC ", "async ")
    decorators = textwrap.dedent(decorators).strip("\n")
    lines = f"{decorators}\n" if decorators else ""
    return (
        f"\n\n{lines}def test_{name}_sync({params}):\n    Client = anthropic.Anthropic\n{sync}\n"
        f"\n\n{lines}@pytest.mark.asyncio\nasync def test_{name}_async({params}):\n"
        f"    Client = anthropic.AsyncAnthropic\n{asynchronous}\n"
    )


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=HEADER + source)
    return pytester.runpytest("-p", "no:cacheprovider", "-v", *args)


def run_with_report(pytester: pytest.Pytester, source: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """``run()`` with ``--claude-timeout-report``: the result, and the report's records by
    node id (the marker's and the audit's items)."""
    path = pytester.path / "claude-timeout-report.json"
    result = run(pytester, source, f"--claude-timeout-report={path}", *args)
    items = json.loads(path.read_text())["items"] if path.exists() else []
    return result, {record["nodeid"]: record for record in items}
