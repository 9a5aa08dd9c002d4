"""``@pytest.mark.claude_timeout(*scenarios, budget=None, expect=None)``: reading and
checking its arguments, and the ids of the items it makes. No pytest hooks here."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .scenarios import Scenario, ScenarioError, scenario_from_spec

MARKER = "claude_timeout"
SCENARIO_FIXTURE = "claude_timeout_scenario"
ID_PREFIX = "claude_timeout:"

STANDARD_SCENARIOS = ("slow_prefill", "stalled_stream", "proxy_cutoff:30", "proxy_cutoff:60", "dns_failure")
"""What the marker runs when it names no scenario."""


class MarkerError(ValueError):
    """The marker was given something it cannot use; the message names the bad argument."""


@dataclass(frozen=True)
class MarkerSpec:
    scenarios: tuple[Scenario, ...]
    budget: float | None = None
    expect: tuple[type[BaseException], ...] | None = None

    def ids(self) -> list[str]:
        return [ID_PREFIX + s.label() for s in self.scenarios]


def parse_marker(args: Sequence[Any], kwargs: dict[str, Any]) -> MarkerSpec:
    """Turn the marker's arguments into a spec, or raise :class:`MarkerError`."""
    unknown = sorted(set(kwargs) - {"budget", "expect"})
    if unknown:
        raise MarkerError(f"unknown keyword argument(s) {unknown}; the marker takes budget= and expect=")
    specs: Sequence[Any] = args or STANDARD_SCENARIOS
    scenarios = []
    for spec in specs:
        try:
            scenarios.append(scenario_from_spec(spec))
        except ScenarioError as exc:
            raise MarkerError(f"bad scenario {spec!r}: {exc}") from None
    return MarkerSpec(tuple(scenarios), _budget(kwargs.get("budget")), _expect(kwargs.get("expect")))


def _budget(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise MarkerError(f"budget= must be a non-negative number of virtual seconds, not {value!r}")
    return float(value)


def _expect(value: Any) -> tuple[type[BaseException], ...] | None:
    if value is None:
        return None
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(inspect.isclass(t) and issubclass(t, BaseException) for t in types):
        raise MarkerError(f"expect= must be an exception type or a tuple of them, not {value!r}")
    return types


def type_name(t: type) -> str:
    module = t.__module__
    if module == "builtins":
        return t.__qualname__
    if module.startswith("anthropic"):
        module = "anthropic"  # the public name, not anthropic._exceptions
    elif module.startswith(("httpx", "httpcore")):
        module = module.split(".")[0]
    elif module.startswith("pytest_claude_timeout"):
        module = "pytest_claude_timeout"
    return f"{module}.{t.__qualname__}"


def expect_names(expect: tuple[type[BaseException], ...]) -> str:
    return " or ".join(type_name(t) for t in expect)
