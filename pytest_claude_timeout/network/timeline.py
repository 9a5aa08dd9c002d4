"""What the simulated network saw: one record per attempt, and its rendering as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .sender import Sender

CURRENT_CALL: ContextVar[int | None] = ContextVar("pytest_claude_timeout_call", default=None)
"""The number of the call being made (set by ``calls.run_calls``; each attempt records it)."""

PART_JOIN = " + "
"""Joins the labels of the events one body part completes (a coalesced or re-sliced stream)."""


@dataclass(frozen=True)
class Timeouts:
    """The effective per-attempt timeouts, as the HTTP stack passed them down (seconds)."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any]) -> Timeouts:
        t = extensions.get("timeout") or {}
        return cls(t.get("connect"), t.get("read"), t.get("write"), t.get("pool"))

    def __str__(self) -> str:
        return " ".join(f"{k}={_secs(v)}" for k, v in self.as_dict().items())

    def as_dict(self) -> dict[str, float | None]:
        return {"connect": self.connect, "read": self.read, "write": self.write, "pool": self.pool}


def _secs(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


EVENT_KINDS = ("sent", "connect", "wait", "head", "data", "ping", "timeout", "hangup", "closed", "horizon", "pool", "note")
"""What an :class:`Event` records: the request sent, a connection being made, a silence
starting, the response headers, a body part (``ping`` for keep-alive pings), the client
giving up (``timeout``), the far side failing the connection (``hangup``), the client
closing the response, the simulation's horizon, a wait for a pooled connection."""


@dataclass
class Event:
    at: float
    text: str
    kind: str = "note"
    by: str = ""
    """Who acted, when not the API server or the client: ``proxy``, ``load balancer``,
    ``stall`` (a stalled upstream) ..."""


@dataclass
class Span:
    """A phase of an attempt: ``connect``, ``upload``, ``waiting`` (for the first byte),
    ``streaming`` or ``body`` (a non-streaming response's body)."""

    name: str
    start: float
    end: float | None = None


@dataclass
class Attempt:
    """One request as the network saw it, from the first byte sent to the last one read."""

    number: int
    method: str
    url: str
    stream: bool
    retry_count: int | None
    timeouts: Timeouts
    start: float
    end: float | None = None
    status: int | None = None
    error: str | None = None
    """Class name of the httpcore-level error the network raised (``ReadTimeout`` ...)."""
    phase: str | None = None
    """Where the attempt ended: ``connect``, ``headers``, ``body`` or ``done``."""
    outcome: str = "in progress"
    cancelled: bool = False
    """The caller cancelled the attempt (task cancel, ``wait_for``, a cancel scope ...)."""
    events: list[Event] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    """Labels of the body parts delivered (SSE event names, ``message``, ``error page``)."""
    sender: Sender | None = None
    """What sent the request: client library, the layers above it, the HTTP stack."""
    phases: list[Span] = field(default_factory=list)
    deadlines: dict[str, float] = field(default_factory=dict)
    """When each timeout (``connect``, ``read``) would fire for the wait in progress: the
    last time the client armed it (a read timeout restarts at every byte received)."""
    request_digest: str | None = None
    """A digest of the request (method, URL, body): the same request sent again (a retry,
    by the SDK or by the caller's own loop) has the same digest."""
    call: int | None = None
    """The call this attempt belongs to, when the calls are counted (``calls.run_calls``)."""
    retry_after: float | None = None
    """The wait the response asked for before a retry (``retry-after-ms``, ``retry-after``
    in seconds or as an HTTP date), in seconds; ``None``: it asked for none."""

    def received(self, label: str) -> bool:
        """Whether a body part completing ``label`` (an SSE event name ...) was delivered."""
        return any(label in part.split(PART_JOIN) for part in self.delivered)

    @property
    def elapsed(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def finished(self) -> bool:
        return self.end is not None

    def event(self, at: float, text: str, kind: str = "note", by: str = "") -> None:
        self.events.append(Event(at, text, kind, by))

    def enter(self, phase: str, at: float) -> None:
        """Start ``phase`` at ``at`` (ending the one in progress there)."""
        if self.finished:
            return
        if self.phases and self.phases[-1].end is None:
            self.phases[-1].end = at
        self.phases.append(Span(phase, at))

    def arm(self, timeout: str, limit: float | None, at: float) -> None:
        """The client (re)starts its ``timeout`` timer at ``at``."""
        if limit is not None and not self.finished:
            self.deadlines[timeout] = at + limit

    def finish(self, at: float, outcome: str, *, phase: str, error: str | None = None, cancelled: bool = False) -> None:
        if self.finished:
            return
        self.end, self.outcome, self.phase, self.error = at, outcome, phase, error
        self.cancelled = cancelled
        # A phase planned past the end (an upload cut short) never happened; the one in
        # progress ends here.
        self.phases = [p for p in self.phases if p.start <= at]
        for p in self.phases:
            if p.end is None or p.end > at:
                p.end = at

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "method": self.method,
            "url": self.url,
            "stream": self.stream,
            "retry_count": self.retry_count,
            "timeouts": self.timeouts.as_dict(),
            "start": self.start,
            "end": self.end,
            "status": self.status,
            "error": self.error,
            "phase": self.phase,
            "outcome": self.outcome,
            "cancelled": self.cancelled,
            "delivered": list(self.delivered),
            "retry_after": self.retry_after,
            "events": [{"at": e.at, "text": e.text, "kind": e.kind, "by": e.by} for e in self.events],
            "phases": [{"name": p.name, "start": p.start, "end": p.end} for p in self.phases],
            "deadlines": dict(self.deadlines),
            "client": None if self.sender is None else self.sender.as_dict(),
        }


def _collapse(events: Sequence[Event]) -> list[str]:
    """Render events, folding runs of the same text (deltas) into one line, and runs of the
    same two texts in turn (a silence, then a ping) into one line too."""
    lines = []
    i = 0
    while i < len(events):
        first = events[i]
        same = i + 1
        while same < len(events) and events[same].text == first.text:
            same += 1
        pairs = 0
        if same == i + 1 and i + 1 < len(events):
            second = events[i + 1].text
            while i + 2 * pairs + 1 < len(events) and (events[i + 2 * pairs].text, events[i + 2 * pairs + 1].text) == (
                first.text,
                second,
            ):
                pairs += 1
        if pairs >= 3:
            last = events[i + 2 * pairs - 1]
            lines.append(f"{first.at:10.3f}  {first.text}, then {second} x{pairs} (until {last.at:.3f})")
            i += 2 * pairs
        elif same - i > 1:
            lines.append(f"{first.at:10.3f}  {first.text} x{same - i} (until {events[same - 1].at:.3f})")
            i = same
        else:
            lines.append(f"{first.at:10.3f}  {first.text}")
            i += 1
    return lines


def render(attempts: Sequence[Attempt], header: Sequence[str] = ()) -> str:
    """The attempts as a person reads them: times are virtual seconds since the start."""
    lines = list(header)
    if not attempts:
        lines.append("(no request reached the network)")
    previous: Attempt | None = None
    for a in attempts:
        if previous is not None and previous.end is not None:
            gap = a.start - previous.end
            if gap >= 0:
                lines.append(f"    ... {gap:.3f} s until the next attempt (client backoff or own code)")
            else:
                lines.append("    ... (the next attempt ran concurrently)")
        end = "open" if a.end is None else f"{a.end:.3f}"
        kind = "streaming" if a.stream else "non-streaming"
        retry = "?" if a.retry_count is None else a.retry_count
        lines.append(
            f"attempt {a.number}: {a.start:.3f} -> {end} s  {a.method} {a.url} ({kind}, "
            f"retry-count {retry})"
        )
        lines.append(f"    timeouts: {a.timeouts}")
        lines.extend("    " + line for line in _collapse(a.events))
        lines.append(f"    => {a.outcome}")
        previous = a
    return "\n".join(lines)
