"""The Messages API's other endpoints, in the API's shape: token counting, models (list and
retrieve) and message batches (create, list, retrieve, results). Each answer is a JSON body
(JSON Lines for batch results) that the scenarios then shape like any other."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import wire
from .request import ApiRequest

MODELS = (
    ("claude-opus-4-5", "Claude Opus 4.5"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
)
"""What ``models.list`` answers (newest first, as the API lists them)."""

_CREATED = "2025-10-01T00:00:00Z"


@dataclass(frozen=True)
class Answer:
    """A JSON answer: status, body and the label of the body part in the timeline."""

    status: int
    body: bytes
    label: str
    content_type: str = "application/json"


def _json(value: Any, label: str, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value, separators=(",", ":")).encode(), label)


def _not_found(kind: str, ident: str | None) -> Answer:
    return Answer(404, wire.error_body("not_found_error", f"{kind}: {ident}"), "error body")


def model_info(model_id: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": name or model_id, "created_at": _CREATED}


@dataclass
class Batches:
    """The batches created so far: each ends at once (virtual time has no queue), its
    results are the replies the Messages endpoint would give each request."""

    created: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def create(self, request: ApiRequest) -> Answer:
        requests = [r for r in request.body.get("requests") or [] if isinstance(r, dict)]
        batch_id = f"msgbatch_sim{len(self.created) + 1:06d}"
        self.created[batch_id] = (datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), requests)
        return _json(self._batch(batch_id, request, ended=False), "message_batch")

    def _batch(self, batch_id: str, request: ApiRequest, *, ended: bool) -> dict[str, Any]:
        created, requests = self.created[batch_id]
        expires = (datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
        base = request.url.split("/v1/messages/batches", 1)[0]
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else len(requests),
                "succeeded": len(requests) if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": created,
            "ended_at": created if ended else None,
            "expires_at": expires,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{base}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def retrieve(self, request: ApiRequest, ident: str | None) -> Answer:
        if ident not in self.created:
            return _not_found("message batch", ident)
        return _json(self._batch(ident, request, ended=True), "message_batch")

    def list(self, request: ApiRequest) -> Answer:
        data = [self._batch(i, request, ended=True) for i in reversed(self.created)]
        page = {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
        return _json(page, "message_batch list")

    def results(self, ident: str | None, message: Callable[[ApiRequest], dict[str, Any]], request: ApiRequest) -> Answer:
        if ident not in self.created:
            return _not_found("message batch", ident)
        lines = []
        for item in self.created[ident][1]:
            raw = item.get("params")
            params: dict[str, Any] = raw if isinstance(raw, dict) else {}
            inner = ApiRequest("POST", request.url, "/v1/messages", {**params, "stream": False}, headers=request.headers)
            result = {"type": "succeeded", "message": message(inner)}
            lines.append(json.dumps({"custom_id": item.get("custom_id"), "result": result}, separators=(",", ":")))
        return Answer(200, ("\n".join(lines) + "\n").encode(), "batch results", "application/binary")


def answer(request: ApiRequest, batches: Batches, message: Callable[[ApiRequest], dict[str, Any]]) -> Answer:
    """The answer of an endpoint other than ``messages`` (``message`` makes a Message for
    a request: batch results hold the Messages the requests would get)."""
    endpoint, ident = request.endpoint, request.route.ident
    if endpoint == "count_tokens":
        return _json({"input_tokens": request.input_tokens}, "token count")
    if endpoint == "models.list":
        data = [model_info(i, n) for i, n in MODELS]
        return _json({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}, "model list")
    if endpoint == "models.retrieve":
        names = dict(MODELS)
        return _json(model_info(str(ident), names.get(str(ident))), "model")
    if endpoint == "batches.create":
        return batches.create(request)
    if endpoint == "batches.list":
        return batches.list(request)
    if endpoint == "batches.retrieve":
        return batches.retrieve(request, ident)
    if endpoint == "batches.results":
        return batches.results(ident, message, request)
    raise ValueError(f"no endpoint {endpoint!r}")
