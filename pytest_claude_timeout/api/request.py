"""A request as the fake API reads it, and where it goes (:func:`route`): the Messages API
and its other endpoints, under the first-party URL scheme (any base URL or path prefix:
gateways, Azure Foundry's ``/anthropic``), Vertex AI's or Amazon Bedrock's."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import wire

DEFAULT_MODEL = "claude-sonnet-4-6"

FIRST_PARTY, VERTEX, BEDROCK, FOUNDRY = "anthropic", "vertex", "bedrock", "foundry"


@dataclass(frozen=True)
class Route:
    """What a request asks for: ``endpoint`` (``messages``, ``count_tokens``,
    ``models.list``, ``models.retrieve``, ``batches.create``, ``batches.list``,
    ``batches.retrieve``, ``batches.results``), on which ``platform``, and what the path says
    (the model on Vertex and Bedrock, streaming on Bedrock, a model or batch id)."""

    endpoint: str
    platform: str = FIRST_PARTY
    model: str | None = None
    stream: bool | None = None
    """Set where the path decides it (Bedrock's ``invoke-with-response-stream``)."""
    ident: str | None = None


_FIRST_PARTY = [
    ("POST", re.compile(r"/v1/messages$"), "messages"),
    ("POST", re.compile(r"/v1/messages/count_tokens$"), "count_tokens"),
    ("GET", re.compile(r"/v1/models$"), "models.list"),
    ("GET", re.compile(r"/v1/models/(?P<id>[^/]+)$"), "models.retrieve"),
    ("POST", re.compile(r"/v1/messages/batches$"), "batches.create"),
    ("GET", re.compile(r"/v1/messages/batches$"), "batches.list"),
    ("GET", re.compile(r"/v1/messages/batches/(?P<id>[^/]+)$"), "batches.retrieve"),
    ("GET", re.compile(r"/v1/messages/batches/(?P<id>[^/]+)/results$"), "batches.results"),
]
_VERTEX = re.compile(
    r"/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/(?P<model>[^/:]+):(?P<verb>rawPredict|streamRawPredict)$"
)
_BEDROCK = re.compile(r"/model/(?P<model>[^/]+)/(?P<verb>invoke|invoke-with-response-stream)$")


@functools.lru_cache(maxsize=512)
def route(method: str, path: str) -> Route | None:
    """Where ``METHOD path`` goes, or ``None`` when the fake API does not serve it."""
    path = path.rstrip("/")
    for verb, pattern, endpoint in _FIRST_PARTY:
        found = pattern.search(path)
        if found and method == verb:
            platform = FOUNDRY if path[: found.start()].endswith("/anthropic") else FIRST_PARTY
            return Route(endpoint, platform, ident=found.groupdict().get("id"))
    found = _VERTEX.search(path)
    if found and method == "POST":
        model = unquote(found["model"])
        if model == "count-tokens":
            return Route("count_tokens", VERTEX)
        return Route("messages", VERTEX, model=model, stream=found["verb"] == "streamRawPredict" or None)
    found = _BEDROCK.search(path)
    if found and method == "POST":
        return Route("messages", BEDROCK, model=unquote(found["model"]), stream=found["verb"] != "invoke")
    return None


def is_messages_call(method: str, path: str) -> bool:
    """``POST .../v1/messages`` (or a platform's equivalent) under any base URL."""
    found = route(method, path)
    return found is not None and found.endpoint == "messages"


@dataclass(frozen=True)
class ApiRequest:
    """A request as the fake API reads it (what a scripted responder gets)."""

    method: str
    url: str
    path: str
    body: dict[str, Any]
    size: int = 0
    """Bytes of the request body as sent."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request headers, names in lower case."""
    retry: bool = False
    """The client sends this request again after a failed attempt (the SDK's retry header,
    or the same body right after an attempt that failed): a scripted answer repeats."""

    @functools.cached_property
    def route(self) -> Route:
        return route(self.method, self.path) or Route("messages")

    @property
    def platform(self) -> str:
        return self.route.platform

    @property
    def endpoint(self) -> str:
        return self.route.endpoint

    @property
    def stream(self) -> bool:
        by_path = self.route.stream
        return by_path if by_path is not None else self.body.get("stream") is True

    @property
    def model(self) -> str:
        return str(self.body.get("model") or self.route.model or DEFAULT_MODEL)

    @property
    def messages(self) -> list[dict[str, Any]]:
        value = self.body.get("messages")
        return value if isinstance(value, list) else []

    @property
    def system(self) -> Any:
        return self.body.get("system")

    @property
    def tools(self) -> list[dict[str, Any]]:
        value = self.body.get("tools")
        return value if isinstance(value, list) else []

    @property
    def tool_choice(self) -> dict[str, Any] | None:
        value = self.body.get("tool_choice")
        return value if isinstance(value, dict) else None

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of a structured-output request: ``output_config.format`` (the
        GA shape) or ``output_format`` (the beta shape), of type ``json_schema``."""
        config = self.body.get("output_config")
        candidates = [config.get("format") if isinstance(config, dict) else None, self.body.get("output_format")]
        for fmt in candidates:
            schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
            if isinstance(schema, dict):
                return schema
        return None

    @property
    def last_user_text(self) -> str:
        """The text of the last user turn ('' when there is none)."""
        for turn in reversed(self.messages):
            if isinstance(turn, dict) and turn.get("role") == "user":
                content = turn.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        return ""

    @property
    def input_tokens(self) -> int:
        return wire.estimate_tokens(json.dumps(self.body.get("messages", [])))

    @classmethod
    def parse(
        cls,
        method: str,
        url: str,
        path: str,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        previous: tuple[bytes, bool] | None = None,
    ) -> ApiRequest:
        """Read a request. ``previous``: the body of the request before it and whether
        that attempt failed (to tell a retry that carries no retry header)."""
        try:
            body = json.loads(content) if content else {}
        except ValueError:
            body = {}
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        count = lowered.get("x-stainless-retry-count", "")
        retry = (count.isdigit() and int(count) > 0) or (previous is not None and previous[1] and previous[0] == content)
        return cls(method, url, path, body if isinstance(body, dict) else {}, len(content), lowered, retry)
