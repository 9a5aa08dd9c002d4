"""The survival envelope (``pytest_claude_timeout.envelope``) against the real SDK, without
pytest's glue: where a client configuration's outcome changes along a scenario's main
parameter; and the search and the shrinkage check on their own."""

from __future__ import annotations

import json
import math
from typing import Any

import anthropic
import pytest
from conftest import MSG

from pytest_claude_timeout import SimulatedNetwork, SlowPrefill, StalledStream, jsonsafe
from pytest_claude_timeout.envelope import (
    Envelope,
    Outcome,
    Probe,
    accepts_infinity,
    default_grid,
    search,
    shrinkage,
    survival_envelope,
)
from pytest_claude_timeout.network.clock import DEFAULT_HORIZON
from pytest_claude_timeout.scenarios import scenario_from_spec

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


def async_streaming(**options: Any) -> Any:
    async def call(network: SimulatedNetwork) -> Any:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", **options)
        async with client.messages.stream(**MSG) as stream:
            return await stream.get_final_message()

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
    # a prefill that never ends: the same three read timeouts stop it
    assert env.infinity is not None and env.infinity.signature() == failed.first.signature()
    assert env.describe() == (
        f"survives slow_prefill up to seconds=600 s (then APITimeoutError after 3 attempts, {failed.first.elapsed:.1f} s); "
        f"at seconds=inf: fails, though the client stops it itself (APITimeoutError after 3 attempts, {env.infinity.elapsed:.1f} s)"
    )
    assert env.survives(599) is True and env.survives(601) is False and env.survives(math.inf) is False


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
    # ... but a prefill that never ends keeps it waiting forever: nothing bounds the call
    assert env.infinity is not None and env.infinity.outcome == Outcome(False, "horizon", "HorizonExceeded")
    assert env.describe() == (
        "survives slow_prefill at every seconds from 0 s to 14400 s (the range searched); "
        "at seconds=inf: fails (HorizonExceeded after 1 attempt: nothing bounds the wait, no overall deadline)"
    )


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
    assert env.infinity is None  # a count is never infinite
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


# -- infinity --------------------------------------------------------------------------------
def test_a_stall_that_never_ends_is_stopped_by_the_read_timeout() -> None:
    env = survival_envelope(streaming(timeout=60), "stalled_stream", high=HOUR)

    assert env.passing() == [(0, 60)]
    assert env.infinity is not None and env.infinity.value == math.inf
    assert (env.infinity.outcome.exception, env.infinity.attempts, env.infinity.elapsed) == ("ReadTimeout", 1, 60.0)
    assert env.describe() == (
        "survives stalled_stream up to stall=60 s (then ReadTimeout after 1 attempt, 60.0 s); "
        "at stall=inf: fails, though the client stops it itself (ReadTimeout after 1 attempt, 60.0 s)"
    )


@pytest.mark.parametrize("call", [streaming, async_streaming], ids=["sync", "async"])
def test_without_a_read_timeout_a_stall_that_never_ends_is_never_stopped(call: Any) -> None:
    # Every finite stall ends, and the stream with it; a stall without end waits forever.
    env = survival_envelope(call(timeout=anthropic.Timeout(None)), "stalled_stream", high=HOUR)

    assert env.passing() == [(0, HOUR)]
    assert env.infinity is not None and env.infinity.outcome == Outcome(False, "horizon", "HorizonExceeded")
    assert env.describe() == (
        "survives stalled_stream at every stall from 0 s to 3600 s (the range searched); "
        "at stall=inf: fails (HorizonExceeded after 1 attempt: nothing bounds the wait, no overall deadline)"
    )
    assert env.survives(math.inf) is False and env.survives(HOUR) is True


def test_a_proxy_that_never_cuts_is_survived() -> None:
    env = survival_envelope(streaming(timeout=60), "proxy_cutoff", high=HOUR)

    assert env.infinity is not None and env.infinity.passed
    assert env.describe().endswith("; at idle=inf: survives (returned after 1 attempt, 75.0 s)")


def test_high_inf_searches_up_to_the_horizon_and_probes_infinity() -> None:
    env = survival_envelope(streaming(timeout=60), StalledStream(), high=math.inf, horizon=HOUR)
    assert (env.low, env.high) == (0, HOUR) and env.infinity is not None

    without = survival_envelope(streaming(timeout=60), StalledStream(), high=HOUR, infinity=False)
    assert without.infinity is None and "inf" not in without.describe()
    assert (without.probes, without.segments) == (env.probes - 1, env.segments)  # the same search, one run less

    with pytest.raises(ValueError, match="dns_failure's attempts cannot be infinite"):
        survival_envelope(non_streaming(), "dns_failure", high=math.inf)


def test_which_parameters_can_be_infinite() -> None:
    # every duration the scenario takes as inf; never a count or a rate
    assert accepts_infinity(scenario_from_spec("stalled_stream")) and accepts_infinity(scenario_from_spec("slow_prefill"))
    assert accepts_infinity(scenario_from_spec("proxy_cutoff"))
    assert not accepts_infinity(scenario_from_spec("dns_failure")) and not accepts_infinity(scenario_from_spec("slow_upload"))


def test_the_default_grid_over_an_infinite_range_is_finite_then_inf() -> None:
    grid = default_grid(0, math.inf, integer=False)
    assert grid[-1] == math.inf and grid[:-1] == default_grid(0, DEFAULT_HORIZON, integer=False)
    assert all(math.isfinite(v) and v == round(v) for v in grid[:-1])

    assert default_grid(0, math.inf, integer=False, top=600) == [*default_grid(0, 600, integer=False), math.inf]
    assert default_grid(5000, math.inf, integer=False, top=600) == [5000, math.inf]  # low above the top
    assert default_grid(1, math.inf, integer=True, top=10) == [*map(float, range(1, 11)), math.inf]
    for low, high in ((math.inf, math.inf), (0, math.nan), (10, 5)):
        with pytest.raises(ValueError, match="cannot make a grid"):
            default_grid(low, high, integer=False)


def test_search_probes_infinity_once_and_never_bisects_towards_it() -> None:
    calls: list[float] = []
    grid = default_grid(0, math.inf, integer=False, top=86400)
    segments, count = search(_threshold(179.4, calls), 0, 86400, integer=False, grid=grid)

    # the same finite search as without it, then infinity as its own segment (though it
    # agrees with the band below it: the values between were not searched)
    assert [(s.low, s.high, s.passed) for s in segments] == [(0, 179, True), (180, 86400, False), (math.inf, math.inf, False)]
    assert calls.count(math.inf) == 1 and calls[-1] == math.inf
    assert count == len(calls) == len(set(calls))


def _with_infinity(limit: float, at_infinity: bool) -> Envelope:
    env = _envelope(limit)
    env.infinity = Probe(math.inf, Outcome(at_infinity, "survived" if at_infinity else "horizon", None if at_infinity else "HorizonExceeded"), 1, 9.0)
    return env


def test_shrinkage_at_infinity() -> None:
    assert shrinkage(_with_infinity(179, True), _with_infinity(179, False)) == [(math.inf, math.inf)]
    assert shrinkage(_with_infinity(179, True), _with_infinity(59, False)) == [(59, 179), (math.inf, math.inf)]
    assert shrinkage(_with_infinity(179, False), _with_infinity(179, True)) == []  # it grew
    assert shrinkage(_with_infinity(179, True), _envelope(179)) == []  # not probed now: nothing to compare
    assert shrinkage(_envelope(179), _with_infinity(179, False)) == []


def _strict(text: str) -> Any:
    """JSON as the standard has it: ``Infinity``, ``-Infinity`` and ``NaN`` are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_an_envelope_with_infinity_round_trips_through_strict_json() -> None:
    env = _with_infinity(179, False)
    text = json.dumps(env.as_dict())  # as_dict is JSON-safe itself: no allow_nan=False needed to be valid
    data = _strict(text)
    assert data["infinity"]["value"] == "forever" and data["infinity"]["passed"] is False
    assert "Infinity" not in text and "NaN" not in text

    again = Envelope.from_dict(data)
    assert again.infinity == env.infinity and again.segments == env.segments
    assert again.describe() == env.describe()
    assert again.describe().endswith("; at seconds=inf: fails (HorizonExceeded after 1 attempt: nothing bounds the wait, no overall deadline)")

    # an envelope stored before infinity was probed reads back without it
    older = {k: v for k, v in env.as_dict().items() if k != "infinity"}
    assert Envelope.from_dict(older).infinity is None


def test_jsonsafe_writes_infinity_and_nan_as_json() -> None:
    value = {"a": math.inf, "b": [-math.inf, math.nan, 1.5], "c": (2, "forever"), 3: None}
    text = jsonsafe.dumps(value, sort_keys=True)
    assert _strict(text) == {"a": "forever", "b": ["-forever", None, 1.5], "c": [2, "forever"], "3": None}
    assert [jsonsafe.number(v) for v in ("forever", "-forever", 2, 1.5)] == [math.inf, -math.inf, 2.0, 1.5]
    for bad in ("inf", None, True, "1"):
        with pytest.raises(TypeError):
            jsonsafe.number(bad)
