"""Verdicts and diagnoses: did a configuration survive a scenario, and why not.

Nothing here is a fixed string per scenario: the verdict compares what the test body did
with what the marker asked for, and each diagnosis line is computed from the recorded
attempts (their timeouts, phases, errors and timing).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import HarnessError, HorizonExceeded
from ..network.timeline import Attempt
from .grading import Finding, grade
from .marker import MarkerSpec, expect_names, type_name
from .report import HARNESS_ERROR
from .retries import retrier, retry_lines

RAW_STACK_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2")


@dataclass
class Verdict:
    passed: bool
    kind: str
    """``survived`` or ``raised as expected`` (passed); ``exception escaped``, ``wrong
    exception``, ``raw HTTP error``, ``no exception``, ``assertion failed``, ``silent data
    loss``, ``budget exceeded`` or ``horizon`` (failed); with ``grade=``, a passing run fails
    as ``retry storm``, ``retry-after ignored``, ``non-retryable retried`` or ``no deadline``;
    ``harness error`` (the simulation itself broke: no verdict about the client)."""
    reason: str
    elapsed: float
    exception: str | None = None
    diagnosis: list[str] = field(default_factory=list)
    grades: list[Finding] = field(default_factory=list)
    """What grading the client's retrying found (only with ``grade=``)."""


def is_raw_stack_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in RAW_STACK_MODULES


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """``module.Class (status N): message`` on one line, shortened to ``limit`` characters."""
    name, text = exception_parts(exc, limit)
    return f"{name}: {text}" if text else name


def exception_parts(exc: BaseException, limit: int = 160) -> tuple[str, str]:
    """The exception's public name (with its HTTP status, if any) and its message on one
    line, shortened to ``limit`` characters."""
    name = type_name(type(exc))
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        name += f" (status {status})"
    text = str(exc)
    if "<html" in text:  # a proxy's error page: keep its words, not its markup or title
        text = re.sub(r"<head>.*?</head>|<[^>]*>", " ", text, flags=re.S | re.I)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return name, text


def is_assertion(exc: BaseException) -> bool:
    """An ``assert`` of the test body, or ``pytest.fail()``: the test's own check failed."""
    return isinstance(exc, AssertionError) or (
        type(exc).__name__ == "Failed" and type(exc).__module__.startswith("_pytest")
    )


def truncated_stream(attempts: Sequence[Attempt]) -> Attempt | None:
    """The last streaming attempt, when it ended cleanly without ``message_stop``."""
    streams = [a for a in attempts if a.stream]
    last = streams[-1] if streams else None
    if last is not None and last.phase == "done" and last.status == 200 and not last.received("message_stop"):
        return last
    return None


def judge(
    spec: MarkerSpec,
    exc: BaseException | None,
    elapsed: float,
    attempts: Sequence[Attempt] = (),
    faults: Sequence[BaseException] = (),
) -> Verdict:
    """The verdict on one test body run under one scenario. A fault of the simulation itself
    (``faults``, or a :class:`HarnessError` escaping the body) is never judged: whatever the
    body did, the verdict is ``harness error``."""
    fault = exc if isinstance(exc, HarnessError) else next(iter(faults), None)
    if fault is not None:
        return Verdict(False, HARNESS_ERROR, str(fault), elapsed, describe_exception(fault))
    truncated = truncated_stream(attempts)
    shown = describe_exception(exc) if exc is not None else None
    expected = spec.expect is not None and exc is not None and isinstance(exc, spec.expect)
    if exc is not None and not expected and isinstance(exc, HorizonExceeded):
        verdict = Verdict(False, "horizon", str(exc), elapsed, shown)
    elif exc is not None and not expected and is_assertion(exc):
        message = str(exc).strip() or type_name(type(exc))
        verdict = Verdict(False, "assertion failed", f"the test body's own check failed: {message}", elapsed, shown)
    elif spec.expect is None:
        if exc is None:
            verdict = Verdict(True, "survived", "the test body returned normally", elapsed)
        else:
            name, message = exception_parts(exc)
            verdict = Verdict(
                False, "exception escaped", f"{name} escaped from the test body: {message}", elapsed, shown
            )
    elif exc is None:
        verdict = Verdict(
            False, "no exception", f"expected {expect_names(spec.expect)}, but the test body returned normally", elapsed
        )
    elif expected:
        verdict = Verdict(True, "raised as expected", f"raised {shown}, as expected", elapsed, shown)
    elif is_raw_stack_error(exc) and not any(is_raw_stack_error_type(t) for t in spec.expect):
        verdict = Verdict(
            False,
            "raw HTTP error",
            f"the raw {type_name(type(exc))} escaped where {expect_names(spec.expect)} was expected: "
            f"the SDK did not wrap this failure ({shown})",
            elapsed,
            shown,
        )
    else:
        verdict = Verdict(
            False, "wrong exception", f"expected {expect_names(spec.expect)}, got {shown}", elapsed, shown
        )
    if verdict.passed and exc is None and truncated is not None:
        verdict = Verdict(
            False,
            "silent data loss",
            f"the test body returned normally, but the last stream (attempt {truncated.number}) ended "
            f"without message_stop after {_events(truncated)}: the client used a partial message",
            elapsed,
        )
    if verdict.passed and spec.budget is not None and elapsed > spec.budget:
        verdict = Verdict(
            False,
            "budget exceeded",
            f"virtual elapsed {elapsed:.3f} s exceeds the budget of {spec.budget:g} s by "
            f"{elapsed - spec.budget:.3f} s ({verdict.reason})",
            elapsed,
            shown,
        )
    if spec.grade is not None:
        findings = grade(attempts, spec.grade, spec.budget)
        if verdict.passed and findings:
            reason = f"the client's retrying is graded {findings[0].kind}: {findings[0].text}"
            verdict = Verdict(False, findings[0].kind, reason, elapsed, shown)
        verdict.grades = findings
    return verdict


def is_raw_stack_error_type(t: type) -> bool:
    return t.__module__.split(".")[0] in RAW_STACK_MODULES


def _gaps(attempts: Sequence[Attempt]) -> float:
    return sum(
        b.start - a.end for a, b in itertools.pairwise(attempts) if a.end is not None and b.start >= a.end
    )


def _events(attempt: Attempt) -> str:
    count = len(attempt.delivered)
    return f"{count} event{'' if count == 1 else 's'}"


def _silence_before_head(attempt: Attempt) -> float:
    """How long nothing arrived before the response headers (a proxy's idle cutoff)."""
    heads = [i for i, e in enumerate(attempt.events) if e.text.startswith("response headers")]
    if not heads or heads[0] == 0:
        return (attempt.end or attempt.start) - attempt.start
    i = heads[0]
    return attempt.events[i].at - attempt.events[i - 1].at


def _silence_before_end(attempt: Attempt) -> float:
    """How long nothing arrived before the attempt ended."""
    if len(attempt.events) < 2:
        return (attempt.end or attempt.start) - attempt.start
    return attempt.events[-1].at - attempt.events[-2].at


def _secs(value: float | None) -> str:
    return "none" if value is None else f"{value:g} s"


def diagnose(attempts: Sequence[Attempt], exc: BaseException | None, verdict: Verdict, budget: float | None) -> list[str]:
    """Explanations drawn from what happened, most specific first."""
    lines: list[str] = []
    if isinstance(exc, ValueError) and "Streaming is required" in str(exc):
        lines.append(
            "the SDK's 10-minute non-streaming guard refused the call before any request: max_tokens "
            "is too large for a non-streaming call without an explicit timeout. Stream it, or set a timeout."
        )
    if not attempts:
        if not verdict.passed:
            lines.append(
                "no request reached the simulated network: the failure is not a network one "
                "(or the client was not an Anthropic SDK client on httpx/httpx2)"
            )
        return lines
    total = len(attempts)

    proxied = [a for a in attempts if a.status and a.status >= 500 and "proxy error page" in a.delivered]
    if proxied:
        first = proxied[0]
        kinds = "streaming" if first.stream else "non-streaming"
        on = "on every attempt" if len(proxied) == total else f"on {len(proxied)} of {total} attempts"
        if any("deadline" in e.text for e in first.events):
            cut = (first.end or first.start) - first.start
            lines.append(
                f"the load balancer's {cut:g} s response deadline ends every call longer than that, even "
                f"one that keeps streaming: {first.status} from it {on} ({len(proxied)} of {total}). Raise "
                "the deadline (backend service timeout) or keep each call under it."
            )
        else:
            cut = _silence_before_head(first)
            read = first.timeouts.read
            client = "no read timeout" if read is None else f"read timeout {read:g} s"
            verb = "exceeds" if read is None or read > cut else "does not undercut"
            lines.append(
                f"{client} {verb} the proxy's {cut:g} s idle cutoff: a {kinds} call longer than {cut:g} s "
                f"gets {first.status} from the proxy, {on} ({len(proxied)} of {total}). Stream the "
                f"response (the API's pings keep the connection busy) or keep the call under {cut:g} s."
            )

    for before, after in itertools.pairwise(attempts):
        if before.status in (429, 529) and before.end is not None:
            lines.append(
                f"attempt {before.number} got {before.status} at {before.end:.3f} s; the client waited "
                f"{after.start - before.end:.3f} s before attempt {after.number} "
                + ("(the SDK reads retry-after)." if after.retry_count else "(a new call, not an SDK retry).")
            )

    waited = [a for a in attempts if a.error == "ReadTimeout" and a.phase == "headers"]
    if waited:
        read = waited[0].timeouts.read
        lines.append(
            f"read timeout {_secs(read)} is shorter than the server's time to first byte: "
            f"{len(waited)} of {total} attempts timed out waiting for the response headers. "
            "Stream the response (the API pings while it prefills) or raise the read timeout above "
            "the time to first byte."
        )

    connect = [a for a in attempts if a.phase == "connect" and a.error]
    if connect:
        what = connect[0].outcome.replace(" in connect", "")
        through = next((a for a in attempts if a.phase != "connect"), None)
        if len(connect) == total:
            lines.append(
                f"all {total} attempts failed to connect ({what}): {retrier(attempts)} retried {total - 1} "
                f"time{'' if total == 2 else 's'} and gave up"
                + (f" after {connect[-1].end:.3f} s." if connect[-1].end is not None else ".")
            )
        elif through is not None:
            lines.append(
                f"{len(connect)} of {total} attempts failed to connect ({what}); {retrier(attempts)} retried and "
                f"attempt {through.number} got through at {through.start:.3f} s."
            )

    pooled = [a for a in attempts if a.error == "PoolTimeout"]
    if pooled:
        lines.append(
            f"{len(pooled)} of {total} attempts found the connection pool full and gave up after the pool "
            f"timeout ({_secs(pooled[0].timeouts.pool)}): more concurrent calls than the client's "
            "max_connections while answers are slow. Raise the limit, lower the concurrency, or allow a "
            "longer pool timeout."
        )

    mid = [a for a in attempts if a.phase == "body" and a.error and a.error != "HorizonExceeded"]
    if mid and exc is not None and is_raw_stack_error(exc):
        last = mid[-1]
        if any("proxy closed" in e.text for e in last.events):
            cause = f"the proxy closed the connection after {_silence_before_end(last):g} s of silence"
        elif last.error == "ReadTimeout":
            cause = f"the stream went silent and the read timeout of {_secs(last.timeouts.read)} ran out"
        else:
            cause = f"the connection broke: {last.error}"
        lines.append(
            f"{type_name(type(exc))} escaped from stream iteration after {_events(last)} "
            f"({cause}): the SDK does not retry failures after the stream started; catch it and "
            "restart the stream."
        )

    if exc is not None and getattr(exc, "status_code", None) == 200 and any(a.received("error") for a in attempts):
        lines.append(
            "an error event arrived inside the stream: the SDK raised it from the iteration as "
            "APIStatusError with status 200 and does not retry it; catch it and retry the call."
        )

    truncated = truncated_stream(attempts)
    if truncated is not None:
        lines.append(
            f"the stream of attempt {truncated.number} ended cleanly without message_stop after "
            f"{_events(truncated)}: the SDK returns a partial message with stop_reason "
            "None and no error; check stop_reason and retry."
        )

    horizon = [a for a in attempts if a.error == "HorizonExceeded"]
    if horizon or isinstance(exc, HorizonExceeded):
        read = horizon[0].timeouts.read if horizon else None
        lines.append(
            f"nothing bounds this wait (read timeout {_secs(read)}): the client would have waited "
            "forever or past the horizon. Set a finite timeout."
        )

    lines += retry_lines(attempts)

    if budget is not None and verdict.elapsed > budget:
        busy = sum((a.end or a.start) - a.start for a in attempts)
        against = f"{verdict.elapsed:.3f} s against a budget of {budget:g} s"
        if total == 1:
            lines.append(f"the only attempt took {busy:.3f} s on the network: {against}.")
        else:
            lines.append(
                f"{total} attempts took {busy:.3f} s on the network and {_gaps(attempts):.3f} s passed "
                f"between them (backoff, own code): {against}."
            )
    return lines
