"""The client side of a conformance case: one call of the real SDK, and what it saw.

The same code runs the virtual run (inside a ``SimulatedNetwork``), the real run against
the fault server on loopback, and, as a script, the real run inside a sandbox (a mount
namespace whose resolver is the fault server's DNS stub): ``python client.py '<json>'``
prints the result as JSON.

What it records is what the comparison needs, all seen from the client: the outcome
(``ok``, ``partial`` for a message without ``stop_reason``, or the exception's class),
the stream events received (before a failure too), the wall or virtual time taken, and the
waits the SDK announced between attempts ("Retrying request to ... in X seconds", logged by
the SDK itself at INFO: its own backoff, or a server's ``retry-after``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anthropic

MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
WAITS_PAST_BOUND = "waits past the bound"
"""The outcome of a run stopped because the SDK announced a wait longer than the case allows
(in the virtual run: the horizon; in the real run: the safety bound)."""


@dataclass
class ClientRun:
    outcome: str = ""
    detail: str = ""
    events: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    """Seconds from the call to its outcome: virtual in the virtual run, wall in the real one."""
    waits: list[float] = field(default_factory=list)
    """The waits between attempts the SDK announced, in the order it slept them."""
    results: list[str] = field(default_factory=list)
    """For concurrent calls (``pool_exhaustion``): each call's outcome."""
    unslept: float | None = None
    """A wait the SDK announced past the run's bound: the run stopped there."""


def outcome_of(result: Any) -> tuple[str, str]:
    if isinstance(result, BaseException):
        status = getattr(result, "status_code", None)
        if status is not None:
            return type(result).__name__, str(status)
        if isinstance(result, anthropic.APIError) and result.__cause__ is not None:
            return type(result).__name__, f"from {type(result.__cause__).__name__}"  # e.g. from ReadTimeout
        return type(result).__name__, str(result)[:60]
    if getattr(result, "stop_reason", None) is None:
        return "partial", "stop_reason None"
    return "ok", str(result.stop_reason)


class _Waits(logging.Handler):
    """Collects the SDK's announced retry waits (its own log line, INFO)."""

    def __init__(self, announced: Callable[[float], None]) -> None:
        super().__init__(logging.INFO)
        self.announced = announced

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Retrying request to %s in %f seconds" and isinstance(record.args, tuple):
            self.announced(float(record.args[1]))


def client_options(options: dict[str, Any], scale: float, base_url: str | None) -> dict[str, Any]:
    """The client's options in scenario seconds -> real ones: every timeout times ``scale``."""
    timeout = options.get("timeout", {"read": 600, "connect": 5})
    if not isinstance(timeout, dict):
        timeout = {"read": timeout, "connect": timeout}
    scaled = {k: (None if v is None else v * scale) for k, v in timeout.items()}
    read = scaled.pop("read")
    out: dict[str, Any] = {
        "api_key": "sk-ant-test",
        "timeout": anthropic.Timeout(read, **scaled),
        "max_retries": options.get("max_retries", 2),
    }
    if base_url is not None:
        out["base_url"] = base_url
    if options.get("keepalive") is not None:
        out["http_client"] = ("keepalive", options["keepalive"] * scale)  # built by _client, sync or async
    return out


def _limits(**limits: Any) -> Any:
    stack = __import__("httpx2" if int(anthropic.__version__.split(".")[0]) >= 1 else "httpx")
    return stack.Limits(**limits)


def _client(kwargs: dict[str, Any], mode: str) -> Any:
    """The SDK client of ``mode`` (``sync``, ``async``, or ``aiohttp``: the SDK's
    ``DefaultAioHttpClient``); a ``keepalive`` option becomes the pool's ``keepalive_expiry``
    (aiohttp: its connector's ``keepalive_timeout``)."""
    kwargs = dict(kwargs)
    limits = {"limits": _limits(keepalive_expiry=kwargs.pop("http_client")[1])} if "http_client" in kwargs else {}
    if mode == "aiohttp":  # the SDK's aiohttp transport (anthropic[aiohttp])
        return anthropic.AsyncAnthropic(http_client=anthropic.DefaultAioHttpClient(**limits), **kwargs)
    if mode == "async":
        return anthropic.AsyncAnthropic(http_client=anthropic.DefaultAsyncHttpxClient(**limits), **kwargs) if limits else anthropic.AsyncAnthropic(**kwargs)
    return anthropic.Anthropic(http_client=anthropic.DefaultHttpxClient(**limits), **kwargs) if limits else anthropic.Anthropic(**kwargs)


def request(prompt_bytes: int = 0) -> dict[str, Any]:
    """The call's arguments; ``prompt_bytes`` makes the prompt that large (a slow upload)."""
    if not prompt_bytes:
        return MSG
    return {**MSG, "messages": [{"role": "user", "content": "x" * prompt_bytes}]}


async def _async_call(client: anthropic.AsyncAnthropic, stream: bool, events: list[str], msg: dict[str, Any], pause: float | None = None) -> Any:
    if pause is not None:  # a first call, then a pause on the kept-alive connection
        await _async_call(client, stream, events, msg)
        await asyncio.sleep(pause)
    if not stream:
        return await client.messages.create(**msg)
    async with client.messages.stream(**msg) as s:
        async for event in s:
            events.append(event.type)
        return await s.get_final_message()


def _sync_call(client: anthropic.Anthropic, stream: bool, events: list[str], msg: dict[str, Any], pause: float | None = None) -> Any:
    if pause is not None:  # a first call, then a pause on the kept-alive connection
        _sync_call(client, stream, events, msg)
        time.sleep(pause)
    if not stream:
        return client.messages.create(**msg)
    with client.messages.stream(**msg) as s:
        for event in s:
            events.append(event.type)
        return s.get_final_message()


def _pooled(options: dict[str, Any], max_connections: int, mode: str) -> anthropic.AsyncAnthropic:
    """An async client limited to ``max_connections`` connections (aiohttp: its connector's ``limit``)."""
    limits = _limits(max_connections=max_connections)
    http = anthropic.DefaultAioHttpClient(limits=limits) if mode == "aiohttp" else anthropic.DefaultAsyncHttpxClient(limits=limits)
    return anthropic.AsyncAnthropic(http_client=http, **options)


async def _concurrent(client: anthropic.AsyncAnthropic, calls: int) -> list[str]:
    """``calls`` concurrent non-streaming calls through one client (``pool_exhaustion``)."""
    async with client:

        async def one() -> str:
            try:
                return outcome_of(await client.messages.create(**MSG))[0]
            except Exception as exc:
                return outcome_of(exc)[0]

        return sorted(await asyncio.gather(*[one() for _ in range(calls)]))


def run_call(
    mode: str,
    stream: bool,
    options: dict[str, Any],
    *,
    seed: str,
    bound: float,
    scale: float = 1.0,
    base_url: str | None = None,
    runner: Callable[[Any], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    concurrent: tuple[int, int] | None = None,
    prompt_bytes: int = 0,
) -> ClientRun:
    """One call, sync or async, streaming or not; never longer than ``bound`` seconds of
    ``clock``: a run whose SDK announces a longer wait is stopped and reported as
    :data:`WAITS_PAST_BOUND` (an abandoned sync call sleeps on in a daemon thread).

    ``runner`` runs a coroutine: given, the run is the virtual one (the network's looptime
    loop; sync calls run directly); else real (``asyncio.run``; sync calls in a thread). ``random`` is seeded with ``seed`` (the SDK's backoff jitter), so both
    runs of a case draw the same jitter."""
    run = ClientRun()
    kwargs = client_options(options, scale, base_url)
    pause = None if options.get("pause") is None else options["pause"] * scale
    gave_up = threading.Event()
    started = 0.0
    msg = request(prompt_bytes)

    def stamp() -> None:
        """The outcome is known: stop the clock (before any clean-up, such as an event
        loop waiting for an abandoned resolver thread)."""
        if run.unslept is None:
            run.elapsed = clock() - started

    # The client is built before the clock starts: building one costs tens of
    # milliseconds of real time (an SSL context), nothing in virtual time.
    if concurrent is not None:
        pooled = _pooled(kwargs, concurrent[1], mode)
        main: Callable[[], Any] = lambda: (runner or asyncio.run)(_stamped(_concurrent(pooled, concurrent[0]), stamp))
    elif mode in ("async", "aiohttp"):
        coro = _stamped(_async_main(_client(kwargs, mode), stream, run.events, msg, pause), stamp)
        main = (lambda: runner(coro)) if runner is not None else (lambda: asyncio.run(_bounded(coro, gave_up, bound)))
    else:
        client = _client(kwargs, mode)
        call = lambda: _stamped_sync(lambda: _sync_call(client, stream, run.events, msg, pause), stamp)
        main = call if runner is not None else (lambda: _in_thread(call, gave_up, bound))

    def announced(wait: float) -> None:
        if clock() - started + wait > bound:
            run.unslept = wait
            run.elapsed = clock() - started
            gave_up.set()
        else:
            run.waits.append(wait)

    logger = logging.getLogger("anthropic._base_client")
    handler, level = _Waits(announced), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    random.seed(seed)
    started = clock()
    try:
        result = main()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if concurrent is not None:
        run.results = result
        run.outcome = "/".join(f"{result.count(r)} {r}" for r in sorted(set(result)))
    elif gave_up.is_set():
        run.outcome, run.detail = WAITS_PAST_BOUND, f"announced {run.unslept:g} s" if run.unslept else "safety bound"
    else:
        run.outcome, run.detail = outcome_of(result)
    return run


async def _stamped(coro: Any, stamp: Callable[[], None]) -> Any:
    try:
        return await coro
    except BaseException as exc:  # the outcome under test (HorizonExceeded too)
        return exc
    finally:
        stamp()


def _stamped_sync(call: Callable[[], Any], stamp: Callable[[], None]) -> Any:
    try:
        return call()
    except BaseException as exc:  # the outcome under test (HorizonExceeded too)
        return exc
    finally:
        stamp()


async def _async_main(client: anthropic.AsyncAnthropic, stream: bool, events: list[str], msg: dict[str, Any], pause: float | None = None) -> Any:
    # Closed on the loop that opened its connections (else the garbage collector closes
    # them later, on a closed loop).
    async with client:
        return await _async_call(client, stream, events, msg, pause)


async def _bounded(coro: Any, gave_up: threading.Event, bound: float) -> Any:
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not task.done():
        if gave_up.is_set() or loop.time() >= deadline:
            task.cancel()
            gave_up.set()
            try:
                await task
            except BaseException:
                pass
            return None
        await asyncio.wait([task], timeout=min(0.01, max(deadline - loop.time(), 0)))
    try:
        return task.result()
    except Exception as exc:
        return exc


def _in_thread(call: Callable[[], Any], gave_up: threading.Event, bound: float) -> Any:
    """Run a sync call in a daemon thread, so that a run the SDK would keep asleep for
    days can be abandoned; its exception is the result."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # the outcome under test (HorizonExceeded too)
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="conformance-sync-call")
    thread.start()
    deadline = time.monotonic() + bound
    while thread.is_alive() and not gave_up.is_set() and time.monotonic() < deadline:
        thread.join(0.01)
    if thread.is_alive():
        gave_up.set()
        return None
    return box[0]


def warm_up() -> None:
    """One healthy call of each kind against a healthy fault server: the SDK's first call
    in a process pays for lazy imports and model building (tens of milliseconds), which
    no measured call should."""
    from pytest_claude_timeout.server.fault_server import FaultServer

    with FaultServer() as server:
        for mode in ("sync", "async", "aiohttp"):
            for stream in (False, True):
                run_call(mode, stream, {}, seed="warm-up", bound=60, scale=0.01, base_url=server.base_url)


def main(argv: list[str]) -> int:
    """The sandbox's entry: run one call from a JSON description, print the ClientRun."""
    spec = json.loads(argv[1])
    warm_up()
    run = run_call(
        spec["mode"], spec["stream"], spec["options"], seed=spec["seed"], bound=spec["bound"],
        scale=spec["scale"], base_url=spec["base_url"], prompt_bytes=spec.get("prompt_bytes", 0),
    )
    print(json.dumps(asdict(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
