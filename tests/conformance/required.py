"""Real software the conformance suite needs (nginx, Node.js and the Node SDK): skip when
it is missing on a developer's machine, fail instead when ``CI`` is set, so that a green
CI run proves the real software was exercised (``.ci/run`` installs it)."""

from __future__ import annotations

import os

import pytest


def under_ci() -> bool:
    """True in CI (``CI`` set to anything but empty, ``0``, ``false`` or ``no``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(found: str | None, what: str, how: str) -> str:
    """``found``, or skip (locally) / fail (under CI) saying what is missing and how to get it."""
    if found:
        return found
    message = f"{what} is not available: {how}"
    if under_ci():
        pytest.fail(f"{message} (CI is set: the conformance suite must run, not skip)", pytrace=False)
    pytest.skip(message)


def announce(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal even while output is captured, so that a CI log shows
    which real software the conformance suite ran against."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)
