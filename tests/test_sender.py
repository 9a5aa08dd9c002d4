"""What sent each request, and which layer retried: the sender recorded per attempt (from
the request's headers and the call stack) and the retry-layer lines of the diagnosis,
against the real SDK of the installed line. (The frameworks suite, tests/frameworks, checks
the same against LangChain, pydantic-ai, litellm, instructor and llm.)"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR
from pytester_helpers import INI

import pytest_claude_timeout as pct
from pytest_claude_timeout.plugin.retries import retrier, retry_lines
from pytest_claude_timeout.plugin.verdict import Verdict, diagnose

STACK = "httpx2" if SDK_MAJOR >= 1 else "httpx"


def test_each_attempt_records_the_sdk_and_the_stack_that_sent_it(call: Any, mode: str) -> None:
    with pct.SimulatedNetwork() as net:
        call(net)

    (attempt,) = net.attempts
    sender = attempt.sender
    assert sender is not None
    assert (sender.sdk, sender.stack, sender.stack_version) == (anthropic.__version__, STACK, version(STACK))
    assert sender.layers == () and sender.retry_layer is None  # the test calls the SDK itself
    assert sender.asynchronous is (mode == "async")
    assert sender.describe() == f"anthropic {anthropic.__version__} ({mode}) on {STACK} {version(STACK)}"
    assert attempt.as_dict()["client"]["client"] == f"anthropic {anthropic.__version__}"


def test_the_sdks_retries_are_named_as_the_sdks(call: Any) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill(75)) as net, pytest.raises(anthropic.APITimeoutError):
        call(net, timeout=60)

    assert retry_lines(net.attempts) == [
        "the SDK's max_retries retried 2 times: attempts 2 and 3 carry x-stainless-retry-count 1 to 2."
    ]
    assert retrier(net.attempts) == "the SDK (max_retries)"


def test_the_callers_own_retries_are_not_the_sdks(call: Any) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill(75)) as net:
        for _ in range(3):  # the application's own loop, around an SDK without retries
            with pytest.raises(anthropic.APITimeoutError):
                call(net, timeout=30, max_retries=0)

    assert [a.retry_count for a in net.attempts] == [0, 0, 0]
    assert retry_lines(net.attempts) == [
        "attempts 2 and 3 started a new call after the previous attempt failed, with no SDK retry count: "
        "the test's own code (or a framework without a known retry loop) retried, not the SDK."
    ]


def test_a_connect_failure_diagnosis_names_the_layer(call: Any) -> None:
    with pct.SimulatedNetwork(pct.DnsFailure(attempts=None)) as net, pytest.raises(anthropic.APIConnectionError):
        call(net, max_retries=1)

    exc = anthropic.APIConnectionError(request=None)  # type: ignore[arg-type]
    lines = diagnose(net.attempts, exc, Verdict(False, "exception escaped", "", net.elapsed), None)
    assert lines[0].startswith("all 2 attempts failed to connect (")
    assert lines[0].endswith(f": the SDK (max_retries) retried 1 time and gave up after {net.attempts[-1].end:.3f} s.")


def test_the_failure_report_names_the_client(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_inner=f"""
import anthropic
import pytest

@pytest.mark.claude_timeout("slow_prefill")
def test_call(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=60, max_retries=1).messages.create(**{MSG!r})
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"client:   anthropic {anthropic.__version__} (sync) on {STACK} {version(STACK)}",
            "- the SDK's max_retries retried 1 time: attempt 2 carries x-stainless-retry-count 1.",
        ]
    )
