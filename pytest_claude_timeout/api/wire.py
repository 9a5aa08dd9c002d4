"""The fake Anthropic API's wire format: Message JSON, server-sent events, error bodies.

Pure functions from values to bytes and headers; no timing lives here (see ``api.py``).
The shapes follow the Messages API as the SDKs parse it.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

Headers = tuple[tuple[str, str], ...]

DEFAULT_TEXT = (
    "Timeouts are a contract between your client and the network, "
    "and this answer arrived within it."
)


def chunk_text(text: str) -> list[str]:
    """Split a text into word-sized deltas, as the API streams them (spaces kept)."""
    words = text.split(" ")
    return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words) if w or i == 0]


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def api_headers(request_id: str, content_type: str, extra: Mapping[str, str] = {}) -> Headers:
    return (
        ("content-type", content_type),
        ("request-id", request_id),
        ("anthropic-organization-id", "00000000-0000-4000-8000-000000000000"),
        ("via", "1.1 pytest-claude-timeout"),
        *extra.items(),
    )


def message_body(msg: Mapping[str, Any]) -> bytes:
    return _json(msg)


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _json(data) + b"\n\n"


PING = sse("ping", {"type": "ping"})


def error_body(kind: str, text: str) -> bytes:
    return _json({"type": "error", "error": {"type": kind, "message": text}})


def not_found_body(method: str, path: str) -> bytes:
    return error_body("not_found_error", f"{method} {path} is not served by the simulated API")


def proxy_error_page(status: int, reason: str, server: str = "nginx") -> bytes:
    """The HTML page a reverse proxy sends when it gives up on the upstream."""
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def text_delta(text: str, index: int = 0) -> bytes:
    return sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
    )


def error_event(kind: str, text: str) -> bytes:
    """An ``error`` event inside a stream (e.g. ``overloaded_error``)."""
    return sse("error", {"type": "error", "error": {"type": kind, "message": text}})


def error_headers(request_id: str, body: bytes, extra: Mapping[str, str] = {}) -> Headers:
    return api_headers(request_id, "application/json", {"content-length": str(len(body)), **extra})


def retry_after_seconds(headers: Headers, now: datetime) -> float | None:
    """The wait a response asks for before a retry, in seconds, read as the SDKs read it:
    ``retry-after-ms``, else ``retry-after`` as seconds, else as an HTTP date against
    ``now``; ``None`` when it asks for none (or for nothing positive)."""
    found = {k.lower(): v for k, v in headers}
    for name, factor in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = found.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * factor
        except ValueError:
            if name == "retry-after-ms":
                continue
            try:
                seconds = (email.utils.parsedate_to_datetime(value) - now).total_seconds()
            except (TypeError, ValueError):
                continue
        if seconds > 0:
            return seconds
    return None
