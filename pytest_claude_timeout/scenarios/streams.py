"""Editing a stream of exchange steps lazily: what the scenarios' ``apply`` is built from.

A scenario's steps are produced as the clock reaches them, so an endless scenario (pings
every microsecond, a stall of ``inf`` seconds, a billion tokens) costs only what the client
reads. These helpers find a place in a stream (after the n-th part with a label, before the
head ...) by reading ahead at most :data:`LOOKAHEAD` steps, and pass the rest through
unread. A scenario whose ``apply`` is marked :func:`lazy` gets its steps as an iterator;
any other gets them as a list (at most :data:`~pytest_claude_timeout.exchange.MAX_EVENTS`),
so ``apply`` methods written for lists keep working.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..api import wire
from ..errors import HorizonExceeded
from ..exchange import MAX_EVENTS, Connect, Data, Head, Idle, Pings, Step, expanded, has_runs

LOOKAHEAD = MAX_EVENTS
"""The most steps a helper reads ahead to find its place: past that, the attempt could not
be delivered anyway (``exchange.MAX_EVENTS``)."""

F = TypeVar("F", bound=Callable[..., Any])


def lazy(apply: F) -> F:
    """Mark a scenario's ``apply`` as reading its steps as an iterable (any length, possibly
    endless) rather than as a list."""
    apply.__dict__["lazy_steps"] = True
    return apply


def reads_stream(apply: Callable[..., Any]) -> bool:
    return bool(getattr(apply, "lazy_steps", False))


def as_list(steps: Iterable[Step], what: str) -> list[Step]:
    """``steps`` as a list, for an ``apply`` written for lists, with runs of pings spelled
    out (:func:`~pytest_claude_timeout.exchange.expanded`); a stream longer than any real
    exchange (an endless scenario before it) ends the attempt with HorizonExceeded."""
    if isinstance(steps, list) and not has_runs(steps):
        return steps
    out = list(itertools.islice(expanded(steps), MAX_EVENTS + 1))
    if len(out) > MAX_EVENTS:
        raise HorizonExceeded(
            f"{what} reads the exchange as a list, and the scenarios before it make it longer than "
            f"{MAX_EVENTS:,} steps (endless, or longer than any real response); the simulation stopped "
            "it before the first byte. Mark its apply() with @lazy to read the steps as they come.",
            waited=0.0,
            forever=False,
        )
    return out


def split_after(
    steps: Iterable[Step], label: str, occurrence: int = 1, fallback: tuple[str, ...] = ()
) -> tuple[list[Step], Iterator[Step], bool]:
    """``(before, after, found)``: the stream cut just after its ``occurrence``-th body part
    labelled ``label`` (after the last one if there are fewer; ``occurrence=0``: none), else
    after the first part labelled with each ``fallback`` label in turn. When no place is found,
    ``before`` holds every step read and ``after`` the unread rest."""
    it = iter(steps)
    seen: list[Step] = []
    count = 0
    at: int | None = None
    firsts: dict[str, int] = {}
    back: list[Step] = []  # the rest of a run of pings split where the place is
    while True:
        step = back.pop() if back else next(it, None)
        if step is None:
            break
        if isinstance(step, Pings):
            # a run of pings where the place may be: split it there, the rest put back
            counted = occurrence > 0 and step.label == label
            if counted or (step.label in fallback and step.label not in firsts):
                first, rest = step.split(occurrence - count if counted else 1)
                assert first is not None
                if rest is not None:
                    back.append(rest)
                seen.append(first)
                if counted:
                    count += int(first.count)
                    at = len(seen)
                    if count == occurrence:
                        break
                else:
                    firsts[step.label] = len(seen)
                if len(seen) >= LOOKAHEAD:
                    break
                continue
        seen.append(step)
        if isinstance(step, Data):
            if occurrence > 0 and step.label == label:
                count += 1
                at = len(seen)
                if count == occurrence:
                    break
            elif step.label in fallback and step.label not in firsts:
                firsts[step.label] = len(seen)
        if len(seen) >= LOOKAHEAD:
            break
    if at is None:
        at = next((firsts[name] for name in fallback if name in firsts), None)
    rest_of: Iterator[Step] = itertools.chain(back, it)
    if at is None:
        return seen, rest_of, False
    return seen[:at], itertools.chain(seen[at:], rest_of), True


def insert_after(
    steps: Iterable[Step], new: Iterable[Step], label: str, occurrence: int = 1, fallback: tuple[str, ...] = ()
) -> Iterator[Step]:
    """``steps`` with ``new`` inserted where :func:`split_after` finds its place (unchanged
    when there is none)."""
    before, after, found = split_after(steps, label, occurrence, fallback)
    yield from before
    if found:
        yield from new
    yield from after


def cut_after(
    steps: Iterable[Step], tail: Iterable[Step], label: str, occurrence: int = 1, fallback: tuple[str, ...] = ()
) -> Iterator[Step]:
    """``steps`` up to where :func:`split_after` finds its place, then ``tail`` instead of the
    rest (unchanged when there is no such place)."""
    before, after, found = split_after(steps, label, occurrence, fallback)
    yield from before
    if found:
        yield from tail
    else:
        yield from after


AFTER_DELTAS_FALLBACK = ("ping", "message_start")
"""Where a stream with fewer text deltas than asked is cut: after its first ping, else after
``message_start``."""


def waiting(seconds: float, ping_interval: float | None, note: str) -> Iterator[Step]:
    """A silence of ``seconds`` (``inf``: endless), broken by a ``ping`` every
    ``ping_interval`` seconds when set: one :class:`~pytest_claude_timeout.exchange.Pings`
    run (endless when ``seconds`` is), then what is left of the silence."""
    if not ping_interval:
        yield Idle(seconds, note)
        return
    count = pings_within(seconds, ping_interval, strict=True)
    if count:
        yield Pings(ping_interval, count, note, wire.PING)
    if not math.isinf(seconds):
        yield Idle(seconds - count * ping_interval, note)


def pings_within(seconds: float, interval: float, *, strict: bool) -> float:
    """How many pings, ``interval`` apart, fit in ``seconds``: the last one before its end
    (``strict``), or at its end at the latest; ``inf`` for an endless silence."""
    if math.isinf(seconds):
        return math.inf
    n = math.floor(seconds / interval)
    while n > 0 and (n * interval >= seconds if strict else n * interval > seconds):
        n -= 1
    while ((n + 1) * interval < seconds) if strict else ((n + 1) * interval <= seconds):
        n += 1
    return float(n)


def delayed_first_byte(steps: Iterable[Step], seconds: float, ping_interval: float | None, note: str) -> Iterator[Step]:
    """The server thinks for ``seconds``: before the headers of a plain response, after
    ``message_start`` (with keep-alive pings) in a stream."""
    it = iter(steps)
    if seconds <= 0:
        yield from it
        return
    for step in it:
        if not isinstance(step, Head):
            yield step
            continue
        between: list[Step] = []  # what comes before the first body part (silences)
        first: Data | None = None
        for following in it:
            if isinstance(following, Data):
                first = following
                break
            between.append(following)
            if len(between) >= LOOKAHEAD:
                break
        if first is not None and first.label == "message_start":
            yield step
            yield from between
            yield first
            yield from waiting(seconds, ping_interval, note)
            if math.isinf(seconds) and ping_interval:
                return  # pings forever: nothing after them ever arrives
        else:
            yield Idle(seconds, note)
            yield step
            yield from between
            if first is not None:
                yield first
        yield from it
        return


def split_body(steps: Iterable[Step]) -> Iterator[Step]:
    """A plain response's body (``message``) in two parts, so that something can happen
    between them."""
    split = False
    for step in steps:
        if not split and isinstance(step, Data) and step.label == "message":
            half = len(step.payload) // 2
            yield Data(step.payload[:half], "message (first half)")
            yield Data(step.payload[half:], "message (rest)")
            split = True
        else:
            yield step


def after_connecting(steps: Iterable[Step], new: Iterable[Step]) -> Iterator[Step]:
    """``steps`` with ``new`` inserted after the ``Connect`` steps they start with."""
    it = iter(steps)
    for step in it:
        if not isinstance(step, Connect):
            yield from new
            yield step
            yield from it
            return
        yield step
    yield from new


def before_head(steps: Iterable[Step], first: Iterable[Step], before: Iterable[Step]) -> Iterator[Step]:
    """``first`` at the start and ``before`` just before the response head; ``steps``
    unchanged when they have no head (within :data:`LOOKAHEAD` steps)."""
    it = iter(steps)
    pending: list[Step] = []
    for step in it:
        if isinstance(step, Head):
            yield from first
            yield from pending
            yield from before
            yield step
            yield from it
            return
        pending.append(step)
        if len(pending) >= LOOKAHEAD:
            break
    yield from pending
    yield from it

