"""``@pytest.mark.claude_timeout`` in inner pytest sessions (pytester), on the real SDK:
the items and their ids, every verdict (sync and async), the marker on classes and
modules, skip and xfail in a marked body, composition with the fixtures, usage errors at
collection, and the failure report a person reads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import http_stack
from pytester_helpers import inner, run, run_with_report, sync_and_async  # noqa: F401 (inner: a fixture)

STACK = http_stack().__name__
STANDARD_IDS = [
    "claude_timeout:slow_prefill-75s",
    "claude_timeout:stalled_stream-forever",
    "claude_timeout:proxy_cutoff-30s",
    "claude_timeout:proxy_cutoff-60s",
    "claude_timeout:dns_failure-1",
]


def _collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("test_inner.py::")]


def test_items_and_ids(inner: pytest.Pytester) -> None:
    source = """
from pytest_claude_timeout import DnsFailure, ProxyCutoff, SlowPrefill


@pytest.mark.claude_timeout
def test_standard(claude_network):
    pass


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", ProxyCutoff(idle=45, upstream=90), "stalled_stream:2.5",
                            DnsFailure(attempts=None, kind="no_resolver"))
def test_named(claude_network):
    pass


@pytest.mark.claude_timeout(SlowPrefill(75), SlowPrefill(75, ping_interval=None), "slow_prefill")
def test_same_label(claude_network):
    pass


@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.claude_timeout("dns_failure")
def test_with_parameters(size, claude_network):
    pass


def test_unmarked():
    pass
"""
    result = run(inner, source, "--collect-only", "-qq")
    assert _collected(result) == [
        *(f"test_inner.py::test_standard[{i}]" for i in STANDARD_IDS),
        "test_inner.py::test_named[claude_timeout:slow_prefill-75s]",
        "test_inner.py::test_named[claude_timeout:proxy_cutoff-30s]",
        "test_inner.py::test_named[claude_timeout:proxy_cutoff-45s]",
        "test_inner.py::test_named[claude_timeout:stalled_stream-2.5s]",
        "test_inner.py::test_named[claude_timeout:dns_failure-always]",
        "test_inner.py::test_same_label[claude_timeout:slow_prefill-75s-1]",
        "test_inner.py::test_same_label[claude_timeout:slow_prefill-75s-ping_interval=None]",
        "test_inner.py::test_same_label[claude_timeout:slow_prefill-75s-3]",
        "test_inner.py::test_with_parameters[claude_timeout:dns_failure-1-1]",
        "test_inner.py::test_with_parameters[claude_timeout:dns_failure-1-2]",
        "test_inner.py::test_unmarked",
    ]


def test_the_scenario_is_active_for_the_whole_body_and_composes_with_the_fixtures(inner: pytest.Pytester) -> None:
    # The marker's scenario object carries all its parameters; the body sees it through
    # claude_timeout_scenario and claude_network, and a scenario fixture adds to it.
    whole_body = sync_and_async(
        "whole_body",
        "claude_network, claude_timeout_scenario",
        """
        assert claude_timeout_scenario == pct.ProxyCutoff(idle=30, upstream=20, server="envoy")
        assert claude_network.scenarios == [claude_timeout_scenario]
        client = Client(api_key="sk-ant-test")
        AWAIT client.messages.create(**MSG)
        AWAIT client.messages.create(**MSG)  # still under the scenario at the end of the body
        assert [(a.start, a.end) for a in claude_network.attempts] == [(0, 20), (20, 40)]
        """,
        decorators='@pytest.mark.claude_timeout(pct.ProxyCutoff(idle=30, upstream=20, server="envoy"))',
    )
    composed = sync_and_async(
        "composed",
        "dns_failure, claude_network",
        """
        message = AWAIT Client(api_key="sk-ant-test", timeout=60).messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert [a.error for a in claude_network.attempts] == ["ConnectError", None]
        assert 30 < claude_network.elapsed < 31  # DNS failure, backoff, then the 30 s prefill
        """,
        decorators='@pytest.mark.claude_timeout("slow_prefill:30")',
    )
    result, records = run_with_report(inner, whole_body + composed)
    result.assert_outcomes(passed=4)
    assert {r["kind"] for r in records.values()} == {"survived"}
    record = records["test_inner.py::test_whole_body_sync[claude_timeout:proxy_cutoff-30s]"]
    assert record["params"] == {"idle": 30, "upstream": 20, "ping_interval": 10, "status": 504, "server": "envoy"}
    assert record["elapsed"] == 40
    composed_record = records["test_inner.py::test_composed_async[claude_timeout:slow_prefill-30s]"]
    assert composed_record["description"] == "slow_prefill(seconds=30, ping_interval=10), dns_failure(attempts=1, kind='nxdomain')"


# One inner test (sync and async) per verdict: the marker's arguments and the body.
def create(options: str = "") -> str:
    return f'AWAIT Client(api_key="sk-ant-test"{options}).messages.create(**MSG)'


def stream(timeout: str) -> str:
    return (
        f'ASYNC with Client(api_key="sk-ant-test", timeout={timeout}).messages.stream(**MSG) as stream:\n'
        "    ASYNC for text in stream.text_stream:\n        pass"
    )


NO_DNS = "pct.DnsFailure(attempts=None)"
VERDICTS: dict[str, tuple[str, str]] = {
    "survived": ('"slow_prefill:30", budget=30', create(", timeout=60")),
    "escaped": ('"slow_prefill"', create(", timeout=60")),
    "expected": (f"{NO_DNS}, expect=anthropic.APIConnectionError, budget=10", create()),
    "wrong": (f"{NO_DNS}, expect=(anthropic.APITimeoutError, anthropic.RateLimitError)", create()),
    "raw": ("pct.StalledStream(stall=60), expect=anthropic.APIError", stream("30")),
    "raw_expected": ('"stalled_stream:60", expect=stack.ReadTimeout', stream("30")),
    "none_raised": ('"dns_failure", expect=anthropic.APIConnectionError', create()),
    "over_budget": ('"slow_prefill", budget=60', create(", timeout=120")),
    "expected_over_budget": ('"connect_timeout:3", expect=anthropic.APITimeoutError, budget=10', create()),
    "horizon": ('"stalled_stream"', stream("None")),
    "data_loss": ('"truncated_stream"', stream("60")),
    "own_assert": ('"slow_prefill"', create() + '\nassert len(claude_network.attempts) == 2, "one try"'),
}


def _verdict_source() -> str:
    return "".join(
        sync_and_async(name, "claude_network", body, decorators=f"@pytest.mark.claude_timeout({args})")
        for name, (args, body) in VERDICTS.items()
    )


def _by_test(records: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Records by ``<verdict name>_<sync|async>``."""
    return {re.sub(r"^test_inner\.py::test_|\[.*$", "", nodeid): r for nodeid, r in records.items()}


def test_every_verdict_sync_and_async(inner: pytest.Pytester) -> None:
    result, records = run_with_report(inner, _verdict_source())
    result.assert_outcomes(passed=6, failed=18)
    by_test = _by_test(records)
    assert len(by_test) == 24
    for mode in ("sync", "async"):
        got = {name: by_test[f"{name}_{mode}"] for name in VERDICTS}
        assert {name: (r["verdict"], r["kind"]) for name, r in got.items()} == {
            "survived": ("passed", "survived"),
            "escaped": ("failed", "exception escaped"),
            "expected": ("passed", "raised as expected"),
            "wrong": ("failed", "wrong exception"),
            "raw": ("failed", "raw HTTP error"),
            "raw_expected": ("passed", "raised as expected"),
            "none_raised": ("failed", "no exception"),
            "over_budget": ("failed", "budget exceeded"),
            "expected_over_budget": ("failed", "budget exceeded"),
            "horizon": ("failed", "horizon"),
            "data_loss": ("failed", "silent data loss"),
            "own_assert": ("failed", "assertion failed"),
        }, mode
        assert got["survived"]["elapsed"] == 30
        assert got["escaped"]["reason"].startswith("anthropic.APITimeoutError escaped from the test body: ")
        assert got["expected"]["reason"] == "raised anthropic.APIConnectionError: Connection error., as expected"
        assert got["expected"]["elapsed"] < 10
        assert got["wrong"]["reason"] == (
            "expected anthropic.APITimeoutError or anthropic.RateLimitError, "
            "got anthropic.APIConnectionError: Connection error."
        )
        assert got["raw"]["reason"] == (
            f"the raw {STACK}.ReadTimeout escaped where anthropic.APIError was expected: "
            f"the SDK did not wrap this failure ({STACK}.ReadTimeout: timed out)"
        )
        assert got["raw_expected"]["elapsed"] == 30
        assert got["none_raised"]["reason"] == (
            "expected anthropic.APIConnectionError, but the test body returned normally"
        )
        assert got["over_budget"]["reason"] == (
            "virtual elapsed 75.000 s exceeds the budget of 60 s by 15.000 s (the test body returned normally)"
        )
        # three connect timeouts of 5 s and the backoff between them: past the 10 s budget
        assert re.fullmatch(
            r"virtual elapsed 1\d\.\d{3} s exceeds the budget of 10 s by \d\.\d{3} s "
            r"\(raised anthropic\.APITimeoutError: Request timed out.*, as expected\)",
            got["expected_over_budget"]["reason"],
        ), got["expected_over_budget"]["reason"]
        assert "would wait forever" in got["horizon"]["reason"]
        assert got["horizon"]["elapsed"] == 86400
        assert got["data_loss"]["reason"].startswith(
            "the test body returned normally, but the last stream (attempt 1) ended without message_stop"
        )
        assert got["own_assert"]["reason"].startswith("the test body's own check failed: one try")
    # what a person reads for some of them
    result.stdout.fnmatch_lines(
        [
            "claude_timeout: test_inner.py::test_raw_sync FAILED under stalled_stream(stall=60, deltas=2, attempts=1)",
            "expected: the test body raises anthropic.APIError",
            "verdict:  raw HTTP error",
            f"- {STACK}.ReadTimeout escaped from stream iteration after 5 events (the stream went silent and "
            "the read timeout of 30 s ran out): the SDK does not retry failures after the stream started; "
            "catch it and restart the stream.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "claude_timeout: test_inner.py::test_expected_over_budget_async FAILED under connect_timeout(attempts=3)",
            "expected: the test body raises anthropic.APITimeoutError within 10 s",
            "verdict:  budget exceeded",
            "- 3 attempts took 15.000 s on the network and * s passed between them (backoff, own code): "
            "* s against a budget of 10 s.",
        ]
    )


def test_marker_on_a_class_and_a_module(inner: pytest.Pytester) -> None:
    source = '''
pytestmark = pytest.mark.claude_timeout("dns_failure", "slow_prefill:20")


def test_module_level(claude_network, claude_timeout_scenario):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)
    assert claude_network.scenarios == [claude_timeout_scenario]


@pytest.mark.asyncio
async def test_module_level_async(claude_network):
    await anthropic.AsyncAnthropic(api_key="sk-ant-test").messages.create(**MSG)


@pytest.mark.claude_timeout("proxy_cutoff:30", expect=anthropic.InternalServerError)
class TestThroughAProxy:
    def test_non_streaming_gets_the_504(self, claude_network):
        anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)

    async def test_async_without_its_own_asyncio_marker(self, claude_network):
        await anthropic.AsyncAnthropic(api_key="sk-ant-test").messages.create(**MSG)

    @pytest.mark.claude_timeout("stalled_stream:10")  # the closest marker wins
    def test_overridden(self, claude_network):
        with anthropic.Anthropic(api_key="sk-ant-test").messages.stream(**MSG) as stream:
            stream.get_final_message()
        assert claude_network.elapsed == 10
'''
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=7)
    assert sorted(records) == sorted(
        [
            "test_inner.py::test_module_level[claude_timeout:dns_failure-1]",
            "test_inner.py::test_module_level[claude_timeout:slow_prefill-20s]",
            "test_inner.py::test_module_level_async[claude_timeout:dns_failure-1]",
            "test_inner.py::test_module_level_async[claude_timeout:slow_prefill-20s]",
            "test_inner.py::TestThroughAProxy::test_non_streaming_gets_the_504[claude_timeout:proxy_cutoff-30s]",
            "test_inner.py::TestThroughAProxy::test_async_without_its_own_asyncio_marker[claude_timeout:proxy_cutoff-30s]",
            "test_inner.py::TestThroughAProxy::test_overridden[claude_timeout:stalled_stream-10s]",
        ]
    )
    assert {r["kind"] for nodeid, r in records.items() if "TestThroughAProxy" in nodeid and "overridden" not in nodeid} == {
        "raised as expected"
    }


def test_skip_and_xfail_in_a_marked_body(inner: pytest.Pytester) -> None:
    source = '''
@pytest.mark.claude_timeout("slow_prefill")
def test_skips(claude_network):
    pytest.skip("not on this network")


@pytest.mark.claude_timeout("slow_prefill")
def test_xfails_imperatively(claude_network):
    pytest.xfail("known to be slow")


@pytest.mark.xfail(reason="a 60 s timeout cannot wait out a 75 s prefill", strict=True)
@pytest.mark.claude_timeout("slow_prefill")
def test_marked_xfail(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.create(**MSG)


@pytest.mark.xfail(reason="not strict")
@pytest.mark.claude_timeout("slow_prefill")
def test_xpasses(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
'''
    result, records = run_with_report(inner, source, "-rsxX")
    result.assert_outcomes(skipped=1, xfailed=2, xpassed=1)
    result.stdout.fnmatch_lines_random(["SKIPPED * not on this network", "XFAIL *test_xfails_imperatively* known to be slow"])
    # the skipped and imperatively xfailed bodies were not judged; the others were
    assert {nodeid.split("[")[0]: (r["verdict"], r["outcome"]) for nodeid, r in records.items()} == {
        "test_inner.py::test_marked_xfail": ("failed", "xfailed"),
        "test_inner.py::test_xpasses": ("passed", "xpassed"),
    }
    result.stdout.fnmatch_lines(["test_inner.py::test_marked_xfail | xfail 18*s", "test_inner.py::test_xpasses      | XPASS 75.0s"])


@pytest.mark.parametrize(
    "args, problem",
    [
        ('"slow_prefil"', "bad scenario 'slow_prefil': unknown scenario 'slow_prefil'; known: *aws_alb, *"),
        ('"proxy_cutoff:soon"', "bad scenario 'proxy_cutoff:soon': *'soon' is not a number (the idle of proxy_cutoff)"),
        (
            '"proxy_cutoff:-5"',
            "bad scenario 'proxy_cutoff:-5': proxy_cutoff: idle must be a non-negative number of seconds, not -5.0",
        ),
        (
            "pct.StalledStream(deltas=-1)",
            "",  # the scenario object refuses first, when the test module is imported
        ),
        ("42", "bad scenario 42: a scenario is a name such as 'proxy_cutoff:30' or a Scenario object, not 42"),
        ("expect=ValueError('x')", "expect= must be an exception type or a tuple of them, not ValueError('x')"),
        ("expect=(ValueError, 'x')", "expect= must be an exception type or a tuple of them, not (<class 'ValueError'>, 'x')"),
        ("expect=int", "expect= must be an exception type or a tuple of them, not <class 'int'>"),
        ('budget="10"', "budget= must be a non-negative number of virtual seconds, not '10'"),
        ("budget=-1", "budget= must be a non-negative number of virtual seconds, not -1"),
        ("budgte=10", "unknown keyword argument(s) ['budgte']; the marker takes budget=, expect=, envelope=, grade= and respond="),
        ('envelope="yes"', "envelope= must be True or a dict with keys from ['low', 'high', 'resolution', 'infinity'], not 'yes'"),
        ('envelope={"low": 10, "high": 5}', "envelope={'low': 10, 'high': 5}: needs low <= high and a resolution > 0"),
        ('envelope={"infinity": 0}', "envelope={'infinity': ...} must be True or False, not 0"),
        (
            'envelope={"low": float("inf")}',
            "envelope={'low': inf}: low and resolution must be finite (high=inf searches up to the horizon)",
        ),
    ],
    ids=[
        "unknown-name", "not-a-number", "negative", "bad-object", "not-a-spec", "expect-instance",
        "expect-tuple", "expect-not-exception", "budget-string", "budget-negative", "unknown-keyword",
        "envelope-not-a-dict", "envelope-empty-range", "envelope-infinity-not-a-bool", "envelope-infinite-low",
    ],
)
def test_bad_marker_arguments_are_collection_errors_naming_the_test(
    inner: pytest.Pytester, args: str, problem: str
) -> None:
    source = f"""

@pytest.mark.claude_timeout({args})
def test_bad(claude_network):
    raise AssertionError("the test body ran")


def test_good():
    pass
"""
    result = run(inner, source)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "the test body ran" not in out
    if not problem:
        result.stdout.fnmatch_lines(["*ScenarioError: stalled_stream: deltas must be a whole number >= 0, not -1"])
        return
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*collected 1 item / 1 error",
            f"test_inner.py::test_bad: @pytest.mark.claude_timeout: {problem}",
            "ERROR test_inner.py::test_bad",
        ]
    )
    assert "Traceback" not in out and "During handling" not in out


FAILURE_REPORTS = """
@pytest.mark.claude_timeout("proxy_cutoff")
def test_summary(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)  # the SDK's defaults


@pytest.mark.claude_timeout("stalled_stream")
def test_stream_summary(claude_network):
    with anthropic.Anthropic(api_key="sk-ant-test").messages.stream(**MSG) as stream:
        for text in stream.text_stream:
            pass
"""


def test_failure_report_of_the_default_client(inner: pytest.Pytester) -> None:
    result = run(inner, FAILURE_REPORTS)
    result.assert_outcomes(failed=2)
    status = "GatewayTimeoutError" if STACK == "httpx2" else "InternalServerError"
    attempt = [
        "attempt {n}: * -> * s  POST https://api.anthropic.com/v1/messages (non-streaming, retry-count {r})",
        "    timeouts: connect=5 read=600 write=600 pool=600",
        "    *  request sent",
        "{reuse}",
        "    *  upstream working (proxy cuts idle connections at 60 s): 60 s",
        "    *  response headers: 504 from the proxy (nginx)",
        "    *  proxy error page",
        "    => 504, body complete",
    ]
    backoff = ["    ... 0.* s until the next attempt (client backoff or own code)"]
    result.stdout.fnmatch_lines(
        [
            "*_ test_summary[[]claude_timeout:proxy_cutoff-60s[]] _*",
            "claude_timeout: test_inner.py::test_summary FAILED under "
            "proxy_cutoff(idle=60, upstream=75, ping_interval=10, status=504, server='nginx')",
            "expected: the test body returns normally",
            "verdict:  exception escaped",
            f"reason:   anthropic.{status} (status 504) escaped from the test body: 504 Gateway Time-out nginx",
            "virtual elapsed: 18*.* s in 3 attempt(s)",
            "client:   anthropic * on httpx*",
            "raised at: *test_inner.py:* in test_summary: anthropic.Anthropic(api_key=*",
            "",
            "virtual timeline:",
            "scenario: proxy_cutoff(idle=60, upstream=75, ping_interval=10, status=504, server='nginx')",
            # the 504 came with a whole body: the retry goes out on the same, kept-alive connection
            *(line.format(n=1, r=0) for line in attempt if line != "{reuse}"),
            *backoff,
            *(line.format(n=2, r=1, reuse="    *  on connection 1, reused after 0.* s idle") for line in attempt),
            *backoff,
            *(line.format(n=3, r=2, reuse="    *  on connection 1, reused after *.* s idle") for line in attempt),
            "",
            "diagnosis:",
            "- read timeout 600 s exceeds the proxy's 60 s idle cutoff: a non-streaming call longer than 60 s "
            "gets 504 from the proxy, on every attempt (3 of 3). Stream the response (the API's pings keep the "
            "connection busy) or keep the call under 60 s.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_stream_summary[[]claude_timeout:stalled_stream-forever[]] _*",
            "claude_timeout: test_inner.py::test_stream_summary FAILED under stalled_stream(stall=forever, deltas=2, attempts=1)",
            "expected: the test body returns normally",
            "verdict:  exception escaped",
            f"reason:   {STACK}.ReadTimeout escaped from the test body: timed out",
            "virtual elapsed: 600.000 s in 1 attempt(s)",
            "client:   anthropic * on httpx*",
            "raised at: *test_inner.py:* in test_stream_summary: for text in stream.text_stream:",
            "",
            "virtual timeline:",
            "scenario: stalled_stream(stall=forever, deltas=2, attempts=1)",
            "attempt 1: 0.000 -> 600.000 s  POST https://api.anthropic.com/v1/messages (streaming, retry-count 0)",
            "    timeouts: connect=5 read=600 write=600 pool=600",
            "         0.000  request sent",
            "         0.000  response headers: 200",
            "         0.000  message_start",
            "         0.000  content_block_start",
            "         0.000  ping",
            "         0.000  content_block_delta x2 (until 0.000)",
            "         0.000  stream stalled: forever",
            "       600.000  client gave up: no progress for 600 s (read timeout)",
            "    => ReadTimeout (read timeout 600 s) in body",
            "",
            "diagnosis:",
            f"- {STACK}.ReadTimeout escaped from stream iteration after 5 events (the stream went silent and the "
            "read timeout of 600 s ran out): the SDK does not retry failures after the stream started; catch it "
            "and restart the stream.",
        ],
        consecutive=True,
    )


def test_diagnoses_are_computed_from_what_happened(inner: pytest.Pytester) -> None:
    # One scenario, several configurations: each diagnosis follows the client's timeouts,
    # retries and way of calling, and the scenario's parameters.
    source = '''
def create(**options):
    anthropic.Anthropic(api_key="sk-ant-test", **options).messages.create(**MSG)


def stream(**options):
    with anthropic.Anthropic(api_key="sk-ant-test", **options).messages.stream(**MSG) as stream:
        stream.get_final_message()


@pytest.mark.claude_timeout("proxy_cutoff:30", "proxy_cutoff:60")
def test_defaults(claude_network):
    create()


@pytest.mark.claude_timeout("proxy_cutoff:30")
def test_no_retries(claude_network):
    create(max_retries=0)


@pytest.mark.claude_timeout("proxy_cutoff:30")
def test_short_read_timeout(claude_network):
    create(timeout=20)


@pytest.mark.claude_timeout(pct.ProxyCutoff(idle=30, ping_interval=None))
def test_silent_stream(claude_network):
    stream()


@pytest.mark.claude_timeout("stalled_stream", "long_silence")
def test_stream_read_timeout_45(claude_network):
    stream(timeout=45)
'''
    result, records = run_with_report(inner, source)
    result.assert_outcomes(failed=7)
    diagnosis = {nodeid.split("::")[1]: r["diagnosis"] for nodeid, r in records.items()}
    assert diagnosis["test_defaults[claude_timeout:proxy_cutoff-30s]"] == [
        "read timeout 600 s exceeds the proxy's 30 s idle cutoff: a non-streaming call longer than 30 s gets 504 "
        "from the proxy, on every attempt (3 of 3). Stream the response (the API's pings keep the connection "
        "busy) or keep the call under 30 s.",
        "the SDK's max_retries retried 2 times: attempts 2 and 3 carry x-stainless-retry-count 1 to 2.",
    ]
    assert "the proxy's 60 s idle cutoff" in diagnosis["test_defaults[claude_timeout:proxy_cutoff-60s]"][0]
    assert "on every attempt (1 of 1)" in diagnosis["test_no_retries[claude_timeout:proxy_cutoff-30s]"][0]
    assert diagnosis["test_short_read_timeout[claude_timeout:proxy_cutoff-30s]"] == [
        "read timeout 20 s is shorter than the server's time to first byte: 3 of 3 attempts timed out waiting "
        "for the response headers. Stream the response (the API pings while it prefills) or raise the read "
        "timeout above the time to first byte.",
        "the SDK's max_retries retried 2 times: attempts 2 and 3 carry x-stainless-retry-count 1 to 2.",
    ]
    assert diagnosis["test_silent_stream[claude_timeout:proxy_cutoff-30s]"] == [
        f"{STACK}.RemoteProtocolError escaped from stream iteration after 1 event (the proxy closed the "
        "connection after 30 s of silence): the SDK does not retry failures after the stream started; catch "
        "it and restart the stream."
    ]
    for label in ("stalled_stream-forever", "long_silence-330s"):
        assert "the stream went silent and the read timeout of 45 s ran out" in (
            diagnosis[f"test_stream_read_timeout_45[claude_timeout:{label}]"][0]
        )
