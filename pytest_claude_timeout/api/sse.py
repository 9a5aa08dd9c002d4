"""A Message as the API streams it: server-sent events (``message_start``, one
``content_block_start`` / ``*_delta`` / ``content_block_stop`` group per block, ``ping``,
``message_delta``, ``message_stop``), and the way back (:func:`parse`, :func:`accumulate`)
for recorded transcripts.

Deltas follow the real API's: ``text_delta`` by word, ``input_json_delta`` pieces of a tool
call's JSON input (the first one empty, as the API sends), ``thinking_delta`` then one
``signature_delta``; blocks without deltas (``redacted_thinking``) arrive whole in their
``content_block_start``. So the SDK's accumulated ``get_final_message()`` equals the
non-streaming Message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import wire

Event = tuple[str, bytes]
"""An event's name and its SSE bytes (``event: ...\\ndata: ...\\n\\n``)."""

JSON_PIECE = 12
"""Characters of a tool input's JSON per ``input_json_delta``."""


def _start_block(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind in ("tool_use", "server_tool_use"):
        return {**block, "input": {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return dict(block)


def _deltas(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text_delta", "text": d} for d in wire.chunk_text(str(block.get("text", ""))) if d]
    if kind in ("tool_use", "server_tool_use"):
        raw = json.dumps(block.get("input") or {}) if block.get("input") else ""
        pieces = [raw[i : i + JSON_PIECE] for i in range(0, len(raw), JSON_PIECE)]
        return [{"type": "input_json_delta", "partial_json": p} for p in ["", *pieces]]
    if kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": d} for d in wire.chunk_text(str(block.get("thinking", ""))) if d]
        return [*deltas, {"type": "signature_delta", "signature": str(block.get("signature", ""))}]
    return []


def events(msg: Mapping[str, Any]) -> list[Event]:
    """The event sequence the API streams for ``msg`` (a full Message)."""
    usage = dict(msg["usage"])
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None, "usage": {**usage, "output_tokens": 1}}
    out: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    blocks = list(msg["content"])
    if not blocks:
        out.append(("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": _start_block(block)}))
        if index == 0:
            out.append(("ping", {"type": "ping"}))
        out += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in _deltas(block)]
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta_usage = {"output_tokens": usage["output_tokens"]}
    stop = {k: msg.get(k) for k in ("stop_reason", "stop_sequence", "stop_details")}
    out += [
        ("message_delta", {"type": "message_delta", "delta": stop, "usage": delta_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [(name, wire.sse(name, data)) for name, data in out]


def parse(transcript: str | bytes) -> list[Event]:
    """Split a recorded SSE transcript into its events (the bytes of each kept as recorded,
    comments and blank lines between events dropped)."""
    raw = transcript.decode() if isinstance(transcript, bytes) else transcript
    raw = raw.replace("\r\n", "\n")
    found: list[Event] = []
    for chunk in raw.split("\n\n"):
        lines = [line for line in chunk.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), "message")
        found.append((name, ("\n".join(lines) + "\n\n").encode()))
    return found


def data_of(event: bytes) -> dict[str, Any]:
    """The JSON ``data`` of one event's SSE bytes."""
    lines = [line[5:].lstrip() for line in event.decode().split("\n") if line.startswith("data:")]
    value = json.loads("\n".join(lines)) if lines else {}
    return value if isinstance(value, dict) else {}


def accumulate(recorded: list[Event]) -> dict[str, Any]:
    """The Message a stream of events adds up to (as the SDK accumulates it)."""
    msg: dict[str, Any] = {}
    buffers: dict[int, str] = {}
    for _name, raw in recorded:
        data = data_of(raw)
        kind = data.get("type")
        if kind == "message_start":
            msg = dict(data["message"], content=list(data["message"].get("content") or []))
        elif kind == "content_block_start":
            msg["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            block, delta = msg["content"][data["index"]], data["delta"]
            field = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta["type"])
            if field:
                block[field] = block.get(field, "") + delta[field]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                buffers[data["index"]] = buffers.get(data["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop" and data["index"] in buffers:
            msg["content"][data["index"]]["input"] = json.loads(buffers[data["index"]] or "{}")
        elif kind == "message_delta":
            msg.update(data.get("delta", {}))
            msg["usage"] = {**msg.get("usage", {}), **{k: v for k, v in data.get("usage", {}).items() if v is not None}}
    return msg
