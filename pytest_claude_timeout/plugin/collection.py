"""Collecting marked tests: each gets the scenario fixture, parametrized over the marker's
scenarios (and pytest-asyncio's marker when async); misuse of the marker (bad arguments, a
unittest.TestCase) becomes a collection error that names the test, never a silent skip."""

from __future__ import annotations

import inspect
import unittest
from typing import Any

import pytest

from .marker import MARKER, SCENARIO_FIXTURE, MarkerError, parse_marker


class MarkerUsageError(pytest.Collector):
    """Stands in for a test whose marker arguments are wrong: a collection error that
    names the test and the bad argument, while the module's other tests still collect."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def collect(self) -> list[pytest.Item]:
        raise self.CollectError(self.message)


def _marker_on(collector: pytest.Collector, obj: object) -> pytest.Mark | None:
    own = [m for m in getattr(obj, "pytestmark", []) if getattr(m, "name", None) == MARKER]
    return own[0] if own else collector.get_closest_marker(MARKER)


def make_item(collector: pytest.Collector, name: str, obj: object) -> MarkerUsageError | None:
    """``pytest_pycollect_makeitem``: prepare a marked test function, or refuse it."""
    # A marked test needs the scenario fixture in its closure (for the parametrization)
    # and, when async, pytest-asyncio's marker: add both before the item is built. Bad
    # marker arguments become a collection error naming the test.
    # The marker is applied or refused, never ignored: a unittest.TestCase (run by unittest,
    # without fixtures) is a collection error; a staticmethod is a test function like any.
    if inspect.isclass(obj) and issubclass(obj, unittest.TestCase):
        return _refuse_unittest(collector, name, obj)
    if isinstance(obj, staticmethod):
        obj = obj.__func__  # pytest collects a test class's staticmethods as functions
    if not inspect.isfunction(obj) or not getattr(collector, "funcnamefilter", lambda n: False)(name):
        return None
    mark = _marker_on(collector, obj)
    if mark is None:
        return None
    try:
        parse_marker(mark.args, mark.kwargs)
    except MarkerError as exc:
        message = f"{collector.nodeid}::{name}: @pytest.mark.{MARKER}: {exc}"
        return MarkerUsageError.from_parent(collector, name=name, message=message)
    pytest.mark.usefixtures(SCENARIO_FIXTURE)(obj)
    if inspect.iscoroutinefunction(obj) and collector.get_closest_marker("asyncio") is None:
        if not any(getattr(m, "name", None) == "asyncio" for m in getattr(obj, "pytestmark", [])):
            pytest.mark.asyncio(obj)
    return None


def _refuse_unittest(collector: pytest.Collector, name: str, cls: type) -> MarkerUsageError | None:
    marked = [
        attr for attr, value in vars(cls).items()
        if any(getattr(m, "name", None) == MARKER for m in getattr(value, "pytestmark", []))
    ]
    if not marked and _marker_on(collector, cls) is None:
        return None
    where = f"its method(s) {', '.join(marked)}" if marked else "it"
    message = (
        f"{collector.nodeid}::{name}: @pytest.mark.{MARKER} cannot run a unittest.TestCase ({where} marked): "
        "unittest runs its methods without pytest's fixtures or parametrization. Write the test as a "
        "pytest function (or a method of a plain class), or use pytest_claude_timeout.SimulatedNetwork "
        "inside the TestCase."
    )
    return MarkerUsageError.from_parent(collector, name=name, message=message)


def parametrize(metafunc: pytest.Metafunc) -> None:
    """``pytest_generate_tests``: one item per scenario of the marker."""
    mark = metafunc.definition.get_closest_marker(MARKER)
    if mark is None:
        return
    try:
        spec = parse_marker(mark.args, mark.kwargs)
    except MarkerError as exc:  # checked at collection already; kept for markers added later
        problem = str(exc)
    else:
        metafunc.parametrize(SCENARIO_FIXTURE, spec.scenarios, ids=spec.ids(), indirect=True)
        return
    pytest.fail(f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER}: {problem}", pytrace=False)
