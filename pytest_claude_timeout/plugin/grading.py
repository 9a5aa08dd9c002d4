"""Grading how a client retries, from the virtual timeline: surviving is not enough.

``@pytest.mark.claude_timeout(..., grade=True)`` (or the names of some grades) fails a test
whose client, even when it survives:

* ``retry_storm``: makes more attempts at one call than ``max_attempts``, or retries
  with no backoff (less than ``min_backoff`` seconds after a failure, where the server
  asked for no wait);
* ``retry_after_ignored``: retries sooner than a ``retry-after`` (or ``retry-after-ms``)
  asked;
* ``non_retryable_retried``: retries a request the API refused for good (400, 401, 403,
  404, 413, 422 ...: a 4xx other than 408, 409 and 429);
* ``no_deadline``: has no overall deadline: one silence its timeouts allow outlasts the
  deadline (the marker's ``budget=``, or ``deadline``), and the client never cut an
  attempt short itself.

A *retry* is an attempt that sends the same request again (same method, URL and body)
after an attempt of it failed (an error, or a status of 400 or more): the SDK's own
retries and a hand-written loop's alike. Times are exact virtual seconds; a retry-after is
compared with a tolerance of :data:`DATE_TOLERANCE` (an HTTP date counts whole seconds).
No pytest here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..network.timeline import Attempt

GRADES = ("retry_storm", "retry_after_ignored", "non_retryable_retried", "no_deadline")
KINDS = {
    "retry_storm": "retry storm",
    "retry_after_ignored": "retry-after ignored",
    "non_retryable_retried": "non-retryable retried",
    "no_deadline": "no deadline",
}
"""Each grade's verdict kind, as reports name it."""
RETRYABLE_4XX = (408, 409, 429)
"""Client errors worth retrying (as the SDKs retry them): timeout, conflict, rate limit."""
DATE_TOLERANCE = 1.0


class GradingError(ValueError):
    """``grade=`` was given something it cannot use."""


@dataclass(frozen=True)
class Grading:
    """Which grades fail a test, and their limits."""

    checks: tuple[str, ...] = GRADES
    max_attempts: int = 5
    """More attempts than this at one call is a retry storm (the SDK's default makes 3)."""
    min_backoff: float = 0.1
    """A retry sooner than this after a failure is one without backoff (the SDK waits at
    least 0.375 s)."""
    deadline: float | None = None
    """For ``no_deadline``: the longest a call may take (default: the marker's budget)."""

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in GRADES]
        if unknown or not self.checks:
            raise GradingError(f"unknown grade(s) {unknown or '(none given)'}; known: {', '.join(GRADES)}")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise GradingError(f"max_attempts must be a whole number >= 1, not {self.max_attempts!r}")
        for name in ("min_backoff", "deadline"):
            value = getattr(self, name)
            if value is None and name == "deadline":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise GradingError(f"{name} must be a non-negative number of seconds, not {value!r}")

    @classmethod
    def parse(cls, value: Any) -> Grading | None:
        """``grade=``: ``True`` (every grade), a grade's name, a sequence of names, a dict
        of :class:`Grading`'s fields, or a :class:`Grading`; ``None``/``False``: none."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls((value,))
        if isinstance(value, Mapping):
            options = dict(value)
            if "checks" in options and isinstance(options["checks"], str):
                options["checks"] = (options["checks"],)
            elif "checks" in options:
                options["checks"] = tuple(options["checks"])
            unknown = sorted(set(options) - {"checks", "max_attempts", "min_backoff", "deadline"})
            if unknown:
                raise GradingError(f"unknown grading option(s) {unknown}; known: checks, max_attempts, min_backoff, deadline")
            return cls(**options)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return cls(tuple(value))
        raise GradingError(
            f"grade= takes True, a grade's name, a list of names, a dict of options or a Grading, not {value!r}"
        )


@dataclass(frozen=True)
class Finding:
    grade: str
    text: str

    @property
    def kind(self) -> str:
        return KINDS[self.grade]


@dataclass
class Call:
    """One request and its retries, in order."""

    attempts: list[Attempt] = field(default_factory=list)


def failed(attempt: Attempt) -> bool:
    return attempt.error is not None or (attempt.status is not None and attempt.status >= 400)


def calls(attempts: Iterable[Attempt]) -> list[Call]:
    """The attempts grouped by call: an attempt that sends a request again after that
    request failed (see the module doc) continues its call."""
    out: list[Call] = []
    open_calls: dict[str, Call] = {}
    for attempt in sorted(attempts, key=lambda a: (a.start, a.number)):
        previous = open_calls.get(attempt.request_digest or f"#{attempt.number}")
        last = previous.attempts[-1] if previous is not None else None
        if previous is not None and last is not None and last.end is not None and last.end <= attempt.start and failed(last):
            previous.attempts.append(attempt)
            continue
        call = Call([attempt])
        out.append(call)
        open_calls[attempt.request_digest or f"#{attempt.number}"] = call
    return out


def _retries(call: Call) -> Iterable[tuple[Attempt, Attempt, float]]:
    for before, after in zip(call.attempts, call.attempts[1:]):
        assert before.end is not None
        yield before, after, after.start - before.end


def grade(attempts: Sequence[Attempt], grading: Grading, budget: float | None) -> list[Finding]:
    """What the client's retrying deserves, grade by grade (only ``grading.checks``)."""
    grouped = calls(attempts)
    findings: list[Finding] = []
    checks = grading.checks
    if "retry_storm" in checks:
        findings += _storm(grouped, grading)
    if "retry_after_ignored" in checks:
        findings += _retry_after_ignored(grouped)
    if "non_retryable_retried" in checks:
        findings += _non_retryable(grouped)
    deadline = grading.deadline if grading.deadline is not None else budget
    if "no_deadline" in checks and deadline is not None:
        findings += _no_deadline(attempts, deadline)
    return findings


def _storm(grouped: list[Call], grading: Grading) -> list[Finding]:
    findings = []
    long = [c for c in grouped if len(c.attempts) > grading.max_attempts]
    if long:
        worst = max(long, key=lambda c: len(c.attempts))
        first, last = worst.attempts[0], worst.attempts[-1]
        findings.append(Finding(
            "retry_storm",
            f"{len(worst.attempts)} attempts at one call (attempts {first.number} to {last.number}), more than "
            f"the limit of {grading.max_attempts}: lower max_retries, or give up sooner",
        ))
    eager = [
        (b, a, gap) for c in grouped for b, a, gap in _retries(c)
        if gap < grading.min_backoff and (b.retry_after is None or b.retry_after < grading.min_backoff)
    ]
    if eager:
        before, after, gap = eager[0]
        retries = sum(len(c.attempts) - 1 for c in grouped)
        findings.append(Finding(
            "retry_storm",
            f"{len(eager)} of {retries} retries came with no backoff: attempt {after.number} was sent "
            f"{gap:.3f} s after attempt {before.number} failed ({_failure(before)}), less than "
            f"{grading.min_backoff:g} s: back off exponentially, with jitter",
        ))
    return findings


def _retry_after_ignored(grouped: list[Call]) -> list[Finding]:
    early = [
        (b, a, gap) for c in grouped for b, a, gap in _retries(c)
        if b.retry_after is not None and gap + DATE_TOLERANCE < b.retry_after
    ]
    if not early:
        return []
    before, after, gap = early[0]
    assert before.retry_after is not None
    return [Finding(
        "retry_after_ignored",
        f"attempt {before.number} got {_failure(before)} asking to retry after {before.retry_after:g} s; "
        f"attempt {after.number} came {gap:.3f} s later ({len(early)} such retr{'y' if len(early) == 1 else 'ies'}): "
        "wait what retry-after asks",
    )]


def _non_retryable(grouped: list[Call]) -> list[Finding]:
    wrong = [
        (b, a) for c in grouped for b, a, _ in _retries(c)
        if b.status is not None and 400 <= b.status < 500 and b.status not in RETRYABLE_4XX
    ]
    if not wrong:
        return []
    before, after = wrong[0]
    return [Finding(
        "non_retryable_retried",
        f"attempt {after.number} retried attempt {before.number}'s {before.status}, which no retry can fix "
        f"({len(wrong)} such retr{'y' if len(wrong) == 1 else 'ies'}): raise it to the caller",
    )]


def _no_deadline(attempts: Sequence[Attempt], deadline: float) -> list[Finding]:
    if not attempts or any(_cut_by_client(a) for a in attempts):
        return []
    widest = max(attempts, key=lambda a: math.inf if a.timeouts.read is None else a.timeouts.read)
    read = widest.timeouts.read
    if read is not None and read <= deadline:
        return []
    allowed = "no read timeout" if read is None else f"read timeout {read:g} s"
    return [Finding(
        "no_deadline",
        f"{allowed} (attempt {widest.number}) lets a single silence outlast the {deadline:g} s deadline, and the "
        "client never cut a call short itself: give the call an overall deadline (a timeout around it, or "
        "per-attempt timeouts from the time left)",
    )]


def _cut_by_client(attempt: Attempt) -> bool:
    """The client ended this attempt itself before its end (a deadline or a cancellation)."""
    if attempt.end is None or attempt.phase == "done":
        return False
    return attempt.error is None or attempt.cancelled


def _failure(attempt: Attempt) -> str:
    return str(attempt.status) if attempt.error is None and attempt.status is not None else attempt.error or "failure"
