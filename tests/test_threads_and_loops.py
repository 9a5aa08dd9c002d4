"""One virtual clock for every thread and event loop (engine tests, real SDK of the
installed line): thread pools, loops the test did not make, cancellation, late imports,
freezegun and time-machine inside the simulation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from conftest import MSG, http_stack

import pytest_claude_timeout as pct
from pytest_claude_timeout.network import clock as clock_module

STACK = http_stack()


@pytest.fixture
def real_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every real ``time.sleep`` the clock lets through (threads that do not participate)."""
    seen: list[float] = []
    real = clock_module._real_sleep

    def record(seconds: float) -> None:
        seen.append(seconds)
        real(seconds)

    monkeypatch.setattr(clock_module, "_real_sleep", record)
    return seen


def client(**options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", **options)


def aclient(**options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", **options)


def fan_out(n: int, call: Any) -> list[Any]:
    """``n`` calls of ``call`` on a thread pool; each result, or the exception it raised."""

    def one(_: int) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 (collected for the assertions)
            return exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


# -- threads ------------------------------------------------------------------------------


def test_a_thread_pool_of_three_calls_under_slow_prefill_ends_at_75_s(real_sleeps: list[float]) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        shared = client(timeout=120)
        results = fan_out(3, lambda: shared.messages.create(**MSG))
    assert all(isinstance(r, anthropic.types.Message) for r in results)
    assert [(a.start, a.end) for a in net.attempts] == [(0.0, 75.0)] * 3
    assert net.elapsed == 75.0
    assert real_sleeps == []


def test_worker_thread_retries_wait_in_virtual_time_and_appear_in_the_timeline(real_sleeps: list[float]) -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill(), seed=7) as net:
        results = fan_out(3, lambda: client(timeout=60).messages.create(**MSG))
    assert all(isinstance(r, anthropic.APITimeoutError) for r in results)
    assert len(net.attempts) == 9
    assert sorted(a.retry_count for a in net.attempts) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # each thread: 60 s, backoff (0.375-0.5 s), 60 s, backoff (0.75-1 s), 60 s
    first = [a for a in net.attempts if a.retry_count == 0]
    second = [a for a in net.attempts if a.retry_count == 1]
    assert [a.end for a in first] == [60.0] * 3
    assert all(60.375 <= a.start <= 60.5 for a in second)
    assert 181.1 <= net.elapsed <= 181.5
    assert real_sleeps == []  # the backoff was virtual: no real sleep anywhere


def test_a_retry_after_in_a_worker_thread_is_virtual(real_sleeps: list[float]) -> None:
    with pct.SimulatedNetwork(pct.RateLimited(retry_after=3, attempts=1)) as net:
        [message] = fan_out(1, lambda: client().messages.create(**MSG))
    assert isinstance(message, anthropic.types.Message)
    assert [a.status for a in net.attempts] == [429, 200]
    assert net.attempts[1].start == pytest.approx(3.0)
    assert real_sleeps == []


def test_threads_started_by_hand_run_side_by_side() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        shared = client(timeout=120)
        threads = [threading.Thread(target=shared.messages.create, kwargs=MSG) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [(a.start, a.end) for a in net.attempts] == [(0.0, 75.0)] * 4
    assert net.elapsed == 75.0


def test_a_shared_sync_client_keeps_its_pool_limit_across_threads() -> None:
    limits = STACK.Limits(max_connections=1)
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        shared = client(timeout=120, http_client=anthropic.DefaultHttpxClient(limits=limits))
        results = fan_out(2, lambda: shared.messages.create(**MSG))
    assert all(isinstance(r, anthropic.types.Message) for r in results)
    assert [(a.start, a.end) for a in net.attempts] == [(0.0, 75.0), (0.0, 150.0)]
    waited = net.attempts[1]
    assert [e.at for e in waited.events if e.text == "got a connection from the pool"] == [75.0]
    assert "pool full (1 connections)" in waited.events[1].text


def test_the_pool_timeout_across_threads_is_virtual() -> None:
    limits = STACK.Limits(max_connections=1)
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        shared = client(
            timeout=anthropic.Timeout(120, pool=10), max_retries=0, http_client=anthropic.DefaultHttpxClient(limits=limits)
        )
        results = fan_out(2, lambda: shared.messages.create(**MSG))
    assert sorted(type(r).__name__ for r in results) == ["APITimeoutError", "Message"]
    assert net.attempts[1].error == "PoolTimeout"
    assert net.attempts[1].end == 10.0


def timeline_of_concurrent_retries() -> str:
    with pct.SimulatedNetwork(pct.StalledStream(attempts=None), seed="same") as net:

        def stream() -> str:
            with client(timeout=30).messages.stream(**MSG) as s:
                return "".join(s.text_stream)

        fan_out(4, stream)
    return net.timeline()


def test_concurrent_threads_give_the_same_timeline_on_every_run() -> None:
    first = timeline_of_concurrent_retries()
    assert "ReadTimeout" in first
    assert all(timeline_of_concurrent_retries() == first for _ in range(3))


def test_four_stalled_streams_in_threads_each_end_30_s_after_their_last_event() -> None:
    with pct.SimulatedNetwork(pct.StalledStream(attempts=None)) as net:

        def stream() -> str:
            with client(timeout=30).messages.stream(**MSG) as s:
                return "".join(s.text_stream)

        results = fan_out(4, stream)
    assert all(isinstance(r, STACK.ReadTimeout) for r in results)
    assert [a.elapsed for a in net.attempts] == [30.0] * 4


def test_future_result_with_a_timeout_waits_in_virtual_time() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(client(timeout=120).messages.create, **MSG)
            with pytest.raises(concurrent.futures.TimeoutError):
                future.result(timeout=10)
            assert net.elapsed == 10.0
            future.result()
    assert net.elapsed == 75.0


# -- event loops --------------------------------------------------------------------------


async def one_async_call(**options: Any) -> anthropic.types.Message:
    return await aclient(**options).messages.create(**MSG)


def test_asyncio_run_in_sync_code() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        message = asyncio.run(one_async_call(timeout=120))
    assert message.content[0].type == "text"
    assert net.elapsed == 75.0


def test_run_until_complete_on_a_new_event_loop() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(anthropic.APITimeoutError):
                loop.run_until_complete(one_async_call(timeout=60))
        finally:
            loop.close()
    assert len(net.attempts) == 3
    assert 181 <= net.elapsed <= 182


def test_a_loop_in_a_worker_thread_and_sync_calls_share_the_clock() -> None:
    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        worker = threading.Thread(target=lambda: asyncio.run(one_async_call(timeout=120)))
        worker.start()
        client(timeout=120).messages.create(**MSG)  # side by side with the loop's call
        worker.join()
    assert [(a.start, a.end) for a in net.attempts] == [(0.0, 75.0)] * 2
    assert net.elapsed == 75.0


def test_run_in_executor_from_a_loop() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        sync = client(timeout=120)
        return await asyncio.gather(
            loop.run_in_executor(None, lambda: sync.messages.create(**MSG)),
            one_async_call(timeout=120),
        )

    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        asyncio.run(main())
    assert [(a.start, a.end) for a in net.attempts] == [(0.0, 75.0)] * 2


def test_anyio_on_asyncio() -> None:
    import anyio

    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        anyio.run(one_async_call, backend="asyncio")
    assert net.elapsed == 75.0


def test_trio_gets_one_clear_error() -> None:
    import anyio

    pytest.importorskip("trio")
    with pct.SimulatedNetwork() as net:
        with pytest.raises(pct.SimulationError, match=r"runs on trio.*backend='asyncio'"):
            anyio.run(one_async_call, backend="trio")
    assert net.attempts == []


# -- cancellation -------------------------------------------------------------------------


def pooled(limit: int = 1, **options: Any) -> anthropic.AsyncAnthropic:
    http = anthropic.DefaultAsyncHttpxClient(limits=STACK.Limits(max_connections=limit))
    return aclient(http_client=http, **options)


def test_wait_for_cancels_an_attempt_at_30_s_and_the_next_call_gets_the_connection() -> None:
    async def main() -> anthropic.types.Message:
        shared = pooled(timeout=120)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(shared.messages.create(**MSG), 30)
        return await shared.messages.create(**MSG)

    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        net.run(main())
    cancelled, nxt = net.attempts
    assert (cancelled.start, cancelled.end, cancelled.cancelled) == (0.0, 30.0, True)
    assert cancelled.outcome == "cancelled by the caller in headers"
    assert (nxt.start, nxt.end, nxt.status, nxt.cancelled) == (30.0, 105.0, 200, False)
    assert "cancelled" in net.timeline()


@pytest.mark.parametrize("how", ["task.cancel", "asyncio.timeout", "anyio.move_on_after", "anyio.fail_after"])
def test_every_way_of_cancelling_ends_the_attempt_at_the_virtual_moment(how: str) -> None:
    import anyio

    async def cancel_at_20(shared: anthropic.AsyncAnthropic) -> None:
        call = shared.messages.create(**MSG)
        if how == "task.cancel":
            task = asyncio.ensure_future(call)
            await asyncio.sleep(20)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif how == "asyncio.timeout":
            if sys.version_info < (3, 11):
                pytest.skip("asyncio.timeout is new in Python 3.11")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(20):  # type: ignore[attr-defined,unused-ignore]
                    await call
        elif how == "anyio.move_on_after":
            with anyio.move_on_after(20):
                await call
        else:
            with pytest.raises(TimeoutError):
                with anyio.fail_after(20):
                    await call

    async def main() -> anthropic.types.Message:
        shared = pooled(timeout=120)
        await cancel_at_20(shared)
        return await shared.messages.create(**MSG)

    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        net.run(main())
    assert [(a.start, a.end, a.cancelled) for a in net.attempts] == [(0.0, 20.0, True), (20.0, 95.0, False)]


def test_a_stream_cancelled_mid_body_ends_there() -> None:
    async def main() -> None:
        shared = pooled(timeout=120)

        async def read() -> None:
            async with shared.messages.stream(**MSG) as stream:
                async for _ in stream.text_stream:
                    pass

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(read(), 40)  # the stream stalls at 0 s after two deltas
        await shared.messages.create(**MSG)

    with pct.SimulatedNetwork(pct.StalledStream()) as net:
        net.run(main())
    first = net.attempts[0]
    assert (first.end, first.phase, first.cancelled) == (40.0, "body", True)
    assert net.attempts[1].start == 40.0


# -- imports during the simulation ----------------------------------------------------------


@pytest.fixture
def late_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A module (not imported yet) that binds time's functions and has a pydantic model."""
    name = f"late_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            import datetime as dt
            from datetime import date, datetime
            from time import monotonic, sleep

            import pydantic

            NAPS = [sleep]  # a reference no module attribute scan can rebind


            class Event(pydantic.BaseModel):
                at: datetime
                on: date
                stamped: dt.datetime | None = None


            def nap(seconds):
                before = monotonic()
                sleep(seconds)
                return monotonic() - before
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda: importlib.import_module(name)
    sys.modules.pop(name, None)


def test_a_late_from_time_import_sleep_is_virtual_during_and_real_after(late_module: Any, real_sleeps: list[float]) -> None:
    with pct.SimulatedNetwork() as net:
        module = late_module()
        assert module.nap(100.0) == 100.0  # virtual
        assert net.elapsed == 100.0
    assert real_sleeps == []
    assert module.sleep is clock_module._real_sleep  # rebound to the real one
    assert module.nap(0.02) >= 0.02  # really slept (real monotonic)
    module.NAPS[0](0.01)  # the fake itself, kept by reference: real once the network is gone
    assert real_sleeps == [0.02, 0.01]
    with pct.SimulatedNetwork(horizon=10) as net:  # (a later network makes it virtual again)
        module.NAPS[0](5)
    assert net.elapsed == 5.0


def test_a_late_pydantic_model_with_datetime_fields(late_module: Any) -> None:
    import datetime

    with pct.SimulatedNetwork() as net:
        net.clock.sleep(10)
        module = late_module()
        during = module.Event(at=datetime.datetime.now(), on=datetime.date.today())
        assert during.at == net.clock.datetime().replace(tzinfo=None)
    after = module.Event(at=datetime.datetime.now(), on="2026-01-02", stamped="2026-01-02T03:04:05")
    assert type(after.at) is datetime.datetime
    assert after.on == datetime.date(2026, 1, 2)
    assert module.Event.model_json_schema()["properties"]["at"]["format"] == "date-time"


# -- freezegun and time-machine inside the simulation ---------------------------------------


def test_freezegun_inside_the_simulation_freezes_the_test_s_own_wall_clock() -> None:
    import datetime

    import freezegun

    with pct.SimulatedNetwork(pct.SlowPrefill()) as net:
        with freezegun.freeze_time("2020-02-02 12:00:00"):
            assert datetime.datetime.now() == datetime.datetime(2020, 2, 2, 12)
            client(timeout=120).messages.create(**MSG)
        assert datetime.datetime.now() == net.clock.datetime().replace(tzinfo=None)
    assert net.elapsed == 75.0


def test_time_machine_inside_the_simulation_stops_with_one_clear_error() -> None:
    time_machine = pytest.importorskip("time_machine")
    with pct.SimulatedNetwork():
        with pytest.raises(pct.SimulationError, match="time-machine cannot travel while a simulated network is active"):
            with time_machine.travel("2020-02-02"):
                pass
    with time_machine.travel("2020-02-02", tick=False):  # and works again after
        import datetime

        assert datetime.date.today() == datetime.date(2020, 2, 2)
