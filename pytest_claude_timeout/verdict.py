"""Verdicts and diagnoses: did a configuration survive a scenario, and why not.

Nothing here is a fixed string per scenario: the verdict compares what the test body did
with what the marker asked for, and each diagnosis line is computed from the recorded
attempts (their timeouts, phases, errors and timing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import HorizonExceeded
from .marker import MarkerSpec, expect_names, type_name
from .timeline import Attempt

RAW_STACK_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2")


@dataclass
class Verdict:
    passed: bool
    kind: str
    """``survived``, ``raised as expected``, ``exception escaped``, ``wrong exception``,
    ``raw HTTP error``, ``no exception``, ``budget exceeded`` or ``horizon``."""
    reason: str
    elapsed: float
    exception: str | None = None
    diagnosis: list[str] = field(default_factory=list)


def is_raw_stack_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in RAW_STACK_MODULES


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """``module.Class (status N): message`` on one line, shortened to ``limit`` characters."""
    name = type_name(type(exc))
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        name += f" (status {status})"
    text = str(exc)
    if "<html" in text:  # a proxy's error page: keep its words, not its markup
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{name}: {text}" if text else name


def truncated_stream(attempts: Sequence[Attempt]) -> Attempt | None:
    """The last streaming attempt, when it ended cleanly without ``message_stop``."""
    streams = [a for a in attempts if a.stream]
    last = streams[-1] if streams else None
    if last is not None and last.phase == "done" and last.status == 200 and "message_stop" not in last.delivered:
        return last
    return None


def judge(
    spec: MarkerSpec, exc: BaseException | None, elapsed: float, attempts: Sequence[Attempt] = ()
) -> Verdict:
    """The verdict on one test body run under one scenario."""
    truncated = truncated_stream(attempts)
    shown = describe_exception(exc) if exc is not None else None
    if isinstance(exc, HorizonExceeded) and not (spec.expect and isinstance(exc, spec.expect)):
        verdict = Verdict(False, "horizon", str(exc), elapsed, shown)
    elif spec.expect is None:
        if exc is None:
            verdict = Verdict(True, "survived", "the test body returned normally", elapsed)
        else:
            verdict = Verdict(False, "exception escaped", f"{shown} escaped from the test body", elapsed, shown)
    elif exc is None:
        verdict = Verdict(
            False, "no exception", f"expected {expect_names(spec.expect)}, but the test body returned normally", elapsed
        )
    elif isinstance(exc, spec.expect):
        verdict = Verdict(True, "raised as expected", f"raised {shown}, as expected", elapsed, shown)
    elif is_raw_stack_error(exc) and not any(is_raw_stack_error_type(t) for t in spec.expect):
        verdict = Verdict(
            False,
            "raw HTTP error",
            f"the raw {type_name(type(exc))} escaped where {expect_names(spec.expect)} was expected: "
            "the SDK did not wrap this failure",
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
            f"without message_stop after {len(truncated.delivered)} events: the client used a partial message",
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
    return verdict


def is_raw_stack_error_type(t: type) -> bool:
    return t.__module__.split(".")[0] in RAW_STACK_MODULES


def _gaps(attempts: Sequence[Attempt]) -> float:
    return sum(
        b.start - a.end for a, b in zip(attempts, attempts[1:]) if a.end is not None and b.start >= a.end
    )


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
        cut = (first.end or first.start) - first.start
        read = first.timeouts.read
        longer = "no read timeout" if read is None else f"read timeout {read:g} s"
        kinds = "streaming" if first.stream else "non-streaming"
        if any("deadline" in e.text for e in first.events):
            lines.append(
                f"the load balancer's {cut:g} s response deadline ends every call longer than that, even "
                f"one that keeps streaming: {first.status} on {len(proxied)} of {total} attempts. Raise the "
                "deadline (backend service timeout) or keep each call under it."
            )
        else:
            lines.append(
                f"{longer} exceeds the proxy's {cut:g} s idle cutoff: a {kinds} call that sends nothing "
                f"for {cut:g} s gets {first.status} from the proxy, on every attempt "
                f"({len(proxied)} of {total} attempts got it). Stream the response (the API's pings keep "
                f"the connection busy) or keep the call under {cut:g} s."
            )

    for before, after in zip(attempts, attempts[1:]):
        if before.status in (429, 529) and before.end is not None:
            lines.append(
                f"attempt {before.number} got {before.status} at {before.end:.3f} s; the client waited "
                f"{after.start - before.end:.3f} s before attempt {after.number} (the SDK reads retry-after)."
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
        detail = connect[0].outcome.split(": ", 1)[-1]
        gave_up = " and the client gave up" if exc is not None and len(connect) == total else ""
        lines.append(
            f"{len(connect)} of {total} attempts failed to connect ({connect[0].error}: {detail}){gave_up}; "
            f"max_retries allowed {total - 1} retr{'y' if total == 2 else 'ies'} here."
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
        cause = "the proxy closed the idle connection" if any("proxy closed" in e.text for e in last.events) else (
            "the stream went silent" if last.error == "ReadTimeout" else "the connection broke"
        )
        lines.append(
            f"{type_name(type(exc))} escaped from stream iteration after {len(last.delivered)} events "
            f"({cause}): the SDK does not retry failures after the stream started; catch it and "
            "restart the stream."
        )

    if exc is not None and getattr(exc, "status_code", None) == 200 and any("error" in a.delivered for a in attempts):
        lines.append(
            "an error event arrived inside the stream: the SDK raised it from the iteration as "
            "APIStatusError with status 200 and does not retry it; catch it and retry the call."
        )

    truncated = truncated_stream(attempts)
    if truncated is not None:
        lines.append(
            f"the stream of attempt {truncated.number} ended cleanly without message_stop after "
            f"{len(truncated.delivered)} events: the SDK returns a partial message with stop_reason "
            "None and no error; check stop_reason and retry."
        )

    horizon = [a for a in attempts if a.error == "HorizonExceeded"]
    if horizon or isinstance(exc, HorizonExceeded):
        read = horizon[0].timeouts.read if horizon else None
        lines.append(
            f"nothing bounds this wait (read timeout {_secs(read)}): the client would have waited "
            "forever or past the horizon. Set a finite timeout."
        )

    if budget is not None and verdict.elapsed > budget:
        busy = sum((a.end or a.start) - a.start for a in attempts)
        lines.append(
            f"{total} attempt(s) took {busy:.3f} s on the network and {_gaps(attempts):.3f} s passed "
            f"between them (backoff, own code): {verdict.elapsed:.3f} s against a budget of {budget:g} s."
        )
    return lines
