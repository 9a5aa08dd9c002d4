"""One virtual clock for everything a scenario touches.

Simulated waits, the SDK's backoff sleeps (``time.sleep`` in the sync client, ``anyio.sleep``
on the event loop in the async one), ``time.time()``, ``time.monotonic()``, ``datetime.now()``
and the asyncio loop's own time all read the same virtual seconds:

* sync code advances the clock directly (``VirtualClock.sleep``, installed as ``time.sleep``);
* async code runs on a `looptime <https://pypi.org/project/looptime/>`_ event loop, whose
  fake time jumps to the next timer when every task waits; the clock follows that loop;
* freezegun makes ``time.*`` and ``datetime`` report ``start + now()``.

Nothing here sleeps in real time, and no wait may go past the *horizon*: a wait that would
(``timeout=None`` against a stalled stream, a ``retry-after`` of days) raises
:class:`~pytest_claude_timeout.errors.HorizonExceeded` instead of hanging the test run.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, SupportsIndex

from ..errors import HorizonExceeded, SimulationError

DEFAULT_HORIZON = 24 * 3600.0

# Modules that must keep seeing real time while the clock is installed: pytest's own
# durations, the benchmark plugin, looptime's real-time bookkeeping, xdist's channels.
_REAL_TIME_MODULES = ("_pytest.timing", "pytest_benchmark", "looptime", "execnet", "xdist")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    return asyncio._get_running_loop()


def _is_virtual(loop: asyncio.AbstractEventLoop | None) -> bool:
    return bool(getattr(loop, "looptime_on", False))


class VirtualClock:
    """Virtual seconds since the clock started, shared by sync and async code.

    ``now()`` is the sum of what sync sleeps added and how far the (looptime) event loop's
    time moved while the clock watched it.
    """

    def __init__(self, *, horizon: float = DEFAULT_HORIZON, start: datetime | None = None) -> None:
        if not horizon > 0:
            raise ValueError(f"horizon must be a positive number of seconds, not {horizon!r}")
        self.horizon = float(horizon)
        start = start or datetime.now(timezone.utc).replace(microsecond=0)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.start = start
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_seen = 0.0
        self._owner: int | None = None
        self._undo: list[Any] = []

    # -- reading -------------------------------------------------------------------------
    def now(self) -> float:
        """Virtual seconds elapsed since the clock started."""
        loop = _running_loop()
        if loop is not None and _is_virtual(loop):
            seen = loop.time()
            if loop is self._loop:
                self._offset += max(0.0, seen - self._loop_seen)
            self._loop, self._loop_seen = loop, seen
        return self._offset

    def datetime(self) -> datetime:
        """The virtual wall-clock moment (UTC)."""
        return self.start + timedelta(seconds=self.now())

    # -- waiting -------------------------------------------------------------------------
    def _clip(self, seconds: float, what: str) -> tuple[float, HorizonExceeded | None]:
        if math.isnan(seconds) or seconds < 0:
            raise ValueError(f"{what}: cannot wait {seconds!r} seconds")
        now = self.now()
        remaining = max(0.0, self.horizon - now)
        if seconds <= remaining:
            return seconds, None
        forever = math.isinf(seconds)
        wait = "forever (nothing bounds this wait)" if forever else f"{seconds:g} s"
        message = (
            f"{what}: the client would wait {wait}; the simulation stopped it at the virtual "
            f"horizon of {self.horizon:g} s (virtual t={self.horizon:.3f} s). Set a timeout that "
            "bounds this wait, or raise the horizon if the wait is intended."
        )
        return remaining, HorizonExceeded(message, waited=seconds, forever=forever)

    def sleep(self, seconds: float, what: str = "time.sleep") -> None:
        """Advance the clock by ``seconds`` at once (sync code)."""
        step, over = self._clip(float(seconds), what)
        self._offset += step
        if over is not None:
            raise over

    async def asleep(self, seconds: float, what: str = "asyncio.sleep") -> None:
        """Wait ``seconds`` on the running virtual event loop (async code)."""
        require_virtual_loop(what)
        step, over = self._clip(float(seconds), what)
        await asyncio.sleep(step)
        self.now()  # observe the loop's new time before anything else reads the clock
        if over is not None:
            raise over

    # -- installing ----------------------------------------------------------------------
    def install(self) -> None:
        """Make ``time.*``, ``datetime`` and ``time.sleep`` (this thread) read this clock."""
        if self._undo:
            raise SimulationError("this VirtualClock is installed already")
        import freezegun
        import freezegun.api
        from freezegun.config import DEFAULT_IGNORE_LIST

        self._owner = threading.get_ident()
        freezer = freezegun.freeze_time(
            self.start.replace(tzinfo=None),
            ignore=[*DEFAULT_IGNORE_LIST, *_REAL_TIME_MODULES],
            real_asyncio=True,
        )
        freezer.start()
        # freezegun keeps a stack of "what time is it" factories; the top one answers every
        # fake time function. Ours reads this clock, so the frozen time moves with it.
        freezegun.api.freeze_factories[-1] = _FreezegunFactory(self)  # type: ignore[call-overload]
        self._undo.append(freezer.stop)

        real_sleep = time.sleep

        def sleep(seconds: float | SupportsIndex) -> None:
            if threading.get_ident() == self._owner:
                self.sleep(float(seconds))
            else:  # other threads (xdist channels, user threads) keep real time
                real_sleep(seconds)

        time.sleep = sleep
        self._undo.append(lambda: setattr(time, "sleep", real_sleep))

        # The async SDK backs off with anyio.sleep: bound it by the horizon like time.sleep.
        import anyio

        real_anyio_sleep = anyio.sleep

        async def anyio_sleep(delay: float) -> None:
            if _is_virtual(_running_loop()):
                await self.asleep(delay, "anyio.sleep")
            else:
                await real_anyio_sleep(delay)

        anyio.sleep = anyio_sleep
        self._undo.append(lambda: setattr(anyio, "sleep", real_anyio_sleep))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> VirtualClock:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


class _FreezegunFactory:
    """Stands in freezegun's factory stack: the frozen moment is the clock's moment."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def __call__(self) -> datetime:
        return self.clock.datetime().replace(tzinfo=None)

    def tick(self, delta: float | timedelta = 1.0) -> datetime:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        self.clock.sleep(seconds, "freezegun tick")
        return self()

    def move_to(self, target: Any) -> None:
        raise SimulationError("the virtual clock only moves forward with the simulation")


def require_virtual_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running loop, which must have looptime's virtual time switched on."""
    loop = _running_loop()
    if not _is_virtual(loop):
        raise SimulationError(
            f"{what}: the async client runs on an event loop without virtual time, so the "
            "simulated network would wait in real time. Under pytest, use the plugin's fixtures "
            "or marker in a pytest-asyncio test (the plugin enables looptime for it), and do not "
            "pass --no-looptime; outside pytest, run the coroutine on "
            "looptime.new_event_loop() (or SimulatedNetwork.run(coro))."
        )
    assert loop is not None
    return loop
