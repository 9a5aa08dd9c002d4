"""Reports: the per-item record, the failure text, the session matrix, the JSON report and
the regression baseline. Records are plain JSON-ready dicts, so they travel through pytest's
``user_properties`` (and so through pytest-xdist) unchanged."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import jsonsafe
from .marker import ID_PREFIX, standard_labels

HARNESS_ERROR = "harness error"
"""The record's ``kind`` when the simulation itself broke: no verdict about the client."""

RECORD_PROPERTY = "claude_timeout.record"
FIXTURE_RECORD_PROPERTY = "claude_timeout.fixture_record"
"""A test on the fixtures (not the marker): recorded only for the HTML report."""
REPORT_VERSION = 1


jsonable = jsonsafe.encode
"""A record made JSON-safe: infinity as ``"forever"``, NaN as ``null``."""


def row_name(nodeid: str, label: str) -> str:
    """The node id without the scenario's part of its parameter id: the matrix row."""
    sid = re.escape(ID_PREFIX + label)
    return re.sub(rf"\[{sid}\]$|(?<=\[){sid}-|-{sid}(?=[\]-])", "", nodeid)


def expectation(record: Mapping[str, Any]) -> str:
    """What the marker asked for, in words."""
    budget = record.get("budget")
    within = "" if budget is None else f" within {budget:g} s"
    if record.get("expect"):
        return f"the test body raises {' or '.join(record['expect'])}{within}"
    return f"the test body returns normally{within}"


def failure_text(record: Mapping[str, Any], timeline: str) -> str:
    """What pytest shows for a failed scenario run: the verdict first, the virtual
    timeline, then the diagnosis."""
    failed = "HARNESS ERROR (not a verdict about the client)" if record["kind"] == HARNESS_ERROR else "FAILED"
    lines = [
        f"claude_timeout: {record['row']} {failed} under {record['description']}",
        f"expected: {expectation(record)}",
        f"verdict:  {record['kind']}",
        f"reason:   {record['reason']}",
        f"virtual elapsed: {record['elapsed']:.3f} s in {len(record['attempts'])} attempt(s)",
        f"client:   {client_line(record)}",
    ]
    if record.get("raised_at"):
        lines.append(f"raised at: {record['raised_at']}")
    lines += ["", "virtual timeline:", timeline]
    if record.get("diagnosis"):
        lines += ["", "diagnosis:", *(f"- {d}" for d in record["diagnosis"])]
    return "\n".join(lines)


def sdk_line(sdk: Mapping[str, Any]) -> str:
    return f"anthropic {sdk.get('anthropic')} on {sdk.get('stack')} {sdk.get('stack_version')}"


def client_line(record: Mapping[str, Any]) -> str:
    """What sent the requests, as each attempt recorded it (``litellm 1.110.2 on httpx
    0.28.1``); the installed SDK when no request reached the network."""
    senders: dict[str, list[str]] = {}
    for attempt in record.get("attempts", ()):
        client = attempt.get("client")
        if client:
            senders.setdefault(client["description"], []).append(str(attempt["number"]))
    if not senders:
        return f"{sdk_line(record['sdk'])} (installed; no request reached the network)"
    if len(senders) == 1:
        return next(iter(senders))
    return "; ".join(
        f"{description} (attempt{'s' if len(numbers) > 1 else ''} {', '.join(numbers)})"
        for description, numbers in senders.items()
    )


CELL_LEGEND = (
    "ok: survived; raised: raised the expected exception; FAIL: see its failure report; "
    "ERROR: the simulation itself broke (no verdict); "
    "xfail/XPASS: marked xfail; times are virtual seconds"
)


def _cell(record: Mapping[str, Any]) -> str:
    outcome = record.get("outcome")
    if outcome == "xfailed":
        mark = "xfail"
    elif outcome == "xpassed":
        mark = "XPASS"
    elif record["kind"] == HARNESS_ERROR:
        mark = "ERROR"
    elif record["verdict"] != "passed":
        mark = "FAIL"
    else:
        mark = "raised" if record["kind"] == "raised as expected" else "ok"
    return f"{mark} {record['elapsed']:.1f}s"


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Scenario labels: the standard ones first, in their usual order, then the others as
    they first appear."""
    standard = {label: i for i, label in enumerate(standard_labels())}
    seen = list(dict.fromkeys(r["scenario"] for r in records))
    return sorted(seen, key=lambda c: (standard.get(c, len(standard)), seen.index(c)))


def summary_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """A matrix: one row per test (or client factory), one column per scenario."""
    records = sorted(records, key=lambda r: r["nodeid"])
    if not records:
        return []
    columns = _columns(records)
    rows: dict[str, dict[str, str]] = {}
    for r in records:
        rows.setdefault(r["row"], {})[r["scenario"]] = _cell(r)
    width = max(len("test"), *(len(name) for name in rows))
    widths = [max(len(c), *(len(cells.get(c, "-")) for cells in rows.values())) for c in columns]
    lines = [" | ".join(["test".ljust(width), *(c.ljust(w) for c, w in zip(columns, widths))]).rstrip()]
    lines.append("-+-".join("-" * w for w in [width, *widths]))
    for name, cells in rows.items():
        lines.append(" | ".join([name.ljust(width), *(cells.get(c, "-").ljust(w) for c, w in zip(columns, widths))]).rstrip())
    xfail = sum(r.get("outcome") in ("xfailed", "xpassed") for r in records)
    failed = sum(r["verdict"] != "passed" and r.get("outcome") not in ("xfailed", "xpassed") for r in records)
    marked = f", {xfail} marked xfail" if xfail else ""
    lines.append(f"{len(records)} scenario run(s), {failed} failed{marked}. {CELL_LEGEND}")
    return lines


def write_report(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    data = {"version": REPORT_VERSION, "items": sorted(records, key=lambda r: r["nodeid"])}
    Path(path).write_text(jsonsafe.dumps(data, indent=2, sort_keys=True) + "\n")


def save_baseline(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Per scenario run: its verdict and virtual elapsed time, what a later run compares;
    and its survival envelope, when it was searched."""
    data = {r["nodeid"]: _baseline_entry(r) for r in records}
    Path(path).write_text(jsonsafe.dumps({"version": REPORT_VERSION, "items": data}, indent=2, sort_keys=True) + "\n")


def _baseline_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    entry = {"verdict": record["verdict"], "kind": record["kind"], "elapsed": record["elapsed"]}
    if record.get("envelope"):
        entry["envelope"] = record["envelope"]
    return entry


def envelope_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per searched envelope: the run's row, and where its verdict changes."""
    return [
        f"{r['row']}: {r['envelope']['summary']} [{r['envelope']['probes']} runs]"
        for r in sorted(records, key=lambda r: r["nodeid"])
        if r.get("envelope")
    ]


def envelope_regression(nodeid: str, before: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
    """A line when the envelope lost ground since the baseline (values it survived there,
    it does not survive now), else None."""
    from ..envelope import Envelope, shrinkage

    old, new = Envelope.from_dict(before), Envelope.from_dict(now)
    if (old.scenario, old.parameter) != (new.scenario, new.parameter):
        return None
    lost = shrinkage(old, new)
    if not lost:
        return None
    unit = f" {new.unit}" if new.unit else ""
    where = ", ".join(
        f"{new.parameter}=inf" if math.isinf(a) else f"{new.parameter} between {a:g} and {b:g}{unit}" for a, b in lost
    )
    return (
        f"{nodeid}: the survival envelope shrank: it no longer survives {new.scenario} at "
        f"{where} (baseline: {old.describe()}; now: {new.describe()})"
    )


def load_baseline(path: str | Path) -> dict[str, dict[str, Any]]:
    """The items of a baseline file, or ValueError saying why it cannot be used."""
    try:
        items = json.loads(Path(path).read_text())["items"]
        if not isinstance(items, dict):
            raise ValueError("'items' is not a mapping")
        for nodeid, entry in items.items():
            if entry.get("verdict") not in ("passed", "failed") or not isinstance(entry.get("elapsed"), (int, float)):
                raise ValueError(f"entry {nodeid!r} lacks a verdict or an elapsed time")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read the claude-timeout baseline {path}: {exc}") from None
    return items


def regressions(
    baseline: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]], tolerance: float
) -> list[str]:
    """What got worse since the baseline: a run that passed and fails now, one whose
    survival envelope shrank (both searched), or one whose virtual elapsed time grew by more
    than ``tolerance`` (0.1 = 10 %)."""
    found = []
    for r in sorted(records, key=lambda r: r["nodeid"]):
        before = baseline.get(r["nodeid"])
        if before is None:
            continue
        shrank = None
        if before.get("envelope") and r.get("envelope"):
            shrank = envelope_regression(r["nodeid"], before["envelope"], r["envelope"])
        if before["verdict"] == "passed" and r["verdict"] != "passed":
            reason = r["reason"].splitlines()[0] if r["reason"] else ""
            found.append(f"{r['nodeid']}: passed in the baseline, fails now ({r['kind']}: {reason})")
        elif shrank is not None:
            found.append(shrank)
        elif r["elapsed"] > before["elapsed"] * (1 + tolerance) + 1e-6:
            grew = r["elapsed"] - before["elapsed"]
            found.append(
                f"{r['nodeid']}: virtual elapsed grew from {before['elapsed']:.3f} s to {r['elapsed']:.3f} s "
                f"(+{grew:.3f} s), beyond the {tolerance:.0%} tolerance"
            )
    return found
