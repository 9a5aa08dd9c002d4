"""The survival envelope through pytest, in inner sessions on the real SDK: asked for by the
marker (``envelope=``) or for the session (``--claude-timeout-envelope``, which covers the
audit of client factories too); reported in the terminal, the JSON report and the HTML
report; and compared with the baseline, so a shrinking envelope fails the session even
when every verdict is unchanged."""

from __future__ import annotations

import json

import pytest
from pytester_helpers import HEADER, INI, inner, run, run_with_report  # noqa: F401 (inner: a fixture)

MARKED = """

@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:60", envelope={"high": 900})
def test_sync(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.create(**MSG)


@pytest.mark.claude_timeout("slow_prefill", envelope={"high": 900})
async def test_async(claude_network):
    await anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)


@pytest.mark.claude_timeout("slow_prefill")
def test_without(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)
"""


def test_the_marker_asks_for_an_envelope_per_scenario(inner: pytest.Pytester) -> None:
    result, records = run_with_report(inner, MARKED, "--claude-timeout-html=report.html")
    result.assert_outcomes(passed=2, failed=2)  # the 60 s client fails both of its scenarios

    sync = records["test_inner.py::test_sync[claude_timeout:slow_prefill-75s]"]["envelope"]
    assert (sync["scenario"], sync["parameter"], sync["low"], sync["high"]) == ("slow_prefill", "seconds", 0, 900)
    assert [(s["low"], s["high"], s["passed"]) for s in sync["segments"]] == [(0, 60, True), (61, 900, False)]
    assert sync["segments"][1]["first"]["exception"] == "APITimeoutError"
    assert sync["summary"].startswith("survives slow_prefill up to seconds=60 s (then APITimeoutError after 3 attempts")

    proxy = records["test_inner.py::test_sync[claude_timeout:proxy_cutoff-60s]"]["envelope"]
    assert proxy["summary"].startswith("never survives proxy_cutoff at any idle from 0 s to 900 s")  # 75 s upstream > 60 s

    asynchronous = records["test_inner.py::test_async[claude_timeout:slow_prefill-75s]"]["envelope"]
    assert [(s["low"], s["high"], s["passed"]) for s in asynchronous["segments"]] == [(0, 120, True), (121, 900, False)]
    assert "envelope" not in records["test_inner.py::test_without[claude_timeout:slow_prefill-75s]"]

    result.stdout.fnmatch_lines([
        "*claude-timeout: survival envelopes*",
        "test_inner.py::test_async: survives slow_prefill up to seconds=120 s (then APITimeoutError after 3 attempts, *",
        "test_inner.py::test_sync: never survives proxy_cutoff at any idle from 0 s to 900 s (*",
        "test_inner.py::test_sync: survives slow_prefill up to seconds=60 s (then APITimeoutError after 3 attempts, *",
    ])
    page = (inner.path / "report.html").read_text()
    assert page.count("<svg class='envelope'") == 3 and "Survival envelopes" in page


BASELINE = """
import os


@pytest.mark.claude_timeout("slow_prefill:30", envelope={"high": 600})
def test_prefill(claude_network):
    timeout = float(os.environ["CLIENT_READ_TIMEOUT"])
    anthropic.Anthropic(api_key="sk-ant-test", timeout=timeout).messages.create(**MSG)
"""


def _baseline_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, timeout: int, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CLIENT_READ_TIMEOUT", str(timeout))
    return run(pytester, BASELINE, *args)


def test_a_shrinking_envelope_fails_the_baseline_though_every_verdict_holds(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = _baseline_run(inner, monkeypatch, 179, "--claude-timeout-save-baseline=baseline.json")
    saved.assert_outcomes(passed=1)
    entry = json.loads((inner.path / "baseline.json").read_text())["items"]["test_inner.py::test_prefill[claude_timeout:slow_prefill-30s]"]
    assert entry["envelope"]["summary"].startswith("survives slow_prefill up to seconds=179 s")

    same = _baseline_run(inner, monkeypatch, 179, "--claude-timeout-baseline=baseline.json")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["claude-timeout: no regression against the baseline"])

    # Someone "simplifies" the timeout to 59 s: the 30 s prefill still passes, the envelope shrank.
    shrunk = _baseline_run(inner, monkeypatch, 59, "--claude-timeout-baseline=baseline.json")
    shrunk.assert_outcomes(passed=1)
    assert shrunk.ret == pytest.ExitCode.TESTS_FAILED
    shrunk.stdout.fnmatch_lines([
        "*claude-timeout: 1 REGRESSION(S) against the baseline*",
        "test_inner.py::test_prefill[[]claude_timeout:slow_prefill-30s[]]: the survival envelope shrank: it no longer "
        "survives slow_prefill at seconds between 59 and 179 s (baseline: survives slow_prefill up to seconds=179 s *; "
        "now: survives slow_prefill up to seconds=59 s *)",
    ])

    grown = _baseline_run(inner, monkeypatch, 300, "--claude-timeout-baseline=baseline.json")
    assert grown.ret == 0


FACTORIES = """
import anthropic


def make_client():
    return anthropic.Anthropic(timeout=60)
"""


def test_the_session_option_covers_the_audit_of_client_factories(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "claude_timeout_clients = factories:make_client\n")
    pytester.makepyfile(factories=FACTORIES)
    pytester.syspathinsert()
    result, records = run_with_report(
        pytester, "\n\ndef test_own():\n    pass\n", "--claude-timeout-envelope", "-k", "non-streaming and slow_prefill"
    )
    result.assert_outcomes(failed=1)  # 60 s against the standard 75 s prefill
    (record,) = [r for r in records.values() if "envelope" in r]
    assert record["nodeid"] == "claude_timeout_clients[factories:make_client]::non-streaming[claude_timeout:slow_prefill-75s]"
    assert record["envelope"]["summary"].startswith("survives slow_prefill up to seconds=60 s (then APITimeoutError after 3 attempts")
