"""The survival envelope (``pytest_claude_timeout.envelope``) against the real SDK, without
pytest's glue: where a client configuration's outcome changes along a scenario's main
parameter; and the search and the shrinkage check on their own."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from conftest import MSG

from pytest_claude_timeout import SimulatedNetwork, SlowPrefill
from pytest_claude_timeout.envelope import Envelope, Outcome, Probe, search, shrinkage, survival_envelope

HOUR = 3600.0


# One client for all runs (the network replaces the connection pool beneath it), except an
# async one: each run has an event loop of its own.
def non_streaming(**options: Any) -> Any:
    client = anthropic.Anthropic(api_key="sk-ant-test", **options)
    return lambda network: client.messages.create(**MSG)


def streaming(**options: Any) -> Any:
    client = anthropic.Anthropic(api_key="sk-ant-test", **options)

    def call(network: SimulatedNetwork) -> Any:
        with client.messages.stream(**MSG) as stream:
            return stream.get_final_message()

    return call


def async_non_streaming(**options: Any) -> Any:
    async def call(network: SimulatedNetwork) -> Any:
        return await anthropic.AsyncAnthropic(api_key="sk-ant-test", **options).messages.create(**MSG)

    return call


def test_the_default_clients_prefill_limit_is_its_600_s_read_timeout() -> None:
    env = survival_envelope(non_streaming(), "slow_prefill", high=HOUR)

    passed, failed = env.segments
    assert (passed.passed, passed.low, passed.high) == (True, 0, 600)
    assert (failed.passed, failed.low, failed.high) == (False, 601, HOUR)
    # past the limit: three attempts (max_retries=2), each given up at 600 s
    assert (failed.first.outcome.exception, failed.first.attempts) == ("APITimeoutError", 3)
    assert 1800 < failed.first.elapsed < 1800 + 2 * 8
    assert env.describe() == (
        f"survives slow_prefill up to seconds=600 s (then APITimeoutError after 3 attempts, {failed.first.elapsed:.1f} s)"
    )
    assert env.survives(599) is True and env.survives(601) is False


@pytest.mark.parametrize("call", [non_streaming, async_non_streaming], ids=["sync", "async"])
def test_a_timeout_60_clients_prefill_limit_is_60_s(call: Any) -> None:
    env = survival_envelope(call(timeout=60), SlowPrefill(), high=HOUR)

    assert env.passing() == [(0, 60)]
    assert env.segments[1].first.outcome == Outcome(False, "exception escaped", "APITimeoutError")
    assert env.segments[1].first.attempts == 3
    assert env.describe().startswith("survives slow_prefill up to seconds=60 s (then APITimeoutError after 3 attempts, 18")


def test_a_streaming_client_with_pings_has_no_prefill_limit_up_to_the_horizon() -> None:
    # The API pings every 10 s while it prefills: a 60 s read timeout never runs out.
    env = survival_envelope(streaming(timeout=60), "slow_prefill", horizon=4 * HOUR)

    assert (env.low, env.high) == (0, 4 * HOUR)  # the range: up to the horizon
    assert env.passing() == [(0, 4 * HOUR)]
    assert env.describe() == "survives slow_prefill at every seconds from 0 s to 14400 s (the range searched)"


def test_without_pings_the_stream_is_limited_by_its_read_timeout() -> None:
    env = survival_envelope(streaming(timeout=60), SlowPrefill(ping_interval=None), high=HOUR)

    # the headers came at once: the raw ReadTimeout escapes the iteration, not retried
    assert env.passing() == [(0, 60)]
    assert (env.segments[1].first.outcome.exception, env.segments[1].first.attempts) == ("ReadTimeout", 1)


def test_proxy_cutoff_a_lower_bound() -> None:
    # Non-streaming behind a proxy with a 75 s upstream: the cutoff must outlast the upstream.
    env = survival_envelope(non_streaming(timeout=120), "proxy_cutoff", high=HOUR)

    assert env.passing() == [(75, HOUR)]
    assert env.segments[0].first.outcome.exception in ("InternalServerError", "GatewayTimeoutError")
    assert env.describe().startswith("survives proxy_cutoff at every idle >= 75 s (below: ")


def test_a_count_parameter_is_searched_over_whole_numbers() -> None:
    env = survival_envelope(non_streaming(), "dns_failure")

    assert (env.low, env.high, env.unit) == (1, 10, "")
    assert env.passing() == [(1, 2)]  # 3 attempts: two failures are retried away
    assert env.segments[1].first.outcome.exception == "APIConnectionError"
    assert env.describe().startswith("survives dns_failure up to attempts=2 (then APIConnectionError after 3 attempts")


def test_a_harness_fault_is_not_an_outcome() -> None:
    from pytest_claude_timeout import UnhandledRequest

    def call(network: SimulatedNetwork) -> Any:
        return anthropic.Anthropic(api_key="sk-ant-test").beta.files.list()

    with pytest.raises(UnhandledRequest):
        survival_envelope(call, "slow_prefill", high=100)


# -- the search and the shrinkage, on a made-up outcome ----------------------------------------
def _threshold(limit: float, calls: list[float]) -> Any:
    def run(value: float) -> Probe:
        calls.append(value)
        ok = value <= limit
        return Probe(value, Outcome(ok, "survived" if ok else "exception escaped", None if ok else "E"), 1, value)

    return run


def test_search_bisects_each_change_to_the_resolution() -> None:
    calls: list[float] = []
    segments, count = search(_threshold(179.4, calls), 0, 86400, integer=False)

    assert [(s.low, s.high, s.passed) for s in segments] == [(0, 179, True), (180, 86400, False)]
    assert count == len(calls) == len(set(calls)) < 45


def test_search_finds_every_change_between_grid_points() -> None:
    def run(value: float) -> Probe:
        ok = not 100 <= value <= 5000
        return Probe(value, Outcome(ok, "survived" if ok else "failed"), 1, value)

    segments, _ = search(run, 0, 86400, integer=False)
    assert [(s.low, s.high, s.passed) for s in segments] == [(0, 99, True), (100, 5000, False), (5001, 86400, True)]


def _envelope(limit: float, high: float = 86400) -> Envelope:
    segments, count = search(_threshold(limit, []), 0, high, integer=False)
    return Envelope("slow_prefill", "seconds", 0, high, segments, count)


def test_shrinkage_is_what_survived_before_and_does_not_now() -> None:
    assert shrinkage(_envelope(179), _envelope(179)) == []
    assert shrinkage(_envelope(179), _envelope(600)) == []  # it grew
    assert shrinkage(_envelope(179), _envelope(59)) == [(59, 179)]
    assert shrinkage(_envelope(179), _envelope(59, high=100)) == [(59, 100)]  # only where both searched


def test_an_envelope_round_trips_through_json() -> None:
    env = _envelope(179)
    again = Envelope.from_dict(env.as_dict())
    assert again.segments == env.segments
    assert again.describe() == env.describe() == "survives slow_prefill up to seconds=179 s (then E after 1 attempt, 180.0 s)"
