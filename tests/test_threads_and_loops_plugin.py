"""One virtual clock for every thread and event loop, in inner pytest sessions (pytester):
the fixtures and the marker with thread pools, ``asyncio.run``, loops in worker threads,
cancellation, late imports, pytest-socket's ``--disable-socket``, freezegun and
time-machine."""

from __future__ import annotations

import textwrap

import pytest
from pytester_helpers import inner, run, run_with_report  # noqa: F401 (inner: a fixture)

POOL = """
import asyncio
import concurrent.futures
import threading


def fan_out(n, call):
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


async def one(**options):
    return await anthropic.AsyncAnthropic(api_key="sk-ant-test", **options).messages.create(**MSG)
"""


def test_threads_and_loops_with_the_fixtures(inner: pytest.Pytester) -> None:
    source = POOL + textwrap.dedent(
        """
        def test_thread_pool(slow_prefill, claude_network):
            client = anthropic.Anthropic(api_key="sk-ant-test", timeout=120)
            fan_out(3, lambda: client.messages.create(**MSG))
            assert [(a.start, a.end) for a in claude_network.attempts] == [(0.0, 75.0)] * 3
            assert claude_network.elapsed == 75


        def test_worker_retries(slow_prefill, claude_network):
            client = anthropic.Anthropic(api_key="sk-ant-test", timeout=60)
            with pytest.raises(anthropic.APITimeoutError):
                fan_out(1, lambda: client.messages.create(**MSG))
            first, second, third = claude_network.attempts
            assert 0.375 <= second.start - first.end <= 0.5  # the SDK's backoff, virtual
            assert 0.75 <= third.start - second.end <= 1.0
            assert "until the next attempt (client backoff" in claude_network.timeline()


        def test_pool_limit_across_threads(slow_prefill, claude_network):
            limits = stack.Limits(max_connections=1)
            client = anthropic.Anthropic(
                api_key="sk-ant-test", timeout=120, http_client=anthropic.DefaultHttpxClient(limits=limits)
            )
            fan_out(2, lambda: client.messages.create(**MSG))
            assert [(a.start, a.end) for a in claude_network.attempts] == [(0.0, 75.0), (0.0, 150.0)]


        def test_asyncio_run(slow_prefill, claude_network):
            asyncio.run(one(timeout=120))
            assert claude_network.elapsed == 75


        def test_loop_in_a_worker_thread(slow_prefill, claude_network):
            worker = threading.Thread(target=lambda: asyncio.run(one(timeout=120)))
            worker.start()
            worker.join()
            assert claude_network.elapsed == 75


        @pytest.mark.asyncio
        async def test_wait_for_cancels_and_the_next_call_gets_the_connection(slow_prefill, claude_network):
            http = anthropic.DefaultAsyncHttpxClient(limits=stack.Limits(max_connections=1))
            client = anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=120, http_client=http)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.messages.create(**MSG), 30)
            await client.messages.create(**MSG)
            cancelled, nxt = claude_network.attempts
            assert (cancelled.end, cancelled.cancelled, nxt.start, nxt.end) == (30.0, True, 30.0, 105.0)
        """
    )
    run(inner, source).assert_outcomes(passed=6)


def test_marked_tests_see_all_virtual_time_however_the_body_ended(inner: pytest.Pytester) -> None:
    source = POOL + textwrap.dedent(
        """
        @pytest.mark.claude_timeout("slow_prefill", budget=10)
        @pytest.mark.asyncio
        async def test_cancelled_at_60_returns(claude_network):
            try:
                await asyncio.wait_for(one(timeout=120), 60)
            except asyncio.TimeoutError:
                pass


        @pytest.mark.claude_timeout("slow_prefill", budget=10)
        @pytest.mark.asyncio
        async def test_cancelled_at_60_raises(claude_network):
            await asyncio.wait_for(one(timeout=120), 60)


        @pytest.mark.claude_timeout("slow_prefill", budget=100)
        def test_thread_pool_within_budget(claude_network):
            client = anthropic.Anthropic(api_key="sk-ant-test", timeout=120)
            fan_out(3, lambda: client.messages.create(**MSG))


        @pytest.mark.claude_timeout("slow_prefill", budget=100)
        def test_asyncio_run_within_budget(claude_network):
            asyncio.run(one(timeout=120))
        """
    )
    result, records = run_with_report(inner, source)
    result.assert_outcomes(passed=2, failed=2)
    by_name = {nodeid.split("::")[1].split("[")[0]: r for nodeid, r in records.items()}
    returns, raises = by_name["test_cancelled_at_60_returns"], by_name["test_cancelled_at_60_raises"]
    assert (returns["verdict"], returns["kind"], returns["elapsed"]) == ("failed", "budget exceeded", 60)
    assert returns["reason"] == (
        "virtual elapsed 60.000 s exceeds the budget of 10 s by 50.000 s (the test body returned normally)"
    )
    assert (raises["verdict"], raises["elapsed"]) == ("failed", 60)
    assert by_name["test_thread_pool_within_budget"]["elapsed"] == 75
    assert by_name["test_asyncio_run_within_budget"]["elapsed"] == 75


LATE_MODULE = """
from datetime import date, datetime
from time import monotonic, sleep

import pydantic


class Event(pydantic.BaseModel):
    at: datetime
    on: date


def nap(seconds):
    before = monotonic()
    sleep(seconds)
    return monotonic() - before
"""


def test_modules_first_imported_during_a_test_behave_really_after_it(inner: pytest.Pytester) -> None:
    inner.makepyfile(late=LATE_MODULE)
    source = textwrap.dedent(
        """
        import datetime
        import time


        def test_1_imports_during_the_simulation(claude_network):
            import late

            assert late.nap(5000) == 5000  # virtual
            assert late.Event(at=datetime.datetime.now(), on=datetime.date.today()).at.year >= 2026
            assert claude_network.elapsed == 5000


        def test_2_after_the_simulation():
            import late

            assert late.sleep is time.sleep
            assert late.nap(0.02) >= 0.02  # real seconds
            event = late.Event(at=datetime.datetime(2026, 1, 2, 3, 4, 5), on="2026-01-02")
            assert type(event.at) is datetime.datetime
            assert late.Event.model_json_schema()["properties"]["on"]["format"] == "date"
        """
    )
    run(inner, source, "-p", "no:randomly").assert_outcomes(passed=2)


SOCKETS = POOL + textwrap.dedent(
    """
    import socket

    import pytest_socket


    def test_sync_fixture(slow_prefill, claude_network):
        anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
        assert claude_network.elapsed == 75


    def test_thread_pool(slow_prefill, claude_network):
        client = anthropic.Anthropic(api_key="sk-ant-test", timeout=120)
        fan_out(2, lambda: client.messages.create(**MSG))
        assert claude_network.elapsed == 75


    @pytest.mark.claude_timeout("slow_prefill", "stalled_stream", budget=200)
    def test_marker(claude_network):
        with anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.stream(**MSG) as stream:
            try:
                for _ in stream.text_stream:
                    pass
            except stack.ReadTimeout:
                pass


    def test_real_sockets_stay_blocked(claude_network):
        with pytest.raises(pytest_socket.SocketBlockedError):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    """
)

ASYNC_SOCKETS = textwrap.dedent(
    """

    @pytest.mark.asyncio
    async def test_async_fixture(slow_prefill, claude_network):
        await one(timeout=120)
        assert claude_network.elapsed == 75


    @pytest.mark.claude_timeout("slow_prefill")
    async def test_async_marker(claude_network):
        await one(timeout=120)


    def test_asyncio_run(slow_prefill, claude_network):
        asyncio.run(one(timeout=120))
        assert claude_network.elapsed == 75
    """
)


def test_disable_socket_works_with_every_fixture_and_the_marker(inner: pytest.Pytester) -> None:
    pytest.importorskip("pytest_socket")
    run(inner, SOCKETS, "--disable-socket").assert_outcomes(passed=5)


def test_disable_socket_with_unix_sockets_allowed_runs_async_tests_too(inner: pytest.Pytester) -> None:
    pytest.importorskip("pytest_socket")
    result = run(inner, SOCKETS + ASYNC_SOCKETS, "--disable-socket", "--allow-unix-socket")
    result.assert_outcomes(passed=8)


def test_freezegun_works_inside_a_plugin_test_and_time_machine_stops_with_one_clear_error(inner: pytest.Pytester) -> None:
    pytest.importorskip("time_machine")
    source = textwrap.dedent(
        """
        import datetime

        import freezegun
        import time_machine


        def test_freezegun(slow_prefill, claude_network):
            with freezegun.freeze_time("2020-02-02"):
                assert datetime.date.today() == datetime.date(2020, 2, 2)
                anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
            assert claude_network.elapsed == 75


        def test_time_machine(claude_network):
            with time_machine.travel("2020-02-02"):
                pass


        @time_machine.travel("2020-02-02", tick=False)
        def test_time_machine_without_the_plugin():
            assert datetime.date.today() == datetime.date(2020, 2, 2)
        """
    )
    result = run(inner, source)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*SimulationError: time-machine cannot travel while a simulated network is active*"])
