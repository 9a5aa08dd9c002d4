"""The fake Anthropic API: what a healthy server sends for a request, as exchange steps.

A Messages call is answered by the test's script (``respond(...)``), else by the defaults
(:func:`responders.default_reply`); the answer is one Message, sent as JSON or streamed as
the API streams it (``sse``). The other endpoints answer in the API's shape
(``endpoints``). The platform's framing (Bedrock's event stream) is applied after the
scenarios shaped the exchange (:meth:`FakeApi.frame`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..exchange import Data, Head, Step
from . import content, endpoints, platforms, sse, wire
from .request import ApiRequest, is_messages_call, route
from .responders import Recording, Reply, ScriptError, default_reply, script

__all__ = ["ApiRequest", "FakeApi", "is_messages_call", "route"]


@dataclass
class FakeApi:
    """A healthy Anthropic API. Without a script it answers ``text`` (or, for a forced
    tool or a structured-output request, schema-valid input or JSON); ``respond`` (or
    :meth:`script`) sets what it answers instead: see :func:`responders.script`."""

    text: str = wire.DEFAULT_TEXT
    respond_with: Callable[[ApiRequest], Any] | None = None
    """The responder: gets each Messages request, returns a reply (see ``script``)."""
    _served: int = field(default=0, repr=False)
    _batches: endpoints.Batches = field(default_factory=endpoints.Batches, repr=False)

    def script(self, *replies: Reply) -> None:
        """Answer successive Messages calls with ``replies`` (or a callable: every call)."""
        self.respond_with = script(replies)

    def placeholder(self) -> FakeApi:
        """An API that answers like this one but consumes no scripted reply (for shaping a
        request that does not exist yet, e.g. a connection's)."""
        return FakeApi(text=self.text)

    def reply(self, request: ApiRequest) -> dict[str, Any] | Recording:
        """The Message (or recording) this API answers a Messages request with."""
        self._served += 1
        try:
            raw = self.respond_with(request) if self.respond_with is not None else default_reply(request, self.text)
            if isinstance(raw, Recording):
                return raw
            return content.to_message(
                raw, model=request.model, input_tokens=request.input_tokens, message_id=f"msg_sim{self._served:06d}"
            )
        except Exception as exc:  # a harness fault: it must reach the test, not the SDK's retry loop
            raise ScriptError(
                f"pytest-claude-timeout: no answer for {request.method} {request.path}: {type(exc).__name__}: {exc}"
            ) from exc

    def _message(self, request: ApiRequest) -> dict[str, Any]:
        answer = self.reply(request)
        return answer.message if isinstance(answer, Recording) else answer

    def respond(self, request: ApiRequest) -> list[Step]:
        request_id = f"req_sim{self._served + 1:06d}"
        if request.endpoint != "messages":
            out = endpoints.answer(request, self._batches, self._message)
            headers = wire.api_headers(request_id, out.content_type, {"content-length": str(len(out.body))})
            return [Head(out.status, headers), Data(out.body, out.label)]
        answer = self.reply(request)
        msg = answer.message if isinstance(answer, Recording) else answer
        if not request.stream:
            body = wire.message_body(msg)
            headers = wire.api_headers(request_id, "application/json", {"content-length": str(len(body))})
            return [Head(200, headers), Data(body, "message")]
        headers = wire.api_headers(request_id, "text/event-stream; charset=utf-8", {"cache-control": "no-cache"})
        events = answer.events if isinstance(answer, Recording) and answer.events else sse.events(msg)
        return [Head(200, headers), *(Data(payload, name) for name, payload in events)]

    def frame(self, request: ApiRequest, steps: Iterable[Step]) -> Iterable[Step]:
        """The shaped steps as the request's platform frames them (Bedrock: event stream)."""
        return platforms.frame(request, steps)
