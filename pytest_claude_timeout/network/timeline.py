"""What the simulated network saw: one record per attempt, and its rendering as text."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class Event:
    at: float
    text: str


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

    @property
    def elapsed(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def finished(self) -> bool:
        return self.end is not None

    def event(self, at: float, text: str) -> None:
        self.events.append(Event(at, text))

    def finish(self, at: float, outcome: str, *, phase: str, error: str | None = None, cancelled: bool = False) -> None:
        if self.finished:
            return
        self.end, self.outcome, self.phase, self.error = at, outcome, phase, error
        self.cancelled = cancelled

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
            "events": [{"at": e.at, "text": e.text} for e in self.events],
        }


def _collapse(events: Sequence[Event]) -> list[str]:
    """Render events, folding runs of the same text (pings, deltas) into one line."""
    lines = []
    for text, run in itertools.groupby(events, key=lambda e: e.text):
        group = list(run)
        if len(group) == 1:
            lines.append(f"{group[0].at:10.3f}  {text}")
        else:
            lines.append(f"{group[0].at:10.3f}  {text} x{len(group)} (until {group[-1].at:.3f})")
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
