"""Amazon Bedrock: a streamed answer (``invoke-with-response-stream``) is a sequence of AWS
event-stream messages; each ``chunk`` event carries one first-party stream event, as JSON,
base64-encoded in ``{"bytes": ...}``. An in-stream ``error`` becomes an ``exception``
message (the SDK surfaces it as a first-party ``error`` event). A body part that a scenario
cut in the middle of an event (a truncated stream) is cut in the middle of its frame."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Iterator

from ...exchange import Data, Head, Pings, Step
from .. import sse
from ..eventstream import frame

CONTENT_TYPE = "application/vnd.amazon.eventstream"

_EXCEPTIONS = {"overloaded_error": "serviceUnavailableException", "rate_limit_error": "throttlingException"}


def _event_frame(raw: bytes) -> bytes:
    data = sse.data_of(raw)
    if data.get("type") == "error":
        error = data.get("error") or {}
        kind = _EXCEPTIONS.get(str(error.get("type")), "internalServerException")
        headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
        return frame(headers, json.dumps({"message": error.get("message", "")}).encode())
    chunk = {"bytes": base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()}
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(chunk).encode())


def _framed(payload: bytes) -> bytes:
    whole, _, tail = payload.rpartition(b"\n\n")
    if not whole and not payload.endswith(b"\n\n"):
        whole, tail = b"", payload
    out = b"".join(_event_frame(raw) for _, raw in sse.parse(whole + b"\n\n")) if whole else b""
    if tail.strip():
        try:
            partial = _event_frame(tail + b"\n\n")
        except ValueError:  # not even its JSON is whole: a frame's first bytes
            partial = frame({":event-type": "chunk"}, tail)
        out += partial[: len(partial) // 2]
    return out


def frame_stream(steps: Iterable[Step]) -> Iterator[Step]:
    """Each step as Bedrock sends it, one at a time (the steps are produced lazily)."""
    for step in steps:
        if isinstance(step, Head) and step.status == 200:
            headers = tuple((k, CONTENT_TYPE if k == "content-type" else v) for k, v in step.headers)
            step = dataclasses.replace(step, headers=(*headers, ("x-amzn-requestid", dict(step.headers).get("request-id", ""))))
        elif isinstance(step, (Data, Pings)) and b"data:" in step.payload:
            step = dataclasses.replace(step, payload=_framed(step.payload))
        yield step
