"""The plugin's command-line options and ini values, checked once at startup
(``pytest_configure``): a bad value is one usage error that names the option and what it
accepts, before any test runs, instead of an error in every test."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

HORIZON_OPTION = "--claude-timeout-horizon"
HORIZON_INI = "claude_timeout_horizon"
_HORIZON = pytest.StashKey[float]()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def add(parser: pytest.Parser) -> None:
    """Declare the plugin's command-line options and ini values (``pytest_addoption``)."""
    group = parser.getgroup("claude-timeout", "pytest-claude-timeout: Anthropic clients on a simulated network")
    group.addoption(
        "--claude-timeout-horizon", dest="claude_timeout_horizon", type=float, default=None,
        help="virtual seconds after which any simulated wait ends with HorizonExceeded (default 86400)",
    )
    group.addoption(
        "--claude-timeout-report", dest="claude_timeout_report", default=None, metavar="PATH",
        help="write every scenario run (verdict, reason, attempts, SDK) as JSON to PATH",
    )
    group.addoption(
        "--claude-timeout-save-baseline", dest="claude_timeout_save_baseline", default=None, metavar="PATH",
        help="store each scenario run's verdict and virtual elapsed time in PATH",
    )
    group.addoption(
        "--claude-timeout-baseline", dest="claude_timeout_baseline", default=None, metavar="PATH",
        help="fail the session when a scenario run regressed against the baseline in PATH",
    )
    group.addoption(
        "--claude-timeout-html", dest="claude_timeout_html", default=None, metavar="PATH",
        help="write an HTML report to PATH (one self-contained file): the matrix, each run's timeline, envelopes",
    )
    group.addoption(
        "--claude-timeout-envelope", dest="claude_timeout_envelope", action="store_true", default=False,
        help="search every scenario run's survival envelope: where its verdict changes along the "
        "scenario's main parameter (slow_prefill's seconds, proxy_cutoff's idle ...)",
    )
    group.addoption(
        "--claude-timeout-tolerance", dest="claude_timeout_tolerance", type=float, default=0.10,
        help="allowed growth of virtual elapsed time against the baseline (default 0.10 = 10%%)",
    )
    parser.addini(
        "claude_timeout_horizon", "virtual seconds after which any simulated wait ends with HorizonExceeded",
        default="86400",
    )
    parser.addini(
        "claude_timeout_allow_hosts",
        "hosts (host or host:port) the egress guard lets through while a simulated network is active "
        "(loopback is always open)",
        type="linelist", default=[],
    )
    parser.addini(
        "claude_timeout_clients", "client factories (module:function) to audit under every standard scenario",
        type="linelist", default=[],
    )


def horizon(config: pytest.Config) -> float:
    """The virtual horizon: the option, else the ini value (checked by :func:`check`)."""
    if _HORIZON in config.stash:
        return config.stash[_HORIZON]
    option = config.getoption("claude_timeout_horizon", None)
    name, value = (HORIZON_OPTION, option) if option is not None else (f"ini {HORIZON_INI}", config.getini(HORIZON_INI))
    seconds = _number(value)
    if not 0 < seconds < math.inf:
        raise pytest.UsageError(
            f"{name}: expected a positive, finite number of virtual seconds (e.g. 86400, the default), not {value!r}"
        )
    return seconds


def _writable(option: str, value: str) -> None:
    path = Path(value)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise pytest.UsageError(f"{option}={value}: expected a file path to write, not a directory")
    if not parent.is_dir():
        raise pytest.UsageError(f"{option}={value}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise pytest.UsageError(f"{option}={value}: not writable")


def check(config: pytest.Config) -> None:
    """Check every option and ini value of the plugin; raise one ``pytest.UsageError``."""
    config.stash[_HORIZON] = horizon(config)
    tolerance = config.getoption("claude_timeout_tolerance")
    if not 0 <= _number(tolerance) < math.inf:
        raise pytest.UsageError(
            f"--claude-timeout-tolerance: expected a finite number >= 0 (0.1 = 10 %), not {tolerance!r}"
        )
    for option in ("--claude-timeout-report", "--claude-timeout-save-baseline"):
        value = config.getoption(option.lstrip("-").replace("-", "_"), None)
        if value:
            _writable(option, value)
    baseline = config.getoption("claude_timeout_baseline")
    if baseline and not Path(baseline).is_file():
        raise pytest.UsageError(f"--claude-timeout-baseline={baseline}: no such file (write one with --claude-timeout-save-baseline)")
