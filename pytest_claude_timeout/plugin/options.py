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
