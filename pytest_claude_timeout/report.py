"""Reports: the per-item record, the failure text, the session matrix, the JSON report and
the regression baseline. Records are plain JSON-ready dicts, so they travel through pytest's
``user_properties`` (and so through pytest-xdist) unchanged."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

RECORD_PROPERTY = "claude_timeout.record"
REPORT_VERSION = 1


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "forever"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def row_name(nodeid: str, scenario_id: str) -> str:
    """The node id without the scenario's part of the parameter id."""
    name = nodeid.replace(scenario_id, "")
    for junk, fixed in (("[-", "["), ("-]", "]"), ("--", "-"), ("[]", "")):
        name = name.replace(junk, fixed)
    return name


def failure_text(record: Mapping[str, Any], timeline: str) -> str:
    budget = record.get("budget")
    lines = [
        f"claude_timeout: FAILED under {record['description']}",
        f"verdict: {record['kind']}",
        f"reason: {record['reason']}",
        f"virtual elapsed: {record['elapsed']:.3f} s (budget: {'none' if budget is None else f'{budget:g} s'})",
        f"client: {sdk_line(record['sdk'])}",
    ]
    if record.get("raised_at"):
        lines.append(f"raised at: {record['raised_at']}")
    lines += ["", "virtual timeline:", timeline]
    if record.get("diagnosis"):
        lines += ["", "diagnosis:", *(f"- {d}" for d in record["diagnosis"])]
    return "\n".join(lines)


def sdk_line(sdk: Mapping[str, Any]) -> str:
    return f"anthropic {sdk.get('anthropic')} on {sdk.get('stack')} {sdk.get('stack_version')}"


def _cell(record: Mapping[str, Any]) -> str:
    mark = "ok" if record["verdict"] == "passed" else "FAIL"
    return f"{mark} {record['elapsed']:.1f}s"


def summary_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """A matrix: one row per test (or client factory), one column per scenario."""
    records = list(records)
    if not records:
        return []
    columns: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    for r in sorted(records, key=lambda r: r["nodeid"]):
        if r["scenario"] not in columns:
            columns.append(r["scenario"])
        rows.setdefault(r["row"], {})[r["scenario"]] = _cell(r)
    width = max(len(name) for name in rows)
    widths = [max(len(c), 12) for c in columns]
    head = "test".ljust(width) + " | " + " | ".join(c.ljust(w) for c, w in zip(columns, widths))
    lines = [head, "-" * len(head)]
    for name, cells in rows.items():
        lines.append(name.ljust(width) + " | " + " | ".join(cells.get(c, "-").ljust(w) for c, w in zip(columns, widths)))
    failed = sum(r["verdict"] != "passed" for r in records)
    lines.append(f"{len(records)} scenario run(s), {failed} failed; times are virtual seconds")
    return lines


def write_report(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    data = {"version": REPORT_VERSION, "items": sorted(records, key=lambda r: r["nodeid"])}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_baseline(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    data = {r["nodeid"]: {"verdict": r["verdict"], "elapsed": r["elapsed"]} for r in records}
    Path(path).write_text(json.dumps({"version": REPORT_VERSION, "items": data}, indent=2, sort_keys=True) + "\n")


def load_baseline(path: str | Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
        items = data["items"]
        assert isinstance(items, dict)
    except (OSError, ValueError, KeyError, AssertionError) as exc:
        raise ValueError(f"cannot read the claude-timeout baseline {path}: {exc}") from None
    return items


def regressions(
    baseline: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]], tolerance: float
) -> list[str]:
    """What got worse since the baseline: a survivor that fails now, or more virtual time."""
    found = []
    for r in sorted(records, key=lambda r: r["nodeid"]):
        before = baseline.get(r["nodeid"])
        if before is None:
            continue
        if before["verdict"] == "passed" and r["verdict"] != "passed":
            found.append(f"{r['nodeid']}: passed in the baseline, now fails ({r['kind']}: {r['reason']})")
        elif r["elapsed"] > before["elapsed"] * (1 + tolerance) + 1e-6:
            grew = r["elapsed"] - before["elapsed"]
            found.append(
                f"{r['nodeid']}: virtual elapsed grew from {before['elapsed']:.3f} s to {r['elapsed']:.3f} s "
                f"(+{grew:.3f} s), beyond the {tolerance:.0%} tolerance"
            )
    return found
