"""The survival envelope through pytest, in inner sessions on the real SDK: asked for by the
marker (``envelope=``) or for the session (``--claude-timeout-envelope``, which covers the
audit of client factories too); reported in the terminal, the JSON report and the HTML
report; and compared with the baseline, so a shrinking envelope fails the session even
when every verdict is unchanged."""

from __future__ import annotations

import json
import re
from typing import Any

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


def assert_one_regression(result: pytest.RunResult, line: str) -> None:
    """The test itself passed, and the session failed on one regression: ``line``."""
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*claude-timeout: 1 REGRESSION(S) against the baseline*", line])


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
    assert_one_regression(
        shrunk,
        "test_inner.py::test_prefill[[]claude_timeout:slow_prefill-30s[]]: the survival envelope shrank: it no longer "
        "survives slow_prefill at seconds between 59 and 179 s (baseline: survives slow_prefill up to seconds=179 s *; "
        "now: survives slow_prefill up to seconds=59 s *)",
    )

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


# -- infinity: a stall that never ends -----------------------------------------------------------
STALLS = """

@pytest.mark.claude_timeout("stalled_stream", envelope={"high": 600})
def test_stream(claude_network):  # the default stall never ends: its 60 s read timeout stops it
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()


@pytest.mark.claude_timeout("stalled_stream", expect=stack.ReadTimeout, envelope=True)
def test_expects_the_timeout(claude_network):
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()


@pytest.mark.claude_timeout("stalled_stream", envelope={"high": 600})
async def test_async_without_a_read_timeout(claude_network):
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=anthropic.Timeout(None))
    async with client.messages.stream(**MSG) as stream:
        await stream.get_final_message()
"""
STREAM = "test_inner.py::test_stream[claude_timeout:stalled_stream-forever]"
EXPECTS = "test_inner.py::test_expects_the_timeout[claude_timeout:stalled_stream-forever]"
UNBOUNDED = "test_inner.py::test_async_without_a_read_timeout[claude_timeout:stalled_stream-forever]"


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: ``Infinity``, ``-Infinity`` and ``NaN`` are refused."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_marker_probes_a_stall_that_never_ends(inner: pytest.Pytester) -> None:
    result, _ = run_with_report(
        inner, STALLS, "--claude-timeout-html=report.html", "--claude-timeout-save-baseline=baseline.json"
    )
    result.assert_outcomes(passed=1, failed=2)

    # every JSON file is JSON: infinity written as "forever", read back as infinity
    records = {r["nodeid"]: r for r in strict_json((inner.path / "claude-timeout-report.json").read_text())["items"]}
    baseline = strict_json((inner.path / "baseline.json").read_text())["items"]
    assert baseline[STREAM]["envelope"] == records[STREAM]["envelope"]

    stream = records[STREAM]["envelope"]
    assert [(s["low"], s["high"], s["passed"]) for s in stream["segments"]] == [(0, 60, True), (61, 600, False)]
    assert stream["infinity"] == {
        "value": "forever", "passed": False, "kind": "exception escaped", "exception": "ReadTimeout", "attempts": 1, "elapsed": 60.0,
    }
    assert stream["summary"] == (
        "survives stalled_stream up to stall=60 s (then ReadTimeout after 1 attempt, 60.0 s); "
        "at stall=inf: fails, though the client stops it itself (ReadTimeout after 1 attempt, 60.0 s)"
    )

    # judged as the marker judges: with expect=, a stall the client gives up on survives, at inf too
    expects = records[EXPECTS]["envelope"]
    assert (expects["high"], expects["infinity"]["passed"], expects["infinity"]["kind"]) == (86400, True, "raised as expected")
    assert expects["summary"].startswith("survives stalled_stream at every stall >= 61 s (below: no exception after 1 attempt")
    assert expects["summary"].endswith(
        "; at stall=inf: survives (the client stops it itself: ReadTimeout after 1 attempt, 60.0 s, as expected)"
    )

    # no read timeout at all: every finite stall ends; one without end is never stopped
    unbounded = records[UNBOUNDED]["envelope"]
    assert [(s["low"], s["high"], s["passed"]) for s in unbounded["segments"]] == [(0, 600, True)]
    assert (unbounded["infinity"]["kind"], unbounded["infinity"]["exception"]) == ("horizon", "HorizonExceeded")
    assert unbounded["summary"].endswith("; at stall=inf: fails (HorizonExceeded after 1 attempt: nothing bounds the wait, no overall deadline)")

    result.stdout.fnmatch_lines([
        "*claude-timeout: survival envelopes*",
        "test_inner.py::test_async_without_a_read_timeout: survives stalled_stream at every stall from 0 s to 600 s "
        "(the range searched); at stall=inf: fails (HorizonExceeded after 1 attempt: nothing bounds the wait, no overall deadline) [[]* runs[]]",
        "test_inner.py::test_expects_the_timeout: survives stalled_stream at every stall >= 61 s *; at stall=inf: survives *",
        "test_inner.py::test_stream: survives stalled_stream up to stall=60 s *; at stall=inf: fails, though the client stops it itself *",
    ])

    # the HTML report draws each probe at infinity as an end cap past the band
    page = (inner.path / "report.html").read_text()
    caps = re.findall(r"<polygon class='band-seg band-inf band-(pass|fail)' data-value='inf' data-passed='(\w+)' data-outcome='(\w+)'", page)
    assert sorted(caps) == [("fail", "false", "HorizonExceeded"), ("fail", "false", "ReadTimeout"), ("pass", "true", "survives")]
    assert "Infinity" not in page and "NaN" not in page


AT_INFINITY = """
import os


@pytest.mark.claude_timeout("stalled_stream:30", envelope={"high": 600})
def test_stream(claude_network):
    read = os.environ["CLIENT_READ_TIMEOUT"]
    client = anthropic.Anthropic(api_key="sk-ant-test", timeout=anthropic.Timeout(None if read == "none" else float(read)))
    try:
        with client.messages.stream(**MSG) as stream:
            stream.get_final_message()
    except stack.ReadTimeout:
        pass  # the application gives up on a stalled answer, and says so
"""


def test_losing_the_deadline_at_infinity_fails_the_baseline(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    def session(read_timeout: str, *args: str) -> pytest.RunResult:
        monkeypatch.setenv("CLIENT_READ_TIMEOUT", read_timeout)
        return run(inner, AT_INFINITY, *args)

    saved = session("3600", "--claude-timeout-save-baseline=baseline.json")
    saved.assert_outcomes(passed=1)
    entry = strict_json((inner.path / "baseline.json").read_text())["items"]["test_inner.py::test_stream[claude_timeout:stalled_stream-30s]"]
    assert entry["envelope"]["infinity"]["passed"] is True  # the 3600 s read timeout ends a stall without end
    assert session("3600", "--claude-timeout-baseline=baseline.json").ret == 0

    # The read timeout is dropped: the test's 30 s stall and every finite one still pass, the
    # elapsed time is the same; only a stall without end now hangs the call forever.
    assert_one_regression(
        session("none", "--claude-timeout-baseline=baseline.json"),
        "test_inner.py::test_stream[[]claude_timeout:stalled_stream-30s[]]: the survival envelope shrank: it no longer survives "
        "stalled_stream at stall=inf (baseline: survives stalled_stream at every stall from 0 s to 600 s (the range searched); "
        "at stall=inf: survives (returned after 1 attempt, 3600.0 s); now: * at stall=inf: fails (HorizonExceeded *)",
    )


def test_the_session_option_probes_infinity_for_audited_factories(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "claude_timeout_clients = factories:make_client\n")
    pytester.makepyfile(factories=FACTORIES)
    pytester.syspathinsert()
    result, records = run_with_report(pytester, "\n\ndef test_own():\n    pass\n", "--claude-timeout-envelope", "-k", "stalled_stream")
    result.assert_outcomes(passed=1, failed=1)  # the stream's 60 s read timeout ends the endless stall

    envelopes = {nodeid.split("::")[1]: r["envelope"] for nodeid, r in records.items()}
    assert set(envelopes) == {"non-streaming[claude_timeout:stalled_stream-forever]", "streaming[claude_timeout:stalled_stream-forever]"}
    streaming = envelopes["streaming[claude_timeout:stalled_stream-forever]"]
    assert (streaming["infinity"]["value"], streaming["infinity"]["exception"]) == ("forever", "ReadTimeout")
    assert streaming["summary"].startswith("survives stalled_stream up to stall=60 s (then ReadTimeout after 1 attempt, 60.0 s); at stall=inf: fails")
    non_streaming = envelopes["non-streaming[claude_timeout:stalled_stream-forever]"]  # no stream to stall
    assert non_streaming["infinity"]["passed"] is True and non_streaming["summary"].endswith("; at stall=inf: survives (returned after 1 attempt, 0.0 s)")


SETTINGS = """

@pytest.mark.claude_timeout("stalled_stream", "dns_failure", envelope={"high": float("inf")})
def test_up_to_infinity(claude_network):
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()


@pytest.mark.claude_timeout("stalled_stream", envelope={"high": 600, "infinity": False})
def test_without_infinity(claude_network):
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()
"""


def test_the_markers_settings_for_infinity(inner: pytest.Pytester) -> None:
    result, records = run_with_report(inner, SETTINGS, "--claude-timeout-horizon=3600")
    result.assert_outcomes(passed=1, failed=2)  # the endless stall, twice; dns_failure's one failure is retried away
    envelopes = {nodeid.split("::")[1]: r["envelope"] for nodeid, r in records.items()}

    # high=inf: up to the horizon, and infinity (a count keeps its own range: it is never infinite)
    stall = envelopes["test_up_to_infinity[claude_timeout:stalled_stream-forever]"]
    assert (stall["high"], stall["infinity"]["exception"]) == (3600, "ReadTimeout")
    dns = envelopes["test_up_to_infinity[claude_timeout:dns_failure-1]"]
    assert (dns["low"], dns["high"], dns["infinity"]) == (1, 10, None)

    # infinity=False: no probe there
    without = envelopes["test_without_infinity[claude_timeout:stalled_stream-forever]"]
    assert without["infinity"] is None and without["summary"] == "survives stalled_stream up to stall=60 s (then ReadTimeout after 1 attempt, 60.0 s)"
