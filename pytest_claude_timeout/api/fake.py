"""The fake Anthropic API: what a healthy server sends for a request, as exchange steps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..exchange import Data, Head, Step
from . import wire


@dataclass(frozen=True)
class ApiRequest:
    """A request as the fake API reads it."""

    method: str
    url: str
    path: str
    body: dict[str, Any]
    size: int = 0
    """Bytes of the request body as sent."""

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def model(self) -> str:
        return str(self.body.get("model") or "claude-sonnet-4-6")

    @property
    def input_tokens(self) -> int:
        return wire.estimate_tokens(json.dumps(self.body.get("messages", [])))

    @classmethod
    def parse(cls, method: str, url: str, path: str, content: bytes) -> ApiRequest:
        try:
            body = json.loads(content) if content else {}
        except ValueError:
            body = {}
        return cls(method, url, path, body if isinstance(body, dict) else {}, len(content))


def is_messages_call(method: str, path: str) -> bool:
    """``POST .../v1/messages`` under any base URL (a gateway may add a path prefix)."""
    return method == "POST" and path.rstrip("/").endswith("/v1/messages")


@dataclass
class FakeApi:
    """A healthy Messages API: it answers at once with ``text`` (streamed word by word)."""

    text: str = wire.DEFAULT_TEXT
    _served: int = field(default=0, repr=False)

    def respond(self, request: ApiRequest) -> list[Step]:
        self._served += 1
        request_id = f"req_sim{self._served:06d}"
        msg = wire.message(
            message_id=f"msg_sim{self._served:06d}",
            model=request.model,
            text=self.text,
            input_tokens=request.input_tokens,
        )
        if not request.stream:
            body = wire.message_body(msg)
            headers = wire.api_headers(
                request_id, "application/json", {"content-length": str(len(body))}
            )
            return [Head(200, headers), Data(body, "message")]
        headers = wire.api_headers(
            request_id, "text/event-stream; charset=utf-8", {"cache-control": "no-cache"}
        )
        events = wire.stream_events(msg, wire.chunk_text(self.text))
        return [Head(200, headers), *(Data(payload, name) for name, payload in events)]
