"""The simulated network: a fake Anthropic API behind scenarios, on a virtual clock.

While a :class:`SimulatedNetwork` is active, every request of every installed HTTP stack
(httpx and httpx2) reaches it instead of a socket. It records each attempt, shapes the
exchange with its scenarios, and plays it to the client in virtual time.

Usable without pytest::

    with SimulatedNetwork(SlowPrefill(75)) as net:
        client = anthropic.Anthropic(api_key="test", timeout=60)
        ...
    print(net.timeline())
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import http
import random
import threading
import urllib.parse
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..api.fake import ApiRequest, FakeApi, route
from ..api.wire import retry_after_seconds
from ..errors import HarnessError, HorizonExceeded, SimulationError, UnhandledRequest, harness_error, hide_unless_harness_error
from ..exchange import MAX_EVENTS, Connect, Head, Step, Yielded, play
from ..scenarios import AttemptContext, Scenario, scenario_from_spec, shape
from ..scenarios.base import Responder
from ..transports import aiohttp_mock, guard
from ..transports import httpcore_mock as transport
from .clock import DEFAULT_HORIZON, VirtualClock, require_virtual_loop
from .connections import Connections
from .sender import identify
from .timeline import CURRENT_CALL, Attempt, Timeouts, render

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


class SimulatedNetwork:
    """The network between an Anthropic client and a fake API, in virtual time."""

    def __init__(
        self,
        *scenarios: Scenario | str,
        api: FakeApi | None = None,
        respond: Any = None,
        horizon: float = DEFAULT_HORIZON,
        start: datetime | None = None,
        seed: int | str | None = None,
        allow: Iterable[str] = (),
    ) -> None:
        __tracebackhide__ = True  # a bad scenario: the user's line, not ours
        self.seed = seed
        """When set, ``random`` is seeded with it while the network is active (the SDK's
        backoff jitter comes from ``random``), so virtual timelines repeat run after run."""
        self._random_state: object = None
        self.api = api or FakeApi()
        if respond is not None:
            self.respond(respond)
        self._previous: tuple[bytes, Attempt] | None = None
        self.scenarios: list[Scenario] = []
        self.clock = VirtualClock(horizon=horizon, start=start)
        self.attempts: list[Attempt] = []
        """Every request that reached the network, in order."""
        self.faults: list[HarnessError] = []
        """Faults of the simulation itself (each also raised as :class:`HarnessError`): a test
        on this network cannot pass while one is recorded, even if the code under test
        swallowed it."""
        self.unhandled: list[str] = []
        """Requests nobody serves (``METHOD URL``); each also raised :class:`UnhandledRequest`."""
        self.allowed_hosts: set[tuple[str, int | None]] = set()
        """Hosts the egress guard lets through besides loopback (see :meth:`allow`)."""
        self.refused: list[str] = []
        """What the egress guard stopped while this network was active (``destination (via)``)."""
        self.max_events = MAX_EVENTS
        """The most parts one attempt may deliver (``exchange.MAX_EVENTS``): past it, the
        attempt ends with :class:`HorizonExceeded` (an endless or absurdly dense scenario)."""
        self.active = False
        self._streams = 0
        self._pools = _Pools()
        self._connections = Connections()
        self.call_reports: list[Any] = []
        """The reports of ``calls.run_calls`` on this network (the HTML report's chaos panel)."""
        for scenario in scenarios:
            self.add(scenario)
        self.allow(*allow)

    # -- configuration -------------------------------------------------------------------
    def add(self, scenario: Scenario | str) -> Scenario:
        """Add a scenario (an object, or a spec such as ``"proxy_cutoff:30"``); returns it."""
        __tracebackhide__ = True  # a bad scenario: the user's line, not ours
        if self.attempts:
            raise SimulationError("scenarios can only be added before the first request")
        obj = scenario if isinstance(scenario, Scenario) else scenario_from_spec(scenario)
        self.scenarios.append(obj)
        return obj

    def allow(self, *hosts: str) -> None:
        """Let connections to ``hosts`` through the egress guard: ``"db.internal:5432"``
        (that port), ``"db.internal"`` (any port), ``"[2001:db8::1]:443"``. Loopback is
        always open; every other destination fails with ``EgressRefused``."""
        for spec in hosts:
            try:
                self.allowed_hosts.add(guard.parse_host(spec))
            except ValueError as exc:
                raise SimulationError(f"allow({spec!r}): {exc}") from None

    def refuse(self, destination: str, via: str) -> None:
        """Called by the egress guard: ``destination`` was stopped."""
        self.refused.append(f"{destination} ({via})")

    def respond(self, *replies: Any) -> None:
        """Script what the healthy API answers Messages calls: one reply per call (several
        arguments or a list: a text, content blocks via ``message(...)``, a Message dict or
        SDK object, ``recorded(path)``), or a callable that gets each request and returns
        one. A retry of a call gets the same reply again. See README "Scripted responses"."""
        self.api.script(*replies)

    @property
    def horizon(self) -> float:
        """Virtual seconds after which any wait ends with :class:`HorizonExceeded`."""
        return self.clock.horizon

    @horizon.setter
    def horizon(self, seconds: float) -> None:
        self.clock.horizon = float(seconds)

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the network started."""
        return self.clock.now()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SimulatedNetwork:
        if self.active:
            raise SimulationError("this SimulatedNetwork is active already")
        self.clock.install()
        if self.seed is not None:
            self._random_state = random.getstate()
            random.seed(self.seed)
        try:
            transport.attach(self)
        except BaseException:
            self.clock.uninstall()
            raise
        aiohttp_mock.attach(self)
        guard.attach(self)
        self.active = True
        return self

    def stop(self) -> None:
        if self.active:
            self.active = False
            guard.detach(self)
            aiohttp_mock.detach(self)
            transport.detach(self)
            self.clock.uninstall()
            if self._random_state is not None:
                random.setstate(self._random_state)  # type: ignore[arg-type]
                self._random_state = None

    def __enter__(self) -> SimulatedNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on a fresh event loop (``asyncio.run``): while the
        network is active, every event loop runs on its virtual clock."""
        return asyncio.run(coro)

    # -- reporting -----------------------------------------------------------------------
    def timeline(self) -> str:
        """The attempts as text a person reads (virtual seconds since the start)."""
        described = ", ".join(s.describe() for s in self.scenarios) or "healthy network"
        refused = [f"refused by the egress guard: {r}" for r in self.refused]
        return render(self.attempts, [f"scenario: {described}", *refused])

    # -- serving (called by the transport) ------------------------------------------------
    def _begin(
        self, request: httpx.Request, core: str, *, sync: bool, pool: Any = None, answer: Responder | None = None
    ) -> tuple[Attempt, Iterator[Yielded]]:
        attempt, steps = self.begin(
            request.method,
            str(request.url),
            request.content,
            request.headers,
            Timeouts.from_extensions(request.extensions),
            core,
            answer,
            pool,
        )
        core_module = transport.core_module(core)
        until = self.clock.quiet_until if sdk_decodes(request.headers) else None
        return attempt, play(
            steps, attempt.timeouts, attempt, core_module, self.clock.now, sync=sync, max_events=self.max_events, until=until
        )

    def begin(
        self,
        method: str,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        core: str,
        answer: Responder | None = None,
        pool: Any = None,
        connection: Any = None,
    ) -> tuple[Attempt, Iterator[Step]]:
        """Record a new attempt and shape its exchange: the steps the far side plays.

        Called by every transport (httpcore's pools, aiohttp's connector) with the request
        as it would go on the wire; raises ``UnhandledRequest`` for what is not served.
        ``core``: the transport (``httpcore``, ``httpcore2``, ``aiohttp``) for the sender.
        ``answer``: what the healthy API answers instead of the fake API (a test's own
        mocked response), before the scenarios shape it; ``pool``: the client's connection
        pool (keep-alive), when the transport knows it; ``connection``: instead, the
        connection the transport's own pool chose (aiohttp's connector): the network records
        whether it is new or how long it sat idle, and :meth:`exchange_ended` gives it back."""
        parts = urllib.parse.urlsplit(url)
        path, host = parts.path, parts.hostname or ""
        now = self.clock.now()
        if route(method, path) is None:
            self.unhandled.append(f"{method} {url}")
            raise UnhandledRequest(
                f"pytest-claude-timeout: {method} {url} is not served by the simulated network "
                "(it serves the Messages API under any base URL: messages, count_tokens, models, "
                "batches; Vertex rawPredict/streamRawPredict and Bedrock invoke paths). Nothing was "
                "sent: under the simulated network no request leaves the machine."
            )
        if now >= self.clock.horizon:
            raise HorizonExceeded(
                f"{method} {url} would be sent at virtual t={now:.1f} s, past the horizon of "
                f"{self.clock.horizon:g} s: the client waited that long before this attempt.",
                waited=now,
                forever=False,
            )
        for scenario in self.scenarios:
            scenario.lock()
        previous = None
        if self._previous is not None:
            before = self._previous[1]
            previous = (self._previous[0], before.phase != "done" or (before.status or 0) >= 400)
        api_request = ApiRequest.parse(method, url, path, content, dict(headers), previous=previous)
        if api_request.stream:
            self._streams += 1
        attempt = Attempt(
            number=len(self.attempts) + 1,
            method=method,
            url=url,
            stream=api_request.stream,
            retry_count=int(retry) if (retry := headers.get("x-stainless-retry-count")) and retry.isdigit() else None,
            timeouts=timeouts,
            start=now,
            sender=identify(headers, core),
            request_digest=hashlib.sha1(f"{method} {url} ".encode() + content).hexdigest()[:16],
            call=CURRENT_CALL.get(),
        )
        self.attempts.append(attempt)
        self._previous = (content, attempt)
        attempt.event(now, "request sent", "sent")
        origin = f"{parts.scheme}://{host}:{parts.port}"
        checkout = self._connections.checkout(pool, origin, attempt.number, now, connection)
        if checkout.reused_after is not None:
            attempt.event(now, f"on connection {checkout.connection.number}, reused after {checkout.reused_after:.3f} s idle", "connection")
        ctx = AttemptContext(
            attempt.number,
            self._streams if api_request.stream else 0,
            api_request,
            host,
            self.clock.datetime(),
            reused_after=checkout.reused_after,
        )
        if answer is not None:
            attempt.event(now, "answered by the test's own mock of the Messages API")
        steps: Iterator[Step] = shape(answer or self.api, self.scenarios, api_request, ctx)
        if checkout.reused_after is not None:
            steps = (s for s in steps if not isinstance(s, Connect))  # no handshake on a kept-alive connection
        return attempt, steps

    def exchange_ended(self, attempt: Attempt, *, reusable: bool) -> None:
        """The transport's exchange for ``attempt`` ended: its connection is idle from now
        (``reusable``), or closed."""
        self._connections.release(attempt.number, self.clock.now(), reusable=reusable)

    @contextlib.contextmanager
    def _guarded(self, what: str) -> Iterator[None]:
        """Any exception of the simulation itself (not an error of the HTTP stack it raises
        on purpose) reaches the client as a :class:`HarnessError`, which derives from
        ``BaseException``: the SDK cannot wrap it as a connection error and retry."""
        __tracebackhide__ = hide_unless_harness_error
        try:
            yield
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in transport.CORE_MODULES:
                raise
            fault = harness_error(exc, what)
            self.faults.append(fault)
            raise fault from exc

    @contextlib.contextmanager
    def _playing(self, attempt: Attempt, gen: Iterator[Yielded]) -> Iterator[None]:
        __tracebackhide__ = hide_unless_harness_error
        try:
            yield
        except HorizonExceeded as exc:
            phase = "body" if attempt.status is not None else "headers"
            outcome = "stopped at the virtual horizon: " + ("would wait forever" if exc.forever else f"would wait {exc.waited:g} s")
            attempt.event(self.clock.now(), outcome, "horizon")
            attempt.finish(self.clock.now(), outcome, phase=phase, error="HorizonExceeded")
            raise
        except BaseException as exc:
            if not attempt.finished:
                _interrupted(attempt, self.clock.now(), exc, "body" if attempt.status is not None else "headers")
            raise
        finally:
            if attempt.finished:
                gen.close()  # type: ignore[attr-defined]
                self._pools.release(attempt)
                reusable = attempt.phase == "done" and attempt.error is None
                self._connections.release(attempt.number, self.clock.now(), reusable=reusable)

    def _respond(self, core: str, attempt: Attempt, head: Head, gen: Iterator[Yielded]) -> Any:
        attempt.retry_after = retry_after_seconds(head.headers, self.clock.datetime())
        return _response(core, head, _Body(self, attempt, gen))

    def _what(self, attempt: Attempt) -> str:
        return f"attempt {attempt.number} ({attempt.method} {attempt.url})"

    def handle(self, request: httpx.Request, core: str, pool: Any = None, answer: Responder | None = None) -> Any:
        __tracebackhide__ = hide_unless_harness_error
        with self._guarded(f"{request.method} {request.url}"):
            return self._handle(request, core, pool, answer)

    def _handle(self, request: httpx.Request, core: str, pool: Any = None, answer: Responder | None = None) -> Any:
        __tracebackhide__ = hide_unless_harness_error
        self.clock.participate()
        attempt, gen = self._begin(request, core, sync=True, pool=pool, answer=answer)
        self._pools.acquire_sync(pool, attempt, core, self.clock)
        with self._playing(attempt, gen):
            for item in gen:
                if isinstance(item, Head):
                    return self._respond(core, attempt, item, gen)
                assert isinstance(item, float)
                self.clock.sleep(item, self._what(attempt))
        raise AssertionError("unreachable: play() always yields a head or raises")

    async def ahandle(self, request: httpx.Request, core: str, pool: Any = None, answer: Responder | None = None) -> Any:
        __tracebackhide__ = hide_unless_harness_error
        with self._guarded(f"{request.method} {request.url}"):
            return await self._ahandle(request, core, pool, answer)

    async def _ahandle(self, request: httpx.Request, core: str, pool: Any = None, answer: Responder | None = None) -> Any:
        __tracebackhide__ = hide_unless_harness_error
        require_virtual_loop(f"{request.method} {request.url}")
        attempt, gen = self._begin(request, core, sync=False, pool=pool, answer=answer)
        await self._pools.acquire(pool, attempt, core, self.clock)
        with self._playing(attempt, gen):
            for item in gen:
                if isinstance(item, Head):
                    return self._respond(core, attempt, item, gen)
                assert isinstance(item, float)
                await self.clock.asleep(item, self._what(attempt))
        raise AssertionError("unreachable: play() always yields a head or raises")


class _Body:
    """The response body as the stack reads it, sync or async, in virtual time."""

    def __init__(self, network: SimulatedNetwork, attempt: Attempt, gen: Iterator[Yielded]) -> None:
        self.network, self.attempt, self.gen = network, attempt, gen

    def __iter__(self) -> Iterator[bytes]:
        __tracebackhide__ = hide_unless_harness_error
        with self.network._guarded(self.network._what(self.attempt)), self.network._playing(self.attempt, self.gen):
            for item in self.gen:
                if isinstance(item, bytes):
                    yield item
                else:
                    self.network.clock.sleep(float(item), self.network._what(self.attempt))  # type: ignore[arg-type]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        __tracebackhide__ = hide_unless_harness_error
        with self.network._guarded(self.network._what(self.attempt)), self.network._playing(self.attempt, self.gen):
            for item in self.gen:
                if isinstance(item, bytes):
                    yield item
                else:
                    await self.network.clock.asleep(float(item), self.network._what(self.attempt))  # type: ignore[arg-type]

    def close(self) -> None:
        if not self.attempt.finished:
            now = self.network.clock.now()
            parts = len(self.attempt.delivered)
            self.attempt.event(now, "client closed the response", "closed")
            self.attempt.finish(now, f"closed by the client after {parts} body part(s)", phase="body")
        self.gen.close()  # type: ignore[attr-defined]
        self.network._pools.release(self.attempt)
        self.network._connections.release(self.attempt.number, self.network.clock.now(), reusable=False)

    async def aclose(self) -> None:
        self.close()


def sdk_decodes(headers: Mapping[str, str]) -> bool:
    """Whether the response body goes to the Anthropic SDK's own SSE decoder, which drops
    ``ping`` events, so that runs of pings can be fast-forwarded (``exchange.fast_forwarded``):
    the SDK sent the request (``x-stainless-lang``), and not for a raw response
    (``with_raw_response`` / ``with_streaming_response`` send ``x-stainless-raw-response``:
    there the caller may read the bytes, pings included)."""
    return "x-stainless-lang" in headers and "x-stainless-raw-response" not in headers


def _response(core: str, head: Head, body: _Body) -> Any:
    try:
        reason = http.HTTPStatus(head.status).phrase
    except ValueError:
        reason = ""
    return transport.core_module(core).Response(
        status=head.status,
        headers=[(k.encode(), v.encode()) for k, v in head.headers],
        content=body,
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode()},
    )


def _interrupted(attempt: Attempt, now: float, exc: BaseException, phase: str) -> None:
    """The caller stopped the attempt (task cancelled, ``wait_for``, a cancel scope ...):
    it ends here, at the virtual moment, and gives its connection back."""
    name = type(exc).__name__
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        attempt.event(now, "cancelled by the caller", "closed")
        attempt.finish(now, f"cancelled by the caller in {phase}", phase=phase, error="Cancelled", cancelled=True)
    else:
        attempt.event(now, f"interrupted: {name}", "closed")
        attempt.finish(now, f"interrupted by {name} in {phase}", phase=phase, error=name)


class _Waiter:
    """One attempt waiting for a pooled connection (a future for async code, a flag and
    the pools' condition for sync code)."""

    __slots__ = ("future", "gone", "granted", "key")

    def __init__(self, future: asyncio.Future[None] | None = None) -> None:
        self.future = future
        self.key = 0
        self.granted = False
        self.gone = False


class _Pools:
    """The connection limit of each connection pool, as httpcore enforces it, sync
    (across threads) and async.

    The mocked pools never open connections, so the network keeps the count: an attempt
    holds a slot from its start until its response is finished, closed or cancelled; one
    that finds the pool full waits (first come, first served) up to the pool timeout, then
    fails with ``PoolTimeout``.
    """

    def __init__(self) -> None:
        self.busy: dict[int, int] = {}
        self.waiters: dict[int, collections.deque[_Waiter]] = {}
        self.held: dict[int, int] = {}  # attempt number -> pool id
        self.cond = threading.Condition(threading.Lock())

    def _enter(self, pool: Any, attempt: Attempt, waiter: _Waiter) -> tuple[int, int] | None:
        """Take a slot at once (None), or queue ``waiter``: (pool id, limit). Lock held."""
        limit = getattr(pool, "_max_connections", None)
        if not isinstance(limit, int):
            return None
        key = id(pool)
        if self.busy.get(key, 0) < limit and not self.waiters.get(key):
            self.busy[key] = self.busy.get(key, 0) + 1
            self.held[attempt.number] = key
            return None
        waiter.key = key
        self.waiters.setdefault(key, collections.deque()).append(waiter)
        return key, limit

    def _bound(self, attempt: Attempt, clock: VirtualClock, limit: int) -> float:
        started = clock.now()
        attempt.event(started, f"pool full ({limit} connections): waiting for a free connection", "pool")
        wait = attempt.timeouts.pool
        return clock.horizon - started if wait is None else min(wait, clock.horizon - started)

    def _got(self, attempt: Attempt, key: int, clock: VirtualClock) -> None:
        self.held[attempt.number] = key
        attempt.event(clock.now(), "got a connection from the pool", "pool")

    def _give_up(self, attempt: Attempt, core: str, clock: VirtualClock, bound: float) -> BaseException:
        wait = attempt.timeouts.pool
        if wait is None or wait > bound:
            return HorizonExceeded(
                f"{attempt.method} {attempt.url}: the client would wait forever for a pooled connection "
                "(no pool timeout); the simulation stopped it at the virtual horizon",
                waited=float("inf"),
                forever=True,
            )
        attempt.event(clock.now(), f"client gave up: no free connection for {wait:g} s (pool timeout)", "timeout")
        attempt.finish(clock.now(), f"PoolTimeout (pool timeout {wait:g} s) in connect", phase="connect", error="PoolTimeout")
        return transport.core_module(core).PoolTimeout("timed out")  # type: ignore[no-any-return]

    def acquire_sync(self, pool: Any, attempt: Attempt, core: str, clock: VirtualClock) -> None:
        waiter = _Waiter()
        with self.cond:
            queued = self._enter(pool, attempt, waiter)
            if queued is None:
                return
            key, limit = queued
            bound = self._bound(attempt, clock, limit)
            deadline = clock.now() + bound
            try:
                while not waiter.granted and clock.now() < deadline:
                    self.cond.wait(deadline - clock.now())  # virtual for participants
            except BaseException as exc:
                self._leave(waiter)
                _interrupted(attempt, clock.now(), exc, "connect")
                raise
            if not waiter.granted:
                waiter.gone = True
                error = self._give_up(attempt, core, clock, bound)
            else:
                self._got(attempt, key, clock)
                return
        raise error

    async def acquire(self, pool: Any, attempt: Attempt, core: str, clock: VirtualClock) -> None:
        waiter = _Waiter(asyncio.get_running_loop().create_future())
        assert waiter.future is not None
        with self.cond:
            queued = self._enter(pool, attempt, waiter)
            if queued is None:
                return
            key, limit = queued
            bound = self._bound(attempt, clock, limit)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), bound)
        except asyncio.TimeoutError:
            with self.cond:
                if not waiter.granted:
                    waiter.gone = True
                    error = self._give_up(attempt, core, clock, bound)
            if not waiter.granted:
                raise error from None
        except BaseException as exc:
            with self.cond:
                self._leave(waiter)
            _interrupted(attempt, clock.now(), exc, "connect")
            raise
        self._got(attempt, key, clock)

    def _leave(self, waiter: _Waiter) -> None:
        """A waiter stops waiting (cancelled): a slot it was just given passes on. Lock held."""
        waiter.gone = True
        if waiter.granted:
            self._hand_over(waiter.key)

    def release(self, attempt: Attempt) -> None:
        with self.cond:
            key = self.held.pop(attempt.number, None)
            if key is not None:
                self._hand_over(key)

    def _hand_over(self, key: int) -> None:
        """A slot of pool ``key`` is free: it passes to the first live waiter. Lock held."""
        queue = self.waiters.get(key)
        while queue:
            waiter = queue.popleft()
            if waiter.gone:
                continue
            waiter.granted = True
            if waiter.future is None:
                self.cond.notify_all()
            else:
                _resolve(waiter.future)
            return
        self.busy[key] -= 1


def _resolve(future: asyncio.Future[None]) -> None:
    loop = future.get_loop()
    if asyncio._get_running_loop() is loop:
        if not future.done():
            future.set_result(None)
    else:
        loop.call_soon_threadsafe(lambda: None if future.done() else future.set_result(None))
