"""What the healthy API answers, as a Message: helpers to write one (``tool_use``,
``thinking`` ...) and :func:`to_message`, which turns any scripted reply (a text, a block,
a dict or an SDK ``Message``) into the Message JSON the API would send."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from . import wire

BLOCK_TYPES = frozenset({"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"})
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_sim{next(_ids):06d}"


def text(value: str) -> dict[str, Any]:
    """A ``text`` content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, input: Mapping[str, Any] | None = None, *, id: str | None = None) -> dict[str, Any]:
    """A ``tool_use`` block: the model calls tool ``name`` with ``input``."""
    return {"type": "tool_use", "id": id or _id("toolu"), "name": name, "input": dict(input or {})}


def thinking(value: str, signature: str = "c2lnbmF0dXJlLXNpbXVsYXRlZA==") -> dict[str, Any]:
    """A ``thinking`` block (extended thinking) with its signature."""
    return {"type": "thinking", "thinking": value, "signature": signature}


def redacted_thinking(data: str = "cmVkYWN0ZWQtc2ltdWxhdGVk") -> dict[str, Any]:
    """A ``redacted_thinking`` block (its ``data`` is opaque to the client)."""
    return {"type": "redacted_thinking", "data": data}


def message(
    *content: str | Mapping[str, Any] | Any,
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
    usage: Mapping[str, Any] | None = None,
    model: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A Message from content blocks (a ``str`` is a text block). ``stop_reason`` defaults
    to ``tool_use`` when a block calls a tool, else ``end_turn``; ``usage`` entries override
    the estimated ones; ``model`` and ``id`` default to the request's model and a fresh id."""
    msg: dict[str, Any] = {"type": "message", "role": "assistant", "content": [_block(c) for c in content]}
    for key, value in (("stop_reason", stop_reason), ("stop_sequence", stop_sequence), ("usage", usage), ("model", model), ("id", id)):
        if value is not None:
            msg[key] = dict(value) if isinstance(value, Mapping) else value
    return msg


def _plain(value: Any) -> Any:
    """An SDK model (pydantic) as the JSON the API sent; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_none=True)
    return value


def _block(value: Any) -> dict[str, Any]:
    value = _plain(value)
    if isinstance(value, str):
        return text(value)
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        return dict(value)
    raise TypeError(f"a content block is a str or a dict with a 'type' (text, tool_use, thinking ...), not {value!r}")


def is_message(value: Any) -> bool:
    value = _plain(value)
    return isinstance(value, Mapping) and (value.get("type") == "message" or "content" in value)


_FIELDS = frozenset({"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "stop_details", "usage"})


def to_message(value: Any, *, model: str, input_tokens: int, message_id: str) -> dict[str, Any]:
    """The full Message JSON for a reply: a text, a content block, or a (partial) Message as
    a dict or an SDK object. Missing fields are filled in as the API would."""
    value = _plain(value)
    if isinstance(value, str) or (isinstance(value, Mapping) and value.get("type") in BLOCK_TYPES):
        value = message(value)
    if not is_message(value):
        raise TypeError(
            "a scripted reply is a str, a content block, a Message (dict or SDK object), a list of "
            f"replies or a callable returning one, not {value!r}"
        )
    msg = dict(value)
    content = [_block(b) for b in msg.get("content") or []]
    calls_tool = any(b.get("type") == "tool_use" for b in content)
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": max(1, wire.estimate_tokens(json.dumps(content))) if content else 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
        **(msg.get("usage") or {}),
    }
    return {
        "id": msg.get("id") or message_id,
        "type": "message",
        "role": "assistant",
        "model": msg.get("model") or model,
        "content": content,
        "stop_reason": msg.get("stop_reason") or ("tool_use" if calls_tool else "end_turn"),
        "stop_sequence": msg.get("stop_sequence"),
        "stop_details": msg.get("stop_details"),
        "usage": usage,
        **{k: v for k, v in msg.items() if k not in _FIELDS},
    }
