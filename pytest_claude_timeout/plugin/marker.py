"""``@pytest.mark.claude_timeout(*scenarios, budget=None, expect=None, envelope=None, grade=None, respond=None)``: reading and
checking its arguments, and the ids of the items it makes. No pytest hooks here."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..scenarios import Scenario, ScenarioError, scenario_from_spec
from .grading import Grading, GradingError

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
    envelope: dict[str, float] | None = None
    """Search each scenario's survival envelope: the range (``low``, ``high``) and
    ``resolution`` to search with, and ``infinity`` (0: no probe at infinity) (empty: the
    defaults)."""
    grade: Grading | None = None
    """How the client's retrying is graded (``grade=``; see ``grading``)."""

    def labels(self) -> list[str]:
        """One short, distinct label per scenario (``proxy_cutoff-30s``): the column of the
        session matrix, and the item id after :data:`ID_PREFIX`."""
        return distinct_labels(self.scenarios)

    def ids(self) -> list[str]:
        return [ID_PREFIX + label for label in self.labels()]


def distinct_labels(scenarios: Sequence[Scenario]) -> list[str]:
    """Each scenario's label; where two share one (``SlowPrefill(75)`` and
    ``SlowPrefill(75, ping_interval=None)``), the parameters that differ from the defaults
    are added, then the position if they still collide. pytest would otherwise make the ids
    unique with an opaque number."""
    labels = [s.label() for s in scenarios]
    for i, scenario in enumerate(scenarios):
        if labels.count(scenario.label()) > 1:
            defaults = type(scenario)().params()
            changed = [
                f"{k}={_plain(v)}" for k, v in scenario.params().items() if k != scenario.main and v != defaults[k]
            ]
            labels[i] = "-".join([scenario.label(), *changed])
    return [label if labels.count(label) == 1 else f"{label}-{i + 1}" for i, label in enumerate(labels)]


def standard_labels() -> list[str]:
    """The labels of :data:`STANDARD_SCENARIOS`, in order."""
    return distinct_labels([scenario_from_spec(s) for s in STANDARD_SCENARIOS])


def _plain(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "forever"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> MarkerSpec:
    """Turn the marker's arguments into a spec, or raise :class:`MarkerError`."""
    unknown = sorted(set(kwargs) - {"budget", "expect", "envelope", "grade", "respond"})
    if unknown:
        raise MarkerError(
            f"unknown keyword argument(s) {unknown}; the marker takes budget=, expect=, envelope=, grade= and respond="
        )
    if "respond" in kwargs and (kwargs["respond"] is None or kwargs["respond"] == []):
        raise MarkerError(
            f"respond= needs a reply (a text, a Message, a list of replies or a callable), not {kwargs['respond']!r}"
        )
    specs: Sequence[Any] = args or STANDARD_SCENARIOS
    scenarios = []
    for spec in specs:
        try:
            scenarios.append(scenario_from_spec(spec))
        except ScenarioError as exc:
            raise MarkerError(f"bad scenario {spec!r}: {exc}") from None
    budget = _budget(kwargs.get("budget"))
    return MarkerSpec(
        tuple(scenarios), budget, _expect(kwargs.get("expect")), _envelope(kwargs.get("envelope")),
        _grade(kwargs.get("grade"), budget),
    )


def _grade(value: Any, budget: float | None) -> Grading | None:
    try:
        grading = Grading.parse(value)
    except (GradingError, TypeError) as exc:
        raise MarkerError(f"grade=: {exc}") from None
    if grading is not None and grading.checks == ("no_deadline",) and grading.deadline is None and budget is None:
        raise MarkerError(
            "grade='no_deadline' needs a deadline: give the marker budget=, or grade={'checks': 'no_deadline', 'deadline': ...}"
        )
    return grading


ENVELOPE_KEYS = ("low", "high", "resolution", "infinity")


def _envelope(value: Any) -> dict[str, float] | None:
    """``True`` (search with the defaults), or a dict with any of ``low``, ``high`` (``inf``:
    up to the horizon) and ``resolution`` (virtual seconds, or a count for a count
    parameter), and ``infinity`` (``False``: no probe at infinity; stored as 0 or 1)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict) or set(value) - set(ENVELOPE_KEYS):
        raise MarkerError(f"envelope= must be True or a dict with keys from {list(ENVELOPE_KEYS)}, not {value!r}")
    for key, number in value.items():
        if key == "infinity":
            if not isinstance(number, bool):
                raise MarkerError(f"envelope={{'infinity': ...}} must be True or False, not {number!r}")
        elif isinstance(number, bool) or not isinstance(number, numbers.Real) or math.isnan(number) or number < 0:
            raise MarkerError(f"envelope={{{key!r}: ...}} must be a non-negative number, not {number!r}")
    if value.get("resolution", 1) <= 0 or value.get("low", 0) > value.get("high", math.inf):
        raise MarkerError(f"envelope={value!r}: needs low <= high and a resolution > 0")
    if not math.isfinite(value.get("low", 0)) or not math.isfinite(value.get("resolution", 1)):
        raise MarkerError(f"envelope={value!r}: low and resolution must be finite (high=inf searches up to the horizon)")
    return {k: float(v) for k, v in value.items()}


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
