"""Session-wide output: gathers each scenario run's record (from the reports, so xdist
workers' runs arrive too) and writes the matrix, the JSON report, the HTML report and the
baseline."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .report import (
    FIXTURE_RECORD_PROPERTY,
    RECORD_PROPERTY,
    envelope_lines,
    load_baseline,
    regressions,
    save_baseline,
    summary_lines,
    write_report,
)


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


class SessionReport:
    """Registered as a plugin by ``plugin.pytest_configure``. On an xdist worker it does
    nothing: the controller receives every worker's reports and writes one summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, dict[str, Any]] = {}
        """By node id: a rerun of an item replaces its earlier record."""
        self.fixture_records: dict[str, dict[str, Any]] = {}
        """Tests on the fixtures, recorded only for the HTML report."""
        self.html: str | None = None
        self.regressions: list[str] = []
        self.is_worker = hasattr(config, "workerinput")
        self.tolerance = config.getoption("claude_timeout_tolerance")
        if not self.tolerance >= 0:
            raise pytest.UsageError(f"--claude-timeout-tolerance must be >= 0 (0.1 = 10%), not {self.tolerance!r}")
        baseline = config.getoption("claude_timeout_baseline")
        try:
            self.baseline = load_baseline(baseline) if baseline and not self.is_worker else None
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name in (RECORD_PROPERTY, FIXTURE_RECORD_PROPERTY):
                record = json.loads(str(value))
                record["outcome"] = _outcome(report)
                if name == RECORD_PROPERTY:
                    self.records[record["nodeid"]] = record
                else:
                    record["verdict"] = "passed" if report.passed else "failed"
                    self.fixture_records[record["nodeid"]] = record

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        records = list(self.records.values())
        option = self.config.getoption
        if option("claude_timeout_report"):
            write_report(option("claude_timeout_report"), records)
        if option("claude_timeout_html"):
            from .html_report import write_html

            self.html = str(option("claude_timeout_html"))
            write_html(self.html, records, list(self.fixture_records.values()))
        if option("claude_timeout_save_baseline"):
            save_baseline(option("claude_timeout_save_baseline"), records)
        if self.baseline is not None:
            self.regressions = regressions(self.baseline, records, self.tolerance)
            if self.regressions:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        lines = summary_lines(self.records.values())
        if lines:
            terminalreporter.write_sep("=", "claude-timeout: scenarios x tests")
            for line in lines:
                terminalreporter.write_line(line)
        envelopes = envelope_lines(self.records.values())
        if envelopes:
            terminalreporter.write_sep("=", "claude-timeout: survival envelopes")
            for line in envelopes:
                terminalreporter.write_line(line)
        if self.html is not None:
            terminalreporter.write_line(f"claude-timeout: HTML report written to {self.html}")
        if self.baseline is not None:
            if self.regressions:
                terminalreporter.write_sep(
                    "=", f"claude-timeout: {len(self.regressions)} REGRESSION(S) against the baseline", red=True
                )
                for line in self.regressions:
                    terminalreporter.write_line(line)
            else:
                terminalreporter.write_line("claude-timeout: no regression against the baseline")
