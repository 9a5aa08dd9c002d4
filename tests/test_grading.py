"""Retry grading (``grade=``) in inner pytest sessions, on the real SDK: a retry storm (too
many attempts, or no backoff), a retry-after ignored, a 400 retried and no overall deadline
each fail a test that survives, are named in the verdict and the report; a well-behaved
client passes."""

from __future__ import annotations

import pytest
from pytester_helpers import inner, run, run_with_report, sync_and_async  # noqa: F401 (inner: a fixture)

from pytest_claude_timeout.network.timeline import Attempt, Timeouts
from pytest_claude_timeout.plugin.grading import Grading, GradingError, calls, grade

LOOP = """
import time


def call_with_own_retries(Client, catch, pause, tries=5):
    client = Client(api_key="sk-ant-test", max_retries=0)
    for _ in range(tries):
        try:
            return client.messages.create(**MSG)
        except catch:
            time.sleep(pause)
    raise AssertionError("gave up")
"""


def test_max_retries_20_is_a_retry_storm(inner: pytest.Pytester) -> None:
    source = sync_and_async(
        "twenty_retries",
        "claude_network",
        """
        client = Client(api_key="sk-ant-test", max_retries=20)
        with pytest.raises(anthropic.InternalServerError):
            AWAIT client.messages.create(**MSG)
        """,
        decorators='@pytest.mark.claude_timeout("api_error", grade="retry_storm")',
    ).replace('"api_error"', 'pct.ApiError(attempts=None)')
    result, records = run_with_report(inner, source)
    result.assert_outcomes(failed=2)
    for record in records.values():
        assert record["kind"] == "retry storm", record["reason"]
        assert len(record["attempts"]) == 21
        assert "21 attempts at one call (attempts 1 to 21), more than the limit of 5" in record["reason"]
        assert [g["grade"] for g in record["grades"]] == ["retry_storm"]
    result.stdout.fnmatch_lines(["verdict:  retry storm", "*- retry storm: 21 attempts at one call*"])


def test_a_loop_without_backoff_is_a_retry_storm(inner: pytest.Pytester) -> None:
    source = LOOP + """

@pytest.mark.claude_timeout(pct.ApiError(attempts=3), grade=True)
def test_no_backoff(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.InternalServerError, 0)


@pytest.mark.claude_timeout(pct.ApiError(attempts=3), grade=True)
def test_with_backoff(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.InternalServerError, 1)
"""
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=1, failed=1)
    failed = next(r for r in records.values() if "no_backoff" in r["nodeid"])
    assert failed["kind"] == "retry storm"
    assert "3 of 3 retries came with no backoff: attempt 2 was sent 0.000 s after attempt 1 failed (500)" in failed["reason"]


def test_a_retry_after_ignored_by_a_hand_written_loop(inner: pytest.Pytester) -> None:
    source = LOOP + """

@pytest.mark.claude_timeout("rate_limited:5", grade="retry_after_ignored")
def test_impatient_loop(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.RateLimitError, 1)


@pytest.mark.claude_timeout("rate_limited:5", grade="retry_after_ignored")
def test_patient_loop(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.RateLimitError, 5)
""" + sync_and_async(
        "sdk_retries",
        "claude_network",
        "AWAIT Client(api_key='sk-ant-test').messages.create(**MSG)",
        decorators='@pytest.mark.claude_timeout("rate_limited:5", grade=True)',
    )
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=3, failed=1)
    failed = next(r for r in records.values() if r["verdict"] == "failed")
    assert failed["nodeid"].startswith("test_inner.py::test_impatient_loop")
    assert failed["kind"] == "retry-after ignored"
    assert "attempt 1 got 429 asking to retry after 5 s; attempt 2 came 1.000 s later" in failed["reason"]


def test_a_400_retried_by_a_hand_written_loop(inner: pytest.Pytester) -> None:
    source = LOOP + """

@pytest.mark.claude_timeout(pct.ClientError(400, attempts=1), grade=True)
def test_retries_everything(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.APIStatusError, 1)


@pytest.mark.claude_timeout(pct.ClientError(400, attempts=1), expect=anthropic.BadRequestError, grade=True)
def test_raises_it(claude_network):
    call_with_own_retries(anthropic.Anthropic, anthropic.RateLimitError, 1)
"""
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=1, failed=1)
    failed = next(r for r in records.values() if r["verdict"] == "failed")
    assert failed["kind"] == "non-retryable retried"
    assert "attempt 2 retried attempt 1's 400, which no retry can fix" in failed["reason"]


def test_no_overall_deadline(inner: pytest.Pytester) -> None:
    source = """

@pytest.mark.claude_timeout("late_headers:30", budget=60, grade="no_deadline")
def test_default_timeouts(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test").messages.create(**MSG)


@pytest.mark.claude_timeout("late_headers:30", budget=60, grade="no_deadline")
def test_read_timeout_under_the_budget(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=50).messages.create(**MSG)
"""
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=1, failed=1)
    failed = next(r for r in records.values() if r["verdict"] == "failed")
    assert failed["nodeid"].startswith("test_inner.py::test_default_timeouts")
    assert failed["kind"] == "no deadline"
    assert "read timeout 600 s (attempt 1) lets a single silence outlast the 60 s deadline" in failed["reason"]


@pytest.mark.parametrize(
    "grade_arg, problem",
    [
        ('"storm"', "grade=: unknown grade(s) ?'storm'?; known: retry_storm, *"),
        ("42", "grade=: grade= takes True, a grade's name, *"),
        ('{"max_attempts": 0}', "grade=: max_attempts must be a whole number >= 1, not 0"),
        ('"no_deadline"', "grade='no_deadline' needs a deadline*"),
    ],
)
def test_bad_grade_arguments_are_usage_errors(inner: pytest.Pytester, grade_arg: str, problem: str) -> None:
    source = f"""

@pytest.mark.claude_timeout("api_error", grade={grade_arg})
def test_bad(claude_network):
    pass
"""
    result = run(inner, source)
    result.stdout.fnmatch_lines([f"*{problem}*"])
    assert result.ret != 0


def _attempt(number: int, start: float, end: float, status: int | None = None, error: str | None = None,
             digest: str = "a", retry_after: float | None = None, read: float | None = 600) -> Attempt:
    a = Attempt(number, "POST", "u", False, 0, Timeouts(5, read, read, read), start, request_digest=digest)
    a.end, a.status, a.error, a.retry_after, a.phase = end, status, error, retry_after, "done" if error is None else "headers"
    return a


def test_calls_group_retries_of_the_same_request() -> None:
    attempts = [
        _attempt(1, 0, 1, 500), _attempt(2, 2, 3, 200),  # a retried call
        _attempt(3, 4, 5, 200),  # a new call of the same request (the previous one succeeded)
        _attempt(4, 4.5, 6, 429, digest="b"), _attempt(5, 7, 8, 200, digest="b"),  # another request, concurrent
    ]
    assert [[a.number for a in c.attempts] for c in calls(attempts)] == [[1, 2], [3], [4, 5]]


def test_grades_from_a_timeline() -> None:
    attempts = [
        _attempt(1, 0, 1, 500), _attempt(2, 1.05, 2, 429, retry_after=10), _attempt(3, 3, 4, 400),
        _attempt(4, 5, 6, 200, read=None),
    ]
    findings = grade(attempts, Grading(), budget=30)
    assert [f.grade for f in findings] == ["retry_storm", "retry_after_ignored", "non_retryable_retried", "no_deadline"]
    assert grade(attempts, Grading(("no_deadline",)), budget=None) == []
    with pytest.raises(GradingError):
        Grading(("nope",))
