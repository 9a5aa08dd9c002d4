"""The benchmarks' shared parts: the bare baseline (respx's httpcore mocker at the same
patch point as the simulated network, serving fixed bytes), and the ratios printed at the
end of the run, taken from the means measured side by side in that run."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import anthropic
import pytest
from respx.mocks import HTTPCoreMocker

from pytest_claude_timeout.api.fake import ApiRequest, FakeApi
from pytest_claude_timeout.exchange import Data, Head

SDK_MAJOR = int(anthropic.__version__.split(".")[0])
CORE = "httpcore2" if SDK_MAJOR >= 1 else "httpcore"
MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
STREAM_TEXT = " ".join(f"word{i}" for i in range(795))  # 795 deltas + 5 other events = 800 events (the SDK drops the ping)


def served(api: FakeApi, stream: bool) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
    """The status, headers and body parts the fake API answers ``MSG`` with."""
    body = json.dumps({**MSG, "stream": stream}).encode()
    steps = api.respond(ApiRequest.parse("POST", "https://api.anthropic.com/v1/messages", "/v1/messages", body))
    head = next(s for s in steps if isinstance(s, Head))
    headers = [(k.encode(), v.encode()) for k, v in head.headers]
    return head.status, headers, [s.payload for s in steps if isinstance(s, Data)]


class _Baseline:
    answer: tuple[int, list[tuple[bytes, bytes]], list[bytes]] = (200, [], [])


def _bare_mocker() -> type[HTTPCoreMocker]:
    core = importlib.import_module(CORE)

    def response() -> Any:
        status, headers, parts = _Baseline.answer
        return core.Response(status=status, headers=headers, content=list(parts))

    class BareMocker(HTTPCoreMocker):
        name = f"bench-bare:{CORE}"
        targets: ClassVar[list[str]] = [
            f"{CORE}._sync.connection_pool.ConnectionPool",
            f"{CORE}._async.connection_pool.AsyncConnectionPool",
        ]

        @classmethod
        def _send_sync_request(cls, httpx_request: Any, **kwargs: Any) -> Any:
            return response()

        @classmethod
        async def _send_async_request(cls, httpx_request: Any, **kwargs: Any) -> Any:
            return response()

    return BareMocker


BARE = _bare_mocker()


@pytest.fixture
def bare_route() -> Iterator[type[_Baseline]]:
    """The baseline: every request answered at once with fixed bytes (set ``.answer``)."""
    BARE.start()
    try:
        yield _Baseline
    finally:
        BARE.stop(force=True)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    means = {b.name: b.stats.mean for b in getattr(session, "benchmarks", [])}
    extra = {b.name: b.extra_info for b in getattr(session, "benchmarks", [])}
    if not means:
        return
    lines = []
    for what, network, bare in (
        ("one messages.create", "test_create_network", "test_create_bare"),
        ("one 800-event stream", "test_stream_network", "test_stream_bare"),
    ):
        if network in means and bare in means:
            lines.append(f"{what}: simulated network / bare respx mocker = {means[network] / means[bare]:.2f}x (goal <= 1.2x)")
    small, large = means.get("test_concurrent_async[100]"), means.get("test_concurrent_async[1000]")
    if small and large:
        lines.append(
            f"concurrent async calls under slow_prefill: {small / 100 * 1e3:.2f} ms per call at 100, "
            f"{large / 1000 * 1e3:.2f} ms per call at 1000 ({large / 1000 / (small / 100):.2f}x; goal: flat)"
        )
    pool = means.get("test_thread_pool_of_100_sync_calls")
    if pool:
        lines.append(f"thread pool of 100 sync calls under slow_prefill: {pool * 1e3:.0f} ms ({pool / 100 * 1e3:.2f} ms per call)")
    lines += _per_call(means, extra)
    terminalreporter.section("ratios (side by side, this run)")
    for line in lines:
        terminalreporter.write_line(line)


def _per_call(means: dict[str, float], extra: dict[str, dict[str, Any]]) -> list[str]:
    """The harness's cost per call on the chaos path: a call's time through the network, less
    the SDK's own time for its attempts (the bare mocker's time per call, times the attempts
    per call: an estimate, as a failed attempt costs the SDK a little less than a parsed
    answer, and its retry a little more)."""
    bare = means.get("test_chaos_calls_bare")
    if not bare:
        return []
    from test_chaos_overhead import CALLS

    floor = bare / CALLS
    lines = [f"SDK floor (bare respx mocker): {floor * 1e3:.3f} ms per call"]
    for faults in ("healthy", "chaos"):
        name = f"test_chaos_calls_network[{faults}]"
        if name not in means:
            continue
        per_call = means[name] / CALLS
        attempts = extra[name].get("attempts", CALLS) / CALLS
        harness = per_call - floor * attempts
        lines.append(
            f"{faults} network: {per_call * 1e3:.3f} ms per call ({attempts:.3f} attempts per call): "
            f"harness {harness * 1e3:.3f} ms per call ({harness / per_call:.0%}), SDK {floor * attempts * 1e3:.3f} ms"
        )
    return lines
