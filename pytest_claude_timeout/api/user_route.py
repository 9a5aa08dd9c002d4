"""A suite's own mocked answer for the Messages API, as the healthy API's steps.

When a test already mocks Claude (a respx route, a pytest-httpx response), that response
is what the healthy API answers; the scenarios then shape it like the fake API's own: a
slow prefill before it, a stall after its first deltas, a proxy's 504 in front of it.
A server-sent-events body is cut into its events (labelled by their ``event:`` name, as
the fake API's), any other body is one piece (``message``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..exchange import Data, Head, Step
from .fake import ApiRequest
from .wire import Headers

# Framing is the transport's business: the body is replayed as pieces.
_FRAMING = {"content-length", "transfer-encoding", "content-encoding", "connection"}


def sse_events(body: bytes) -> list[tuple[str, bytes]]:
    """``(event name, bytes)`` per server-sent event, the blank line kept with its event."""
    events: list[tuple[str, bytes]] = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name = "message"
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
        events.append((name, block + b"\n\n"))
    return events


@dataclass(frozen=True)
class UserAnswer:
    """The answer of a user's own route: status, headers and the whole body."""

    status: int
    headers: Headers
    body: bytes

    def respond(self, request: ApiRequest) -> list[Step]:
        headers = tuple((k, v) for k, v in self.headers if k.lower() not in _FRAMING)
        content_type = {k.lower(): v for k, v in headers}.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            pieces = [Data(payload, name) for name, payload in sse_events(self.body)]
        else:
            headers += (("content-length", str(len(self.body))),)
            pieces = [Data(self.body, "message")] if self.body else []
        return [Head(self.status, headers, "from the test's own mock"), *pieces]

    def frame(self, request: ApiRequest, steps: Iterable[Step]) -> Iterable[Step]:
        """As the test's mock sent it: no platform framing."""
        return steps
