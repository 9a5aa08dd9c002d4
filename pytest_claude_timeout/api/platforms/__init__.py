"""What differs on the cloud platforms, after the scenarios have shaped an exchange in the
first-party wire format: Amazon Bedrock frames a stream as AWS event-stream messages
(``bedrock``); Vertex AI and Azure Foundry send the first-party JSON and SSE."""

from __future__ import annotations

from collections.abc import Iterable

from ...exchange import Step
from ..request import BEDROCK, ApiRequest


def frame(request: ApiRequest, steps: Iterable[Step]) -> Iterable[Step]:
    """The steps as the request's platform puts them on the wire."""
    if request.platform == BEDROCK and request.stream:
        from .bedrock import frame_stream

        return frame_stream(steps)
    return steps
