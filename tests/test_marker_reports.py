"""What the marker reports, in inner pytest sessions on the real SDK: the session matrix,
the JSON report, JUnit XML properties, the same report under pytest-xdist, the regression
baseline, and the config audit of client factories (``claude_timeout_clients``)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib.metadata import version
from typing import Any

import anthropic
import pytest
from conftest import http_stack
from pytester_helpers import HEADER, INI, inner, run, run_with_report  # noqa: F401 (inner: a fixture)

from pytest_claude_timeout.plugin.marker import distinct_labels, standard_labels
from pytest_claude_timeout.plugin.report import regressions, row_name, summary_lines
from pytest_claude_timeout.scenarios import SlowPrefill

STACK = http_stack().__name__

# Three tests: a configuration that survives every standard scenario, the SDK's defaults,
# and an impatient client that is expected to time out.
MATRIX = """

def resilient_stream(client):
    for restart in range(3):  # a stream that fails mid-body is not retried by the SDK: restart it
        try:
            with client.messages.stream(**MSG) as stream:
                return stream.get_final_message()
        except (anthropic.APIError, stack.TransportError):
            if restart == 2:
                raise


@pytest.mark.claude_timeout
def test_resilient(claude_network):
    resilient_stream(anthropic.Anthropic(api_key="sk-ant-test", timeout=anthropic.Timeout(120, connect=5)))


@pytest.mark.claude_timeout
def test_defaults(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)


@pytest.mark.claude_timeout("slow_prefill", "rate_limited", expect=anthropic.APITimeoutError)
def test_impatient(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=30, max_retries=0).messages.create(**MSG)
"""


def matrix_of(result: pytest.RunResult) -> list[list[str]]:
    """The session matrix's cells, row by row (the header first, the rule left out)."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "claude-timeout: scenarios x tests" in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("-"):
            continue  # the rule under the header
        if " | " not in line:
            break
        rows.append([cell.strip() for cell in line.split(" | ")])
    return rows


def test_summary_matrix(inner: pytest.Pytester) -> None:
    result = run(inner, MATRIX)
    result.assert_outcomes(passed=9, failed=3)
    assert sum("claude-timeout: scenarios x tests" in line for line in result.outlines) == 1
    header, *rows = matrix_of(result)
    assert header == ["test", *standard_labels(), "rate_limited-5s"]
    assert [row[0] for row in rows] == [
        "test_inner.py::test_defaults",
        "test_inner.py::test_impatient",
        "test_inner.py::test_resilient",
    ]
    patterns = {
        "test_inner.py::test_defaults": ["ok 75.0s", "ok 0.0s", r"FAIL 91\.\ds", r"FAIL 18\d\.\ds", r"ok 0\.\ds", "-"],
        "test_inner.py::test_impatient": ["raised 30.0s", "-", "-", "-", "-", "FAIL 0.0s"],
        "test_inner.py::test_resilient": ["ok 75.0s", "ok 120.0s", "ok 75.0s", "ok 75.0s", r"ok 0\.\ds", "-"],
    }
    for name, *cells in rows:
        assert all(re.fullmatch(p, c) for p, c in zip(patterns[name], cells)), (name, cells)
    result.stdout.fnmatch_lines(["12 scenario run(s), 3 failed. ok: survived; raised: raised the expected exception; *"])


def test_json_report(inner: pytest.Pytester) -> None:
    result, records = run_with_report(inner, MATRIX)
    result.assert_outcomes(passed=9, failed=3)
    assert len(records) == 12
    report = json.loads((inner.path / "claude-timeout-report.json").read_text())
    assert report["version"] == 1
    assert [r["nodeid"] for r in report["items"]] == sorted(records)

    cut = records["test_inner.py::test_defaults[claude_timeout:proxy_cutoff-60s]"]
    assert {k: cut[k] for k in ("row", "scenario", "scenario_name", "params", "verdict", "kind", "outcome")} == {
        "row": "test_inner.py::test_defaults",
        "scenario": "proxy_cutoff-60s",
        "scenario_name": "proxy_cutoff",
        "params": {"idle": 60, "upstream": 75, "ping_interval": 10, "status": 504, "server": "nginx"},
        "verdict": "failed",
        "kind": "exception escaped",
        "outcome": "failed",
    }
    assert cut["description"] == "proxy_cutoff(idle=60, upstream=75, ping_interval=10, status=504, server='nginx')"
    assert re.fullmatch(r"anthropic\.\w+ \(status 504\) escaped from the test body: 504 Gateway Time-out nginx", cut["reason"])
    assert 181 < cut["elapsed"] < 183
    assert (cut["budget"], cut["expect"]) == (None, None)
    assert cut["diagnosis"][0].startswith("read timeout 600 s exceeds the proxy's 60 s idle cutoff")
    assert [(a["number"], a["retry_count"], a["status"], a["outcome"]) for a in cut["attempts"]] == [
        (n, n - 1, 504, "504, body complete") for n in (1, 2, 3)
    ]
    assert cut["attempts"][0]["timeouts"] == {"connect": 5, "read": 600, "write": 600, "pool": 600}
    assert (cut["attempts"][0]["start"], cut["attempts"][0]["end"]) == (0, 60)
    assert cut["sdk"] == {"anthropic": anthropic.__version__, "stack": STACK, "stack_version": version(STACK)}

    raised = records["test_inner.py::test_impatient[claude_timeout:slow_prefill-75s]"]
    assert (raised["verdict"], raised["kind"], raised["elapsed"]) == ("passed", "raised as expected", 30)
    assert raised["expect"] == ["anthropic.APITimeoutError"]
    assert raised["attempts"][0]["error"] == "ReadTimeout"
    assert raised["attempts"][0]["timeouts"]["read"] == 30

    stalled = records["test_inner.py::test_resilient[claude_timeout:stalled_stream-forever]"]
    assert [(a["stream"], a["error"], a["end"]) for a in stalled["attempts"]] == [(True, "ReadTimeout", 120), (True, None, 120)]


def test_junit_xml_properties(inner: pytest.Pytester) -> None:
    source = """

@pytest.mark.claude_timeout("proxy_cutoff:30", "dns_failure")
def test_summary(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)
"""
    result, records = run_with_report(inner, source, "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    cases = {case.get("name"): case for case in ET.parse(inner.path / "junit.xml").iter("testcase")}
    props = {
        name: {p.get("name"): p.get("value") for p in case.iter("property")} for name, case in cases.items()
    }
    cut = props["test_summary[claude_timeout:proxy_cutoff-30s]"]
    assert cut["claude_timeout.scenario"] == "proxy_cutoff(idle=30, upstream=75, ping_interval=10, status=504, server='nginx')"
    assert (cut["claude_timeout.verdict"], cut["claude_timeout.kind"]) == ("failed", "exception escaped")
    assert cut["claude_timeout.reason"].endswith("escaped from the test body: 504 Gateway Time-out nginx")
    assert re.fullmatch(r"91\.\d{3}", cut["claude_timeout.elapsed"])
    assert cut["claude_timeout.attempts"] == "3"
    assert cut["claude_timeout.sdk"] == f"anthropic {anthropic.__version__} on {STACK} {version(STACK)}"
    full = json.loads(cut["claude_timeout.record"])
    assert full == {k: v for k, v in records["test_inner.py::test_summary[claude_timeout:proxy_cutoff-30s]"].items() if k != "outcome"}
    dns = props["test_summary[claude_timeout:dns_failure-1]"]
    assert (dns["claude_timeout.verdict"], dns["claude_timeout.kind"], dns["claude_timeout.attempts"]) == ("passed", "survived", "2")


def test_xdist_gives_the_same_report_and_one_summary(inner: pytest.Pytester) -> None:
    serial, _ = run_with_report(inner, MATRIX)
    serial.assert_outcomes(passed=9, failed=3)
    # in-process xdist is unreliable: the -n 2 run gets its own interpreter
    xdist = inner.runpytest_subprocess("-p", "no:cacheprovider", "--claude-timeout-report=xdist.json", "-n", "2")
    xdist.assert_outcomes(passed=9, failed=3)
    xdist.stdout.fnmatch_lines(["created: 2/2 workers"])
    assert sum("claude-timeout: scenarios x tests" in line for line in xdist.outlines) == 1
    reports = [json.loads((inner.path / name).read_text()) for name in ("claude-timeout-report.json", "xdist.json")]
    assert len(reports[0]["items"]) == 12
    assert reports[1] == reports[0]  # the same items, verdicts, elapsed times and attempts
    assert matrix_of(xdist) == matrix_of(serial)


BASELINE = """

@pytest.mark.claude_timeout("slow_prefill", "dns_failure")
def test_summary(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=TIMEOUT).messages.create(**MSG)


@pytest.mark.claude_timeout(pct.DnsFailure(attempts=None), expect=anthropic.APIConnectionError)
def test_fails_fast_without_dns(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", max_retries=RETRIES).messages.create(**MSG)
"""


def _baseline_run(pytester: pytest.Pytester, timeout: str, retries: int, *args: str) -> pytest.RunResult:
    source = BASELINE.replace("TIMEOUT", timeout).replace("RETRIES", str(retries))
    return run(pytester, source, *args)


def test_baseline_catches_a_configuration_change_that_fails_a_survivor(inner: pytest.Pytester) -> None:
    saved = _baseline_run(inner, "anthropic.Timeout(120, connect=5)", 2, "--claude-timeout-save-baseline=baseline.json")
    saved.assert_outcomes(passed=3)
    baseline = json.loads((inner.path / "baseline.json").read_text())
    assert sorted(baseline["items"]) == [
        "test_inner.py::test_fails_fast_without_dns[claude_timeout:dns_failure-always]",
        "test_inner.py::test_summary[claude_timeout:dns_failure-1]",
        "test_inner.py::test_summary[claude_timeout:slow_prefill-75s]",
    ]
    assert baseline["items"]["test_inner.py::test_summary[claude_timeout:slow_prefill-75s]"] == {
        "verdict": "passed", "kind": "survived", "elapsed": 75,
    }

    same = _baseline_run(inner, "anthropic.Timeout(120, connect=5)", 2, "--claude-timeout-baseline=baseline.json")
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["claude-timeout: no regression against the baseline"])

    # someone "simplifies" the timeout to 60 s: the 75 s prefill now fails, three times
    simplified = _baseline_run(inner, "60", 2, "--claude-timeout-baseline=baseline.json")
    simplified.assert_outcomes(passed=2, failed=1)
    assert simplified.ret == pytest.ExitCode.TESTS_FAILED
    simplified.stdout.fnmatch_lines(
        [
            "*= claude-timeout: 1 REGRESSION(S) against the baseline =*",
            "test_inner.py::test_summary[[]claude_timeout:slow_prefill-75s[]]: passed in the baseline, fails now "
            "(exception escaped: anthropic.APITimeoutError escaped from the test body: Request timed out*)",
        ]
    )


def test_baseline_catches_slower_runs_beyond_the_tolerance(inner: pytest.Pytester) -> None:
    _baseline_run(inner, "120", 2, "--claude-timeout-save-baseline=baseline.json").assert_outcomes(passed=3)
    before = json.loads((inner.path / "baseline.json").read_text())["items"]
    fails_fast = "test_inner.py::test_fails_fast_without_dns[claude_timeout:dns_failure-always]"

    # two more retries: every test still passes, but failing fast takes longer
    slower = _baseline_run(inner, "120", 4, "--claude-timeout-baseline=baseline.json", "--claude-timeout-report=r.json")
    slower.assert_outcomes(passed=3)
    assert slower.ret == pytest.ExitCode.TESTS_FAILED
    after = {r["nodeid"]: r for r in json.loads((inner.path / "r.json").read_text())["items"]}
    grown = after[fails_fast]["elapsed"]
    assert grown > 2 * before[fails_fast]["elapsed"]
    slower.stdout.fnmatch_lines(
        [
            "*= claude-timeout: 1 REGRESSION(S) against the baseline =*",
            f"{fails_fast.replace('[', '[[]')}: virtual elapsed grew from {before[fails_fast]['elapsed']:.3f} s to "
            f"{grown:.3f} s (+{grown - before[fails_fast]['elapsed']:.3f} s), beyond the 10% tolerance",
        ]
    )

    tolerant = _baseline_run(inner, "120", 4, "--claude-timeout-baseline=baseline.json", "--claude-timeout-tolerance=20")
    assert tolerant.ret == pytest.ExitCode.OK
    tolerant.stdout.fnmatch_lines(["claude-timeout: no regression against the baseline"])


def test_an_unreadable_baseline_is_a_usage_error(inner: pytest.Pytester) -> None:
    (inner.path / "broken.json").write_text('{"items": {"x": {"verdict": "meh"}}}')
    for path, problem in (
        ("missing.json", "--claude-timeout-baseline=missing.json: no such file*"),
        ("broken.json", "cannot read the claude-timeout baseline broken.json: *entry 'x' lacks a verdict*"),
    ):
        result = run(inner, "\n\ndef test_nothing():\n    pass\n", f"--claude-timeout-baseline={path}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: {problem}"])


FACTORIES = """
import anthropic


def make_client():
    return anthropic.Anthropic(timeout=anthropic.Timeout(120, connect=5))


def make_async_client():
    return anthropic.AsyncAnthropic(timeout=30, max_retries=1)


def not_a_client():
    return object()


def broken():
    raise RuntimeError("ANTHROPIC_REGION is not set")


def exits():
    import sys

    sys.exit(3)

"""


def _audit(pytester: pytest.Pytester, *factories: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makeini(INI + "pythonpath = .\nclaude_timeout_clients =\n" + "".join(f"    {f}\n" for f in factories))
    pytester.makepyfile(factories=FACTORIES)
    return run_with_report(pytester, "\n\ndef test_own():\n    pass\n")


def test_audit_of_client_factories(pytester: pytest.Pytester) -> None:
    result, records = _audit(pytester, "factories:make_client", "factories:make_async_client")
    result.assert_outcomes(passed=1 + 13, failed=7)
    ids = [f"claude_timeout:{label}" for label in standard_labels()]
    assert sorted(records) == sorted(
        f"claude_timeout_clients[factories:{factory}]::{call}[{i}]"
        for factory in ("make_client", "make_async_client")
        for call in ("non-streaming", "streaming")
        for i in ids
    )
    failed = {
        nodeid.removeprefix("claude_timeout_clients[factories:"): r
        for nodeid, r in records.items()
        if r["verdict"] == "failed"
    }
    assert sorted(failed) == [
        "make_async_client]::non-streaming[claude_timeout:proxy_cutoff-30s]",
        "make_async_client]::non-streaming[claude_timeout:proxy_cutoff-60s]",
        "make_async_client]::non-streaming[claude_timeout:slow_prefill-75s]",
        "make_async_client]::streaming[claude_timeout:stalled_stream-forever]",
        "make_client]::non-streaming[claude_timeout:proxy_cutoff-30s]",
        "make_client]::non-streaming[claude_timeout:proxy_cutoff-60s]",
        "make_client]::streaming[claude_timeout:stalled_stream-forever]",
    ]
    assert failed["make_client]::non-streaming[claude_timeout:proxy_cutoff-30s]"]["diagnosis"][0].startswith(
        "read timeout 120 s exceeds the proxy's 30 s idle cutoff: a non-streaming call longer than 30 s gets 504"
    )
    assert failed["make_async_client]::non-streaming[claude_timeout:slow_prefill-75s]"]["diagnosis"][0].startswith(
        "read timeout 30 s is shorter than the server's time to first byte: 2 of 2 attempts timed out"
    )
    stalled = failed["make_client]::streaming[claude_timeout:stalled_stream-forever]"]
    assert (stalled["kind"], stalled["elapsed"]) == ("exception escaped", 120)
    header, *rows = matrix_of(result)
    assert header == ["test", *standard_labels()]
    assert [row[0] for row in rows] == [
        "claude_timeout_clients[factories:make_async_client]::non-streaming",
        "claude_timeout_clients[factories:make_async_client]::streaming",
        "claude_timeout_clients[factories:make_client]::non-streaming",
        "claude_timeout_clients[factories:make_client]::streaming",
    ]
    result.stdout.fnmatch_lines(
        [
            "claude_timeout: claude_timeout_clients[[]factories:make_client[]]::streaming FAILED under "
            "stalled_stream(stall=forever, deltas=2, attempts=1)",
        ]
    )


def test_a_bad_client_factory_fails_its_items_with_one_message(pytester: pytest.Pytester) -> None:
    result, records = _audit(
        pytester,
        "nomodule:make",
        "factories:missing",
        "factories:not_a_client",
        "factories:broken",
        "factories:exits",
    )
    per_factory = 2 * len(standard_labels())
    result.assert_outcomes(passed=1, failed=5 * per_factory)
    prefix = "claude_timeout_clients: bad client factory"
    result.stdout.fnmatch_lines_random(
        [
            f"{prefix} nomodule:make: cannot import 'nomodule': ModuleNotFoundError: No module named 'nomodule'",
            f"{prefix} factories:missing: 'factories' has no callable 'missing'",
            f"{prefix} factories:not_a_client: factories:not_a_client returned object, not an "
            "anthropic.Anthropic or AsyncAnthropic client",
            f"{prefix} factories:broken: calling factories:broken failed: RuntimeError: ANTHROPIC_REGION is not set",
            f"{prefix} factories:exits: calling factories:exits exited (SystemExit): SystemExit: 3",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str()
    assert records == {}  # no scenario ran: nothing to judge


def test_a_malformed_factory_spec_is_a_collection_error(pytester: pytest.Pytester) -> None:
    result, _ = _audit(pytester, "factories", "factories:make_client")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "claude_timeout_clients: bad client factory factories: 'factories' is not of the form module:function",
            "ERROR claude_timeout_clients[[]factories[]]",
        ]
    )


def test_the_audit_calls_no_factory_at_collection(pytester: pytest.Pytester) -> None:
    # A factory that checks its key against the API: under --collect-only nothing is
    # imported or called; when its items run, the call stays inside the simulated network.
    pytester.makepyfile(
        calling="""
        import pathlib
        import anthropic

        pathlib.Path("imported").touch()

        def make():
            pathlib.Path("called").touch()
            client = anthropic.Anthropic()
            client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "ping"}])
            return client
        """
    )
    pytester.makeini(INI + "pythonpath = .\nclaude_timeout_clients =\n    calling:make\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["claude_timeout_clients[[]calling:make[]]::non-streaming[[]claude_timeout:*"])
    assert not (pytester.path / "imported").exists()
    assert not (pytester.path / "called").exists()
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "-k", "non-streaming and slow_prefill")
    assert (pytester.path / "called").exists()
    result.assert_outcomes(passed=1)


# -- the report functions on their own ----------------------------------------------------


def test_row_name_drops_only_the_scenario_id() -> None:
    assert row_name("t.py::test_a[claude_timeout:dns_failure-1]", "dns_failure-1") == "t.py::test_a"
    assert row_name("t.py::test_a[claude_timeout:dns_failure-1-10]", "dns_failure-1") == "t.py::test_a[10]"
    assert row_name("t.py::test_a[x-claude_timeout:dns_failure-1-y]", "dns_failure-1") == "t.py::test_a[x-y]"
    assert row_name("t.py::test_a[claude_timeout:dns_failure-10]", "dns_failure-10") == "t.py::test_a"
    assert row_name("c[f:g]::streaming[claude_timeout:slow_prefill-75s]", "slow_prefill-75s") == "c[f:g]::streaming"


def test_distinct_labels() -> None:
    assert distinct_labels([SlowPrefill(30), SlowPrefill(75)]) == ["slow_prefill-30s", "slow_prefill-75s"]
    assert distinct_labels([SlowPrefill(), SlowPrefill(ping_interval=None), SlowPrefill()]) == [
        "slow_prefill-75s-1",
        "slow_prefill-75s-ping_interval=None",
        "slow_prefill-75s-3",
    ]


def _record(nodeid: str, scenario: str, verdict: str = "passed", elapsed: float = 1.0, **extra: Any) -> dict[str, Any]:
    row = row_name(nodeid, scenario)
    return {"nodeid": nodeid, "row": row, "scenario": scenario, "verdict": verdict, "kind": "survived",
            "reason": "", "elapsed": elapsed, **extra}


def test_summary_puts_the_standard_scenarios_first() -> None:
    records = [
        _record("t.py::test_a[claude_timeout:rate_limited-5s]", "rate_limited-5s"),
        _record("t.py::test_b[claude_timeout:dns_failure-1]", "dns_failure-1", "failed", 0.5),
        _record("t.py::test_b[claude_timeout:slow_prefill-75s]", "slow_prefill-75s", elapsed=75),
    ]
    lines = summary_lines(records)
    assert lines[:4] == [
        "test         | slow_prefill-75s | dns_failure-1 | rate_limited-5s",
        "-------------+------------------+---------------+----------------",
        "t.py::test_a | -                | -             | ok 1.0s",
        "t.py::test_b | ok 75.0s         | FAIL 0.5s     | -",
    ]
    assert lines[4].startswith("3 scenario run(s), 1 failed. ")
    assert summary_lines([]) == []


def test_regressions_and_tolerance() -> None:
    baseline = {
        "a": {"verdict": "passed", "elapsed": 10.0},
        "b": {"verdict": "failed", "elapsed": 10.0},
        "c": {"verdict": "passed", "elapsed": 10.0},
    }
    records = [
        _record("a", "x", "passed", 10.9),  # +9 %: within 10 %
        _record("b", "x", "failed", 10.0),  # failed before too
        _record("c", "x", "passed", 11.5),  # +15 %
        _record("new", "x", "failed", 1.0),  # not in the baseline
    ]
    assert regressions(baseline, records, 0.10) == [
        "c: virtual elapsed grew from 10.000 s to 11.500 s (+1.500 s), beyond the 10% tolerance"
    ]
    assert regressions(baseline, records, 0.20) == []
    records[0] = _record("a", "x", "failed", 1.0, kind="exception escaped", reason="ReadTimeout escaped\nmore")
    assert regressions(baseline, records, 0.20) == [
        "a: passed in the baseline, fails now (exception escaped: ReadTimeout escaped)"
    ]
