"""Session-wide output: gathers each scenario run's record (from the reports, so xdist
workers' runs arrive too) and writes the matrix, the JSON report and the baseline."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .report import (
    RECORD_PROPERTY,
    load_baseline,
    regressions,
    save_baseline,
    summary_lines,
    write_report,
)


class SessionReport:
    """Registered as a plugin by ``plugin.pytest_configure``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []
        self.regressions: list[str] = []
        self.is_worker = hasattr(config, "workerinput")
        baseline = config.getoption("claude_timeout_baseline")
        self.baseline = load_baseline(baseline) if baseline and not self.is_worker else None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == RECORD_PROPERTY:
                self.records.append(json.loads(value))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        option = self.config.getoption
        if option("claude_timeout_report"):
            write_report(option("claude_timeout_report"), self.records)
        if option("claude_timeout_save_baseline"):
            save_baseline(option("claude_timeout_save_baseline"), self.records)
        if self.baseline is not None:
            self.regressions = regressions(self.baseline, self.records, option("claude_timeout_tolerance"))
            if self.regressions:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        lines = summary_lines(self.records)
        if lines:
            terminalreporter.write_sep("=", "claude-timeout: scenarios x tests")
            for line in lines:
                terminalreporter.write_line(line)
        if self.baseline is not None:
            if self.regressions:
                terminalreporter.write_sep("=", "claude-timeout: REGRESSIONS against the baseline", red=True)
                for line in self.regressions:
                    terminalreporter.write_line(line)
            else:
                terminalreporter.write_line("claude-timeout: no regression against the baseline")
