"""Which layer retried: the SDK's ``max_retries`` or a framework's own retry loop.

Read from the timeline alone: the SDK numbers its retries in ``x-stainless-retry-count``
(0, 1, 2 ... within one call), while a layer above it (litellm's ``num_retries``,
instructor's tenacity loop, LangChain's ``with_retry``, the test's own loop) starts a new
SDK call each time, so the count starts again at 0 (or is absent: a client without the
SDK). Each attempt's sender records which retry loop was on the call stack.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..network.timeline import Attempt

# What a user calls each known retry loop, by the distribution that runs it.
_KNOWN = {
    "litellm": "litellm's own retries (num_retries)",
    "instructor": "instructor's own retries (max_retries, a tenacity loop)",
    "langchain-core": "LangChain's with_retry()",
}


def _numbers(attempts: Sequence[Attempt]) -> str:
    numbers = [str(a.number) for a in attempts]
    if len(numbers) == 1:
        return f"attempt {numbers[0]}"
    return f"attempts {', '.join(numbers[:-1])} and {numbers[-1]}"


def _failed(attempt: Attempt) -> bool:
    return attempt.error is not None or (attempt.status is not None and attempt.status >= 400)


def layer_name(retry_layer: str) -> str:
    """The user's name for a retry loop recorded as ``distribution (module)``."""
    distribution = retry_layer.split(" ")[0]
    return _KNOWN.get(distribution, f"the retry loop of {retry_layer}")


def _fresh(attempt: Attempt) -> bool:
    """The attempt starts a new call (not an SDK retry)."""
    return not attempt.retry_count


def sdk_retried(attempts: Sequence[Attempt]) -> bool:
    return any(a.retry_count for a in attempts)


def retrier(attempts: Sequence[Attempt]) -> str:
    """Who sent the repeats, in a few words: ``the SDK (max_retries)``, ``litellm's own
    retries (num_retries)`` ... (for a sentence such as "... retried 2 times")."""
    layers = [a.sender.retry_layer for a in attempts[1:] if a.sender is not None and a.sender.retry_layer and _fresh(a)]
    if layers and not sdk_retried(attempts):
        return layer_name(layers[0])
    if sdk_retried(attempts) and not layers:
        return "the SDK (max_retries)"
    if sdk_retried(attempts):
        return f"the SDK (max_retries) and {layer_name(layers[0])}"
    return "the caller (each attempt a new call, not an SDK retry)"


def _first_try(attempts: Sequence[Attempt], retry: Attempt) -> Attempt | None:
    """The failed attempt just before a retry loop's first one, sent by the same client
    outside the loop: the try that a layer retries only once it failed (litellm)."""
    before = [a for a in attempts if a.number < retry.number]
    if not before:
        return None
    last = before[-1]
    same = last.sender is not None and retry.sender is not None and (
        (last.sender.client, last.sender.stack) == (retry.sender.client, retry.sender.stack)
    )
    if same and last.sender is not None and not last.sender.retry_layer and _fresh(last) and _failed(last):
        return last
    return None


def retry_lines(attempts: Sequence[Attempt]) -> list[str]:
    """One line per layer that retried, with the attempts it sent."""
    lines: list[str] = []
    retried = [a for a in attempts if a.retry_count]
    if retried:
        top = max(a.retry_count or 0 for a in retried)
        built = next((a.sender.layers[-1] for a in retried if a.sender is not None and a.sender.layers), None)
        by = f" (on the SDK client that {built} built)" if built else ""
        lines.append(
            f"the SDK's max_retries retried {len(retried)} time{'' if len(retried) == 1 else 's'}{by}: "
            + (f"{_numbers(retried)} carries x-stainless-retry-count {top}." if len(retried) == 1
               else f"{_numbers(retried)} carry x-stainless-retry-count 1 to {top}.")
        )
    loops: dict[str, list[Attempt]] = {}
    for a in attempts:
        if a.sender is not None and a.sender.retry_layer and _fresh(a):
            loops.setdefault(a.sender.retry_layer, []).append(a)
    for layer, sent in loops.items():
        first = _first_try(attempts, sent[0])
        if first is not None:
            sent = [first, *sent]
        if len(sent) < 2:
            continue
        sender = sent[0].sender
        assert sender is not None
        how = (
            "each a new SDK call (x-stainless-retry-count back at 0)"
            if sender.sdk is not None
            else f"{sender.client} calls the API itself, without the SDK's retries"
        )
        lines.append(f"{layer_name(layer)} retried: the call was sent {len(sent)} times ({_numbers(sent)}), {how}.")
    looped = {a.number for sent in loops.values() for a in sent}
    again = [
        b for a, b in itertools.pairwise(attempts)
        if _fresh(b) and _failed(a) and b.number not in looped and a.sender == b.sender
    ]
    if again:
        lines.append(
            f"{_numbers(again)} started a new call after the previous attempt failed, with no SDK retry count: "
            "the test's own code (or a framework without a known retry loop) retried, not the SDK."
        )
    return lines
