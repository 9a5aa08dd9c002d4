"""Every bad or extreme input gets one clear error, and no fault of the harness passes as a
verdict: a table of inner pytest sessions (pytester), each checked for its exit code, the
one line that explains it, the absence of the plugin's own frames, and bounded memory.

The cases: faults inside the simulation (a scenario's bug, a parameter it cannot use),
extreme parameters (tiny intervals, endless or huge durations, billions of tokens, far-future
dates), the marker misused (unittest, staticmethods, a class for an instance, bad arguments),
bad options and ini values, bad fixture parameters and client factories. The fault server's
garbage and ``serve``'s arguments are in tests/test_server.py; reruns at the end.
"""

from __future__ import annotations

import re
import resource
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from pytester_helpers import INI, inner, run  # noqa: F401 (inner: a fixture)

PLUGIN_FRAMES = re.compile(r"pytest_claude_timeout[/\\](?!__init__)\w+")
"""A traceback line in one of the plugin's files (a user test must not show them)."""

MEMORY_BOUND_MB = 400
"""How much the run of one case may grow the process's peak memory (the unbounded cases of
the issue went past 3 GB)."""

OK, FAILED, INTERRUPTED, USAGE = 0, 1, 2, 4


@dataclass
class Case:
    source: str
    exit: int
    message: str
    """A regular expression one line of the output matches."""
    args: tuple[str, ...] = ()
    ini: str = ""
    harness_frames: bool = False
    """Whether the output may show the plugin's files (a harness error shows where it broke)."""
    files: dict[str, str] = field(default_factory=dict)


STREAM = """
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
    with client.messages.stream(**MSG) as stream:
        stream.get_final_message()
"""

CREATE = """
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
    client.messages.create(**MSG)
"""

BUGGY_SCENARIO = """
from pytest_claude_timeout.scenarios import SlowPrefill


class Buggy(SlowPrefill):
    def apply(self, steps, ctx):
        return self.no_such_attribute  # a bug of the scenario
"""

CASES: dict[str, Case] = {
    # -- faults of the harness are never verdicts ------------------------------------------
    "bug-in-a-scenario-expected-connection-error": Case(
        BUGGY_SCENARIO
        + f"""
@pytest.mark.claude_timeout(Buggy(), expect=anthropic.APIConnectionError)
def test_body():
{CREATE}
""",
        FAILED,
        r"claude_timeout: test_inner.py::test_body HARNESS ERROR \(not a verdict about the client\)",
        harness_frames=True,
    ),
    "bug-in-a-scenario-reason-names-it": Case(
        BUGGY_SCENARIO
        + f"""
@pytest.mark.claude_timeout(Buggy())
def test_body():
{STREAM}
""",
        FAILED,
        r"reason: +pytest-claude-timeout: the simulation failed while serving POST .*: AttributeError: "
        r"'Buggy' object has no attribute 'no_such_attribute' \(raised at .*test_inner.py:\d+ in apply\)",
        harness_frames=True,
    ),
    "bug-swallowed-by-the-code-under-test": Case(
        BUGGY_SCENARIO
        + f"""
def test_body(claude_network):
    claude_network.add(Buggy())
    try:
{CREATE.replace(chr(10) + "    ", chr(10) + "        ")}
    except BaseException:
        pass
""",
        FAILED,
        r"HarnessError: pytest-claude-timeout: the simulation failed while serving POST",
        harness_frames=True,
    ),
    "proxy-cutoff-server-none": Case(
        """
@pytest.mark.claude_timeout(pct.ProxyCutoff(server=None), expect=anthropic.APIConnectionError)
def test_body():
    pass
""",
        INTERRUPTED,
        r"proxy_cutoff: server must be text \(str\), not None",
    ),
    "proxy-cutoff-status-text": Case(
        """
def test_body():
    pct.ProxyCutoff(status="504")
""",
        FAILED,
        r"ScenarioError: proxy_cutoff: status must be a whole number, not '504'",
    ),
    "proxy-cutoff-status-out-of-range": Case(
        """
@pytest.mark.claude_timeout(pct.ProxyCutoff(status=1000))
def test_body():
    pass
""",
        INTERRUPTED,
        r"proxy_cutoff: status must be an HTTP status \(a whole number from 100 to 599\), not 1000",
    ),
    "parameter-set-later": Case(
        """
def test_body(slow_prefill):
    slow_prefill.seconds = "75"
""",
        FAILED,
        r"ScenarioError: slow_prefill: seconds must be a number, not '75'",
    ),
    # -- extreme values: bounded work, HorizonExceeded -------------------------------------
    # (max_events is lowered where the work would otherwise be played part by part: a case
    # that regresses ends at that cap, with a failure, instead of running for seconds)
    "ping-every-microsecond": Case(
        f"""
@pytest.mark.claude_timeout(pct.SlowPrefill(ping_interval=1e-6))
def test_body(claude_network):
    claude_network.max_events = 5000
{STREAM}
    assert claude_network.elapsed == pytest.approx(75)  # 75 million pings, fast-forwarded
""",
        OK,
        r"1 passed",
    ),
    "endless-pings-every-microsecond": Case(
        f"""
@pytest.mark.claude_timeout(pct.SlowPrefill(float("inf"), ping_interval=1e-6))
def test_body(claude_network):
    claude_network.max_events = 5000
{STREAM}
""",
        FAILED,
        r"reason: +attempt 1 .*: the client would wait 1e-06 s; the simulation stopped it at the "
        r"virtual horizon of 86400 s",
    ),
    "endless-upstream-pinging-every-microsecond-behind-a-proxy": Case(
        f"""
@pytest.mark.claude_timeout(pct.ProxyCutoff(upstream=float("inf"), ping_interval=1e-6))
def test_body(claude_network):
    claude_network.max_events = 5000
{STREAM}
""",
        FAILED,
        r"verdict: +horizon",
    ),
    "ping-stall-every-millisecond": Case(
        f"""
@pytest.mark.claude_timeout(pct.PingStall(ping_interval=1e-3))
def test_body(claude_network):
    claude_network.max_events = 5000
{STREAM}
    assert claude_network.elapsed == pytest.approx(3600)  # 3.6 million pings, fast-forwarded
""",
        OK,
        r"1 passed",
    ),
    "endless-prefill-fixture": Case(
        f"""
@pytest.mark.parametrize("slow_prefill", [float("inf")], indirect=True)
def test_body(slow_prefill):
{STREAM}
""",
        FAILED,
        r"HorizonExceeded: .*the simulation stopped it at the virtual horizon of 86400 s",
    ),
    "billion-second-prefill": Case(
        f"""
@pytest.mark.claude_timeout(pct.SlowPrefill(1e9))
def test_body():
{STREAM}
""",
        FAILED,
        r"verdict: +horizon",
    ),
    "endless-upstream-behind-a-proxy": Case(
        f"""
@pytest.mark.claude_timeout(pct.ProxyCutoff(upstream=float("inf")))
def test_body():
{STREAM}
""",
        FAILED,
        r"verdict: +horizon",
    ),
    "billion-tokens": Case(
        f"""
@pytest.mark.claude_timeout(pct.LongGeneration(tokens=10**9))
def test_body(claude_network):
    claude_network.max_events = 2000
{STREAM}
""",
        FAILED,
        r"reason: +attempt 1: the scenario would deliver more than 2,000 parts in one exchange",
    ),
    "dense-scenario-on-the-fault-server": Case(
        """
DENSE = {"scenarios": [pct.SlowPrefill(ping_interval=1e-6)], "time_scale": 0.001}


@pytest.mark.parametrize("claude_fault_server", [DENSE], indirect=True)
def test_body(claude_fault_server):
    claude_fault_server.max_events = 500
    url = claude_fault_server.base_url
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0, timeout=5)
    with pytest.raises(Exception, match="incomplete chunked read"):  # closed without the body's end
        with client.messages.stream(**MSG) as stream:
            stream.get_final_message()
""",
        FAILED,
        r"HarnessError: fault server \(http://127.0.0.1:\d+\): attempt 1: the scenario would deliver more than "
        r"500 parts in one exchange",
        harness_frames=True,
    ),
    "far-future-retry-after-date": Case(
        f"""
@pytest.mark.claude_timeout(pct.RateLimited(retry_after=1e15, http_date=True), expect=anthropic.RateLimitError)
def test_body():
{CREATE}
""",
        OK,
        r"1 passed",
    ),
    "far-future-start": Case(
        """
from datetime import datetime


def test_body():
    with pct.SimulatedNetwork(pct.RateLimited(60), start=datetime(9999, 12, 31, 23, 59, 30)):
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=1, timeout=600)
        client.messages.create(**MSG)
""",
        FAILED,
        r"HorizonExceeded: .*the client would wait",
    ),
    # -- the marker is applied or refused, never ignored -----------------------------------
    "unittest-method": Case(
        """
import unittest


class TestCase(unittest.TestCase):
    @pytest.mark.claude_timeout("slow_prefill")
    def test_body(self):
        pass
""",
        INTERRUPTED,
        r"test_inner.py::TestCase: @pytest.mark.claude_timeout cannot run a unittest.TestCase "
        r"\(its method\(s\) test_body marked\)",
    ),
    "unittest-class": Case(
        """
import unittest


@pytest.mark.claude_timeout
class TestCase(unittest.TestCase):
    def test_body(self):
        pass
""",
        INTERRUPTED,
        r"test_inner.py::TestCase: @pytest.mark.claude_timeout cannot run a unittest.TestCase \(it marked\)",
    ),
    "staticmethod-is-supported": Case(
        """
class TestGroup:
    @staticmethod
    @pytest.mark.claude_timeout("proxy_cutoff:30", expect=anthropic.InternalServerError)
    def test_body():
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600)
        client.messages.create(**MSG)
""",
        OK,
        r"1 passed",
    ),
    "marker-above-staticmethod-is-supported": Case(
        """
class TestGroup:
    @pytest.mark.claude_timeout("slow_prefill")
    @staticmethod
    def test_body():
        pass
""",
        OK,
        r"1 passed",
    ),
    "class-instead-of-instance-alone": Case(
        """
@pytest.mark.claude_timeout(pct.SlowPrefill)
def test_body():
    pass
""",
        INTERRUPTED,
        r"SlowPrefill was given the function test_body as its seconds: a scenario class used as a decorator\? "
        r"@pytest.mark.claude_timeout\(SlowPrefill\) with a class as its only argument marks that class instead; "
        r"give an instance: @pytest.mark.claude_timeout\(SlowPrefill\(\)\)",
    ),
    "class-instead-of-instance": Case(
        """
@pytest.mark.claude_timeout(pct.SlowPrefill, "proxy_cutoff:30")
def test_body():
    pass
""",
        INTERRUPTED,
        r"test_inner.py::test_body: @pytest.mark.claude_timeout: bad scenario .*SlowPrefill is a scenario class: "
        r"give an instance, SlowPrefill\(...\), or a name such as 'slow_prefill'",
    ),
    "class-instead-of-instance-network": Case(
        """
def test_body():
    pct.SimulatedNetwork(pct.ProxyCutoff)
""",
        FAILED,
        r"ScenarioError: ProxyCutoff is a scenario class: give an instance",
    ),
    "marker-unknown-keyword": Case(
        """
@pytest.mark.claude_timeout("slow_prefill", timeout=3)
def test_body():
    pass
""",
        INTERRUPTED,
        r"test_inner.py::test_body: @pytest.mark.claude_timeout: unknown keyword argument\(s\) \['timeout'\]",
    ),
    "marker-negative-budget": Case(
        """
@pytest.mark.claude_timeout("slow_prefill", budget=-1)
def test_body():
    pass
""",
        INTERRUPTED,
        r"budget= must be a non-negative number of virtual seconds, not -1",
    ),
    "marker-expect-instance": Case(
        """
@pytest.mark.claude_timeout("slow_prefill", expect=ValueError("x"))
def test_body():
    pass
""",
        INTERRUPTED,
        r"expect= must be an exception type or a tuple of them",
    ),
    # -- options and ini values: one usage error at startup --------------------------------
    "horizon-negative": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-horizon: expected a positive, finite number of virtual seconds .*not '?-5",
        args=("--claude-timeout-horizon=-5",),
    ),
    "horizon-nan": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-horizon: expected a positive, finite number .*not '?nan",
        args=("--claude-timeout-horizon=nan",),
    ),
    "horizon-zero": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-horizon: expected a positive, finite number .*not '?0",
        args=("--claude-timeout-horizon=0",),
    ),
    "horizon-ini-text": Case(
        "def test_body():\n    pass\n", USAGE,
        r"ini claude_timeout_horizon: expected a positive, finite number .*not 'abc'",
        ini="claude_timeout_horizon = abc",
    ),
    "tolerance-negative": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-tolerance: expected a finite number >= 0",
        args=("--claude-timeout-tolerance=-1",),
    ),
    "report-in-a-missing-directory": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-report=no/such/dir/report.json: the directory no/such/dir does not exist",
        args=("--claude-timeout-report=no/such/dir/report.json",),
    ),
    "report-is-a-directory": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-save-baseline=adir: expected a file path to write, not a directory",
        args=("--claude-timeout-save-baseline=adir",),
        files={"adir/keep.txt": ""},
    ),
    "baseline-missing": Case(
        "def test_body():\n    pass\n", USAGE,
        r"--claude-timeout-baseline=missing.json: no such file",
        args=("--claude-timeout-baseline=missing.json",),
    ),
    "baseline-garbage": Case(
        "def test_body():\n    pass\n", USAGE,
        r"cannot read the claude-timeout baseline base.json",
        args=("--claude-timeout-baseline=base.json",),
        files={"base.json": "{not json"},
    ),
    # -- bad fixture parameters and client factories ---------------------------------------
    "indirect-bad-scenario-parameter": Case(
        """
@pytest.mark.parametrize("slow_prefill", ["soon"], indirect=True)
def test_body(slow_prefill):
    pass
""",
        FAILED,
        r"test_inner.py::test_body\[soon\]: bad slow_prefill parameter 'soon': slow_prefill: expected a number",
    ),
    "fault-server-bad-parameter": Case(
        """
@pytest.mark.parametrize("claude_fault_server", [{"time_scale": -1}], indirect=True)
def test_body(claude_fault_server):
    pass
""",
        FAILED,
        r"bad claude_fault_server parameter \{'time_scale': -1\}: time_scale must be a positive number",
    ),
    "fault-server-unknown-key": Case(
        """
@pytest.mark.parametrize("claude_fault_server", [{"scale": 0.1}], indirect=True)
def test_body(claude_fault_server):
    pass
""",
        FAILED,
        r"bad claude_fault_server parameter \{'scale': 0.1\}: unknown key\(s\) \['scale'\]",
    ),
    "bad-client-factory": Case(
        # imported only when its audit items run, inside the network: each item fails naming it
        "def test_body():\n    pass\n", FAILED,
        r"claude_timeout_clients: bad client factory nomodule:make: cannot import 'nomodule'",
        ini="claude_timeout_clients = nomodule:make",
    ),
    "malformed-client-factory": Case(
        "def test_body():\n    pass\n", INTERRUPTED,
        r"claude_timeout_clients: bad client factory nomodule: 'nomodule' is not of the form module:function",
        ini="claude_timeout_clients = nomodule",
    ),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input(inner: pytest.Pytester, case: Case) -> None:
    if case.ini:
        inner.makeini(INI + case.ini + "\n")
    for name, text in case.files.items():
        path = inner.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    before = _peak_mb()
    result = run(inner, case.source, *case.args)
    grew = _peak_mb() - before
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == case.exit, output
    assert re.search(case.message, output), f"no line matches {case.message!r}:\n{output}"
    assert "INTERNALERROR" not in output, output
    if not case.harness_frames:
        assert not PLUGIN_FRAMES.search(output), output
    assert grew < MEMORY_BOUND_MB, f"the run grew the peak memory by {grew:.0f} MB"


def test_a_usage_error_is_one_line(inner: pytest.Pytester) -> None:
    result = run(inner, "def test_body():\n    pass\n", "--claude-timeout-horizon=-5")
    assert result.ret == USAGE
    errors = [line for line in result.errlines if line.strip()]
    assert errors == ["ERROR: --claude-timeout-horizon: expected a positive, finite number of virtual seconds (e.g. 86400, "
                      "the default), not -5.0"], errors


def test_the_harness_error_shows_where_the_harness_broke(inner: pytest.Pytester) -> None:
    # The user's frames and the place of the bug are shown; the simulation's own frames
    # between them are not (they are hidden unless the harness itself broke).
    source = BUGGY_SCENARIO + f"""
def test_body(claude_network):
    claude_network.add(Buggy())
{CREATE}
"""
    result = run(inner, source)
    output = "\n".join(result.outlines)
    assert result.ret == FAILED
    assert "return self.no_such_attribute  # a bug of the scenario" in output
    assert "AttributeError: 'Buggy' object has no attribute 'no_such_attribute'" in output
    assert "The above exception was the direct cause of the following exception" in output


def test_reruns_report_the_final_run_in_junit(inner: pytest.Pytester) -> None:
    # pytest-rerunfailures runs a failed item again: the JUnit properties of its final run
    # are those of that run (here the second, which passes), not both runs' ("failed" first).
    source = """
ATTEMPTS = []


@pytest.mark.claude_timeout("proxy_cutoff:30", expect=anthropic.InternalServerError)
def test_flaky():
    ATTEMPTS.append(1)
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=600 if len(ATTEMPTS) > 1 else 10)
    client.messages.create(**MSG)
"""
    xml = inner.path / "junit.xml"
    result = run(inner, source, "--reruns=1", f"--junitxml={xml}")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("rerun")) == (1, 1), outcomes
    cases = ET.parse(xml).getroot().findall(".//testcase")  # the rerun's, then the final run's
    properties = [(p.get("name"), p.get("value")) for p in cases[-1].findall("./properties/property")]
    verdicts = [value for name, value in properties if name == "claude_timeout.verdict"]
    assert verdicts == ["passed"], properties
    kinds = [value for name, value in properties if name == "claude_timeout.kind"]
    assert kinds == ["raised as expected"], properties
