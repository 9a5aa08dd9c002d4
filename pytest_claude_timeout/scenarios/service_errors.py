"""Scenarios of the API answering wrongly: HTTP errors the SDK must not retry (400, 401,
403, 413) and one it must (500), and malformed responses (garbage instead of HTTP, an
empty response, a broken chunk, an event that is not JSON).

As in ``service``, each class says what the client sees and where the behaviour comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..exchange import Data, Hangup, Head, Step
from .base import (
    AttemptContext,
    Choices,
    Scenario,
    _after_deltas,
    _applies,
    _split_body,
    error_response,
)

CLIENT_ERRORS = {
    400: ("invalid_request_error", "messages: roles must alternate between \"user\" and \"assistant\""),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
}
"""The API's client errors: status -> (error type, message) (documented: API errors)."""


@dataclass
class ClientError(Scenario):
    """The API refuses the request with ``status`` (400 ``invalid_request_error``, 401
    ``authentication_error``, 403 ``permission_error`` or 413 ``request_too_large``) on the
    first ``attempts`` attempts (``None``: all). The SDK raises ``BadRequestError``,
    ``AuthenticationError``, ``PermissionDeniedError`` or ``APIStatusError`` (413) at once and
    does not retry: retrying cannot help (documented: API errors; the SDK's retry rules)."""

    name: ClassVar[str] = "client_error"
    choices: ClassVar[Choices] = {"status": CLIENT_ERRORS}
    main: ClassVar[str] = "status"

    status: int = 400
    attempts: int | None = None

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        kind, message = CLIENT_ERRORS[self.status]
        return error_response(self.status, kind, message, ctx)


@dataclass
class ApiError(Scenario):
    """The API fails with 500 ``api_error`` ("Internal server error") on the first
    ``attempts`` attempts (``None``: all): the SDK retries it like every 5xx, with its
    backoff, and raises ``InternalServerError`` when its retries run out (documented)."""

    name: ClassVar[str] = "api_error"
    main: ClassVar[str] = "attempts"

    attempts: int | None = 1

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        return error_response(500, "api_error", "Internal server error", ctx)


GARBAGE = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 \xbe\xef garbage \xff\xfe\r\n\r\n"
"""Bytes that are not an HTTP response (a TLS record, then noise; WireMock's
``RANDOM_DATA_THEN_CLOSE``, Toxiproxy-style): a fixed sample, so runs repeat."""
GARBAGE_MESSAGE = "illegal status line: bytearray(b'\\x16\\x03\\x01\\x00\\xa5\\x01\\x00\\x00\\xa1\\x03\\x03 \\xbe\\xef garbage \\xff\\xfe')"
"""What h11 (both httpcore lines parse with it) says of :data:`GARBAGE` (measured)."""
BAD_CHUNK = b"zz\r\nnot a chunk\r\n"
"""Bytes that break the chunked framing of a stream (WireMock's ``MALFORMED_RESPONSE_CHUNK``)."""
BAD_CHUNK_MESSAGE = "illegal chunk header: bytearray(b'zz\\r\\n')"
BAD_JSON = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "te\n\n'
"""An event whose data is cut in the middle of its JSON."""
MALFORMED_KINDS = ("garbage", "empty", "bad_chunk", "bad_json")


@dataclass
class MalformedStream(Scenario):
    """The server answers the first ``attempts`` attempts (``None``: all) with something
    that is not a well-formed response, by ``kind``:

    * ``garbage``: bytes that are not HTTP, then a close: ``RemoteProtocolError`` ("illegal
      status line") before the headers, which the SDK wraps and retries;
    * ``empty``: a close before any byte (WireMock's ``EMPTY_RESPONSE``): "Server
      disconnected without sending a response.", retried (as ``server_disconnect``);
    * ``bad_chunk``: a stream whose chunked framing breaks after ``deltas`` deltas, then a
      close: the raw ``RemoteProtocolError`` ("illegal chunk header") mid-stream, not
      retried (plain calls are not affected: they are sent with a content-length);
    * ``bad_json``: after ``deltas`` deltas a stream sends an event whose data is cut
      mid-JSON (a plain call: a body cut mid-JSON with a matching content-length): the
      SDK's ``json.loads`` raises ``json.JSONDecodeError`` (a ``ValueError``) raw, not
      retried.

    The client's side is measured over real sockets (conformance suite); the server's
    behaviour is assumed (field reports; WireMock's and Toxiproxy's fault catalogs)."""

    name: ClassVar[str] = "malformed_stream"
    choices: ClassVar[Choices] = {"kind": MALFORMED_KINDS}
    main: ClassVar[str] = "kind"

    kind: str = "bad_json"
    deltas: int = 2
    attempts: int | None = 1

    def apply(self, steps: list[Step], ctx: AttemptContext) -> list[Step]:
        if not _applies(self.attempts, ctx.number):
            return steps
        if self.kind == "garbage":
            return [Hangup("RemoteProtocolError", GARBAGE_MESSAGE, "server sent bytes that are not HTTP", raw=GARBAGE)]
        if self.kind == "empty":
            message = "Server disconnected without sending a response."
            return [Hangup("RemoteProtocolError", message, "server closed the connection before any byte")]
        if not ctx.request.stream:
            return steps if self.kind == "bad_chunk" else _cut_json(steps)
        at = _after_deltas(steps, self.deltas)
        if at is None:
            return steps
        if self.kind == "bad_chunk":
            return [*steps[:at], Hangup("RemoteProtocolError", BAD_CHUNK_MESSAGE, "server broke the chunked framing", raw=BAD_CHUNK)]
        return [*steps[:at], Data(BAD_JSON, "content_block_delta (bad JSON)"), *steps[at:]]


def _cut_json(steps: list[Step]) -> list[Step]:
    """A plain body cut mid-JSON, its content-length matching what is sent."""
    halves = _split_body(steps)
    out: list[Step] = []
    for step in halves:
        if isinstance(step, Data) and step.label == "message (rest)":
            continue
        if isinstance(step, Head):
            first = next(s for s in halves if isinstance(s, Data) and s.label == "message (first half)")
            headers = tuple((k, str(len(first.payload)) if k == "content-length" else v) for k, v in step.headers)
            step = Head(step.status, headers, step.note)
        out.append(step)
    return out

