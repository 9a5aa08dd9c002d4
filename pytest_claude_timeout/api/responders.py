"""Who decides what the healthy API answers a Messages call: a test's script
(:class:`Scripted`), a recording of the real API (:class:`Recording`), or the defaults
(:func:`default_reply`: a forced tool gets a schema-valid call, a structured-output request
schema-valid JSON, anything else a text)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SimulationError
from . import content, sse
from .request import ApiRequest
from .schema_data import example


class ScriptError(SimulationError):
    """A scripted reply cannot be served (used up, or not a reply)."""


@dataclass(frozen=True)
class Recording:
    """A response captured from the real API: a Message (JSON) or a stream (its SSE events,
    served as recorded; a non-streaming request gets the Message they add up to)."""

    message: dict[str, Any]
    events: tuple[sse.Event, ...] = ()
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a ``.json`` Message or an SSE transcript (``event:``/``data:`` lines)."""
        raw = Path(path).read_text(encoding="utf-8")
        if raw.lstrip().startswith("{"):
            return cls(json.loads(raw), (), str(path))
        events = sse.parse(raw)
        if not events or not any(name == "message_start" for name, _ in events):
            raise ValueError(f"{path}: neither a Message (JSON) nor an SSE transcript with a message_start event")
        return cls(sse.accumulate(events), tuple(events), str(path))


def recorded(path: str | Path) -> Recording:
    """A reply captured from the real API, from a file (see :class:`Recording`)."""
    return Recording.load(path)


Reply = Any
"""A text, a content block, a Message (dict or SDK object), a :class:`Recording`, or a
callable that gets the :class:`ApiRequest` and returns one of these."""


@dataclass
class Scripted:
    """Successive replies, one per call (a retry of a call gets the same reply again); a
    single callable answers every call."""

    replies: Sequence[Reply]
    _next: int = 0
    _last: Any = field(default=None, repr=False)

    def __call__(self, request: ApiRequest) -> Any:
        if request.retry and self._next:
            return self._last
        if len(self.replies) == 1 and callable(self.replies[0]):
            reply = self.replies[0]
        elif self._next < len(self.replies):
            reply = self.replies[self._next]
        else:
            raise ScriptError(
                f"pytest-claude-timeout: the script has {len(self.replies)} repl{'y' if len(self.replies) == 1 else 'ies'} "
                f"and the client made call {self._next + 1} ({request.method} {request.path}); "
                "script one reply per call (a list), or a callable"
            )
        while callable(reply) and not isinstance(reply, Recording):
            reply = reply(request)
        self._next += 1
        self._last = reply
        return reply


def script(replies: Sequence[Reply]) -> Callable[[ApiRequest], Any]:
    """A responder from what a test passes to ``respond(...)``: replies for successive
    calls (one list, or several arguments), or a callable."""
    flat: list[Reply] = []
    for reply in replies:
        flat += list(reply) if isinstance(reply, (list, tuple)) else [reply]
    if not flat:
        raise ScriptError("respond(...) needs at least one reply")
    return Scripted(flat)


def default_reply(request: ApiRequest, text: str) -> Any:
    """What the healthy API answers without a script: a forced tool call gets a call with a
    schema-valid input, a structured-output request schema-valid JSON text, else ``text``."""
    choice = request.tool_choice or {}
    tools = [t for t in request.tools if isinstance(t, dict) and t.get("name")]
    if choice.get("type") in ("tool", "any") and tools:
        wanted = choice.get("name") if choice.get("type") == "tool" else None
        tool = next((t for t in tools if t["name"] == wanted), tools[0])
        schema = tool.get("input_schema") or {"type": "object"}
        return content.message(content.tool_use(tool["name"], example(schema)))
    schema = request.output_schema
    if schema is not None:
        return content.message(json.dumps(example(schema)))
    return content.message(text)
