"""Judging one run of a test body under one scenario: the record and, on failure, the text
pytest shows. Shared by marker items and client-factory audit items.

:func:`evaluate` needs no pytest; :func:`conclude` hands its result to a pytest item.
"""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING, Any

from .. import jsonsafe
from .marker import MarkerSpec, type_name
from .report import FIXTURE_RECORD_PROPERTY, RECORD_PROPERTY, client_line, failure_text, jsonable, row_name, sdk_line
from .verdict import diagnose, judge

if TYPE_CHECKING:
    import pytest

    from ..network.simulated import SimulatedNetwork
    from ..scenarios import Scenario

_PACKAGE_DIR = os.path.dirname(os.path.dirname(__file__))


def pass_through() -> tuple[type[BaseException], ...]:
    """What a judged body may raise without being judged: pytest's skip, xfail and exit,
    and Ctrl-C."""
    import pytest

    return (pytest.skip.Exception, pytest.xfail.Exception, pytest.exit.Exception, KeyboardInterrupt)


def raised_at(exc: BaseException) -> str | None:
    """The deepest frame of the user's own code in the exception's traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [
        f for f in frames
        if "site-packages" not in f.filename and not f.filename.startswith(_PACKAGE_DIR)
        and "/lib/python" not in f.filename
    ]
    if not own:
        return None
    f = own[-1]
    filename = f.filename
    if filename.startswith(os.getcwd() + os.sep):
        filename = os.path.relpath(filename)
    return f"{filename}:{f.lineno} in {f.name}: {f.line}"


def evaluate(
    nodeid: str,
    label: str,
    spec: MarkerSpec,
    scenario: Scenario | None,
    network: SimulatedNetwork,
    exc: BaseException | None,
    elapsed: float,
) -> tuple[dict[str, Any], str | None]:
    """The JSON-ready record of this run, and the failure text (None when it passed).

    ``label`` names the scenario's column (``proxy_cutoff-30s``); ``scenario`` is the one
    judged, as the test body left it (``network`` may hold more: a test can compose);
    ``None`` for a run of the fixtures, which judges the network's scenarios together."""
    from ..transports.httpcore_mock import stack_info

    verdict = judge(spec, exc, elapsed, network.attempts, network.faults)
    verdict.diagnosis = diagnose(network.attempts, exc, verdict, spec.budget)
    verdict.diagnosis += [f"{f.kind}: {f.text}" for f in verdict.grades]
    record: dict[str, Any] = jsonable(
        {
            "nodeid": nodeid,
            "row": row_name(nodeid, label),
            "scenario": label,
            "scenario_name": scenario.name if scenario else "+".join(s.name for s in network.scenarios) or "healthy",
            "params": scenario.params() if scenario else {},
            "description": ", ".join(s.describe() for s in network.scenarios),
            "verdict": "passed" if verdict.passed else "failed",
            "kind": verdict.kind,
            "reason": verdict.reason,
            "elapsed": round(elapsed, 6),
            "budget": spec.budget,
            "expect": [type_name(t) for t in spec.expect] if spec.expect else None,
            "exception": verdict.exception,
            "raised_at": raised_at(exc) if exc is not None else None,
            "diagnosis": verdict.diagnosis,
            "grades": [{"grade": f.grade, "kind": f.kind, "text": f.text} for f in verdict.grades],
            "attempts": [a.as_dict() for a in network.attempts],
            "refused": list(network.refused),
            "sdk": stack_info(),
        }
    )
    if network.call_reports:
        from ..network.calls import summary

        record["chaos"] = summary(network.call_reports)
    return record, None if verdict.passed else failure_text(record, network.timeline())


def fixture_run(nodeid: str, network: SimulatedNetwork, exc: BaseException | None) -> dict[str, Any]:
    """The record of a test that used the fixtures (not the marker), for the HTML report:
    pytest's own outcome is its verdict; the reason and diagnosis are computed as for the
    marker."""
    label = "+".join(s.label() for s in network.scenarios) or "healthy"
    record, _ = evaluate(nodeid, label, MarkerSpec(()), None, network, exc, network.elapsed)
    record["source"] = "fixture"
    record["row"] = nodeid
    if exc is None:
        record["kind"], record["reason"] = "returned", "the test body returned normally"
    return record


def conclude(item: pytest.Item, evaluated: tuple[dict[str, Any], str | None]) -> None:
    """Attach the record of :func:`evaluate` to ``item``, and fail the item with the failure
    report when the verdict is a failure."""
    import pytest

    record, failure = evaluated
    attach_record(item, record)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def attach_record(item: pytest.Item, record: dict[str, Any]) -> None:
    """Carry the record on the report (so through xdist) and as JUnit XML properties. A rerun
    of the item (pytest-rerunfailures) replaces the properties of the run before it."""
    item.user_properties[:] = [p for p in item.user_properties if not str(p[0]).startswith("claude_timeout.")]
    item.user_properties += [
        ("claude_timeout.scenario", record["description"]),
        ("claude_timeout.verdict", record["verdict"]),
        ("claude_timeout.kind", record["kind"]),
        ("claude_timeout.reason", record["reason"]),
        ("claude_timeout.elapsed", f"{record['elapsed']:.3f}"),
        ("claude_timeout.attempts", str(len(record["attempts"]))),
        ("claude_timeout.sdk", sdk_line(record["sdk"])),
        ("claude_timeout.client", client_line(record)),
        (RECORD_PROPERTY, jsonsafe.dumps(record, sort_keys=True)),
    ]


def attach_fixture_record(item: pytest.Item, record: dict[str, Any]) -> None:
    """Carry a fixture run's record on the report (so through xdist), for the HTML report."""
    item.user_properties.append((FIXTURE_RECORD_PROPERTY, jsonsafe.dumps(record, sort_keys=True)))
