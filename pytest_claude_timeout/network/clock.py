"""One virtual clock for everything a scenario touches.

While the clock is installed, the whole process runs on one virtual time, as a
discrete-event simulation (:mod:`.scheduler`): every participant (the thread that installed
it, each thread code under test starts, each event loop they run) waits on the same clock,
and the clock jumps to the next deadline only when every participant waits. So:

* simulated waits, ``time.sleep`` (the sync SDK's backoff) and ``anyio.sleep`` / asyncio
  timers (the async SDK's) are waits on the clock, in any participant thread or loop;
* freezegun makes ``time.time()``, ``time.monotonic()`` and ``datetime.now()`` report
  ``start + now()``; attached event loops read ``now()`` directly;
* threads that do not participate (pytest's, xdist's) keep real time.

Nothing here sleeps in real time, and no wait may go past the *horizon*: a wait that would
(``timeout=None`` against a stalled stream, a ``retry-after`` of days) raises
:class:`~pytest_claude_timeout.errors.HorizonExceeded` instead of hanging the test run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, SupportsIndex

from ..errors import HorizonExceeded, SimulationError, hide_unless_harness_error
from . import loops, participants
from .scheduler import Scheduler

DEFAULT_HORIZON = 24 * 3600.0

# Modules that must keep seeing real time while the clock is installed: pytest's own
# durations, the benchmark plugin, xdist's channels.
_REAL_TIME_MODULES = ("_pytest.timing", "pytest_benchmark", "looptime", "execnet", "xdist")

_real_sleep = time.sleep
_installed: VirtualClock | None = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    return asyncio._get_running_loop()


def _virtual_sleep(seconds: float | SupportsIndex) -> None:
    """``time.sleep`` while a clock is installed: a wait on the clock for participants,
    real for every other thread, and real for good once the clock is gone (a module that
    did ``from time import sleep`` during the simulation keeps this function)."""
    __tracebackhide__ = hide_unless_harness_error
    clock = _installed
    if clock is None or clock.scheduler.current() is None:
        _real_sleep(seconds)
    else:
        clock.sleep(float(seconds), "time.sleep", strict=False)


class VirtualClock:
    """Virtual seconds since the clock started, shared by every participant."""

    def __init__(self, *, horizon: float = DEFAULT_HORIZON, start: datetime | None = None) -> None:
        if not horizon > 0:
            raise ValueError(f"horizon must be a positive number of seconds, not {horizon!r}")
        self.horizon = float(horizon)
        start = start or datetime.now(timezone.utc).replace(microsecond=0)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.start = start
        self.scheduler = Scheduler()
        self._undo: list[Any] = []
        self._modules_at_start: set[str] = set()

    # -- reading -------------------------------------------------------------------------
    def now(self) -> float:
        """Virtual seconds elapsed since the clock started."""
        return self.scheduler.now

    def datetime(self) -> datetime:
        """The virtual wall-clock moment (UTC)."""
        return self.start + timedelta(seconds=self.scheduler.now)

    @property
    def installed(self) -> bool:
        return bool(self._undo)

    # -- waiting -------------------------------------------------------------------------
    def _clip(self, seconds: float, what: str) -> tuple[float, HorizonExceeded | None]:
        if math.isnan(seconds) or seconds < 0:
            raise ValueError(f"{what}: cannot wait {seconds!r} seconds")
        now = self.now()
        # A far-future start date: the calendar (year 9999) ends before the horizon does.
        remaining = max(0.0, self.end() - now)
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

    def end(self) -> float:
        """The last virtual moment a wait may reach: the horizon, or the calendar's end
        (year 9999) for a far-future start."""
        calendar = (datetime.max.replace(tzinfo=timezone.utc) - self.start).total_seconds() - 1
        return min(self.horizon, calendar)

    def quiet_until(self) -> float:
        """Until when nothing but the caller acts on the clock: the earliest moment another
        participant (another thread or event loop, another task or timer of the caller's own
        loop) may run, or :meth:`end`; now when one is ready to run."""
        sched = self.scheduler
        act = sched.current()
        until = min(sched.next_event(act), self.end())
        loop = _running_loop()
        if loop is not None and loops.attached(loop, sched):
            until = min(until, loops.next_timer(loop))
        return max(until, sched.now)

    def participate(self) -> None:
        """Make the calling thread a participant if it is not one (a thread that existed
        before the simulation and now makes requests): it waits for its turn."""
        if self.installed and self.scheduler.current() is None:
            self.scheduler.enter(threading.current_thread().name)

    def sleep(self, seconds: float, what: str = "time.sleep", *, strict: bool = True) -> None:
        """Wait ``seconds`` on the clock (sync code): the clock moves on once every other
        participant waits too. Before :meth:`install`, just advances the clock.
        ``strict``: raise :class:`SimulationError` if the simulation stops during the wait."""
        __tracebackhide__ = hide_unless_harness_error
        step, over = self._clip(float(seconds), what)
        sched = self.scheduler
        if not self.installed:
            sched.now += step
        else:
            self.participate()
            act = sched.current()
            assert act is not None
            if not sched.sleep_until(act, sched.now + step) and strict:
                raise SimulationError(
                    f"{what}: the simulated network stopped while this thread was waiting on it "
                    "(a thread or task of the code under test outlived the test)"
                )
        if over is not None:
            raise over

    async def asleep(self, seconds: float, what: str = "asyncio.sleep") -> None:
        """Wait ``seconds`` on the running (attached) event loop (async code)."""
        __tracebackhide__ = hide_unless_harness_error
        require_virtual_loop(what)
        step, over = self._clip(float(seconds), what)
        await asyncio.sleep(step)
        if over is not None:
            raise over

    # -- installing ----------------------------------------------------------------------
    def install(self) -> None:
        """Make this the process's one virtual time (see the module doc)."""
        if self._undo:
            raise SimulationError("this VirtualClock is installed already")
        if _installed is not None:
            raise SimulationError(
                "another simulated network is active: one virtual time serves the whole process, "
                "so only one SimulatedNetwork can be active at a time"
            )
        try:
            self._install()
        except BaseException:
            self.uninstall()
            raise

    def _install(self) -> None:
        global _installed
        _refuse_time_machine()
        _prepare_pydantic()
        import freezegun
        import freezegun.api
        from freezegun.config import DEFAULT_IGNORE_LIST

        self._modules_at_start = set(sys.modules)
        sched = Scheduler()
        sched.now = self.scheduler.now
        self.scheduler = sched
        freezer = freezegun.freeze_time(
            self.start.replace(tzinfo=None),
            ignore=[*DEFAULT_IGNORE_LIST, *_REAL_TIME_MODULES],
        )
        freezer.start()
        # freezegun keeps a stack of "what time is it" factories; the top one answers every
        # fake time function. Ours reads this clock, so the frozen time moves with it.
        freezegun.api.freeze_factories[-1] = _FreezegunFactory(self)  # type: ignore[call-overload]
        self._undo.append(freezer.stop)

        sched.enter(threading.current_thread().name)  # the installing thread participates
        participants.install(sched)
        self._undo.append(lambda: participants.uninstall(sched))
        loops.install(sched)
        self._undo.append(lambda: loops.uninstall(sched))
        self._undo.append(sched.stop)  # first of all: every waiting participant goes on
        running = _running_loop()
        if running is not None:  # installed from inside a running loop: it participates too
            loops.attach(running, sched)

        time.sleep = _virtual_sleep
        self._undo.append(lambda: setattr(time, "sleep", _real_sleep))

        # The async SDK backs off with anyio.sleep: bound it by the horizon like time.sleep.
        import anyio

        real_anyio_sleep = anyio.sleep
        if real_anyio_sleep is not _anyio_sleep:
            _REAL_ANYIO_SLEEP[:] = [real_anyio_sleep]
        anyio.sleep = _anyio_sleep
        self._undo.append(lambda: setattr(anyio, "sleep", real_anyio_sleep))
        _installed = self
        self._undo.append(_forget_installed)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()
        _rebind_fakes(set(sys.modules) - self._modules_at_start)

    def __enter__(self) -> VirtualClock:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def _forget_installed() -> None:
    global _installed
    _installed = None


async def _anyio_sleep(delay: float) -> None:
    __tracebackhide__ = hide_unless_harness_error
    clock = _installed
    loop = _running_loop()
    if clock is not None and loop is not None and clock.scheduler.current() is not None:
        await clock.asleep(delay, "anyio.sleep")
    else:
        await _REAL_ANYIO_SLEEP[0](delay)


_REAL_ANYIO_SLEEP: list[Any] = []


def _rebind_fakes(new_modules: set[str]) -> None:
    """Modules imported during the simulation that bound the fake ``time.sleep`` or
    ``anyio.sleep`` (``from time import sleep``) get the real ones back."""
    fakes: dict[int, Any] = {id(_virtual_sleep): _real_sleep}
    if _REAL_ANYIO_SLEEP:
        fakes[id(_anyio_sleep)] = _REAL_ANYIO_SLEEP[0]
    for name in new_modules:
        module = sys.modules.get(name)
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):
            real = fakes.get(id(value))
            if real is not None:
                namespace[attr] = real


def _refuse_time_machine() -> None:
    machine = sys.modules.get("time_machine")
    if machine is not None and getattr(machine, "traveller_stack", None):
        raise SimulationError(
            "time-machine is travelling: the simulated network owns time while it is active, "
            "and time-machine cannot share it. Stop the travel before the network starts, or "
            "use freezegun.freeze_time inside the test (it works on top of the virtual clock)."
        )
    travel = getattr(machine, "travel", None)
    if travel is not None and not getattr(travel.start, "_pct_guard", False):
        real_start = travel.start

        def start(self: Any) -> Any:
            here = sys.modules.get(__name__)  # (this module, as imported now)
            if getattr(here, "_installed", None) is not None:
                raise SimulationError(
                    "time-machine cannot travel while a simulated network is active: the network "
                    "owns time (one virtual clock for the whole process). Use "
                    "claude_network.elapsed for virtual time, or freezegun.freeze_time inside the "
                    "test for a frozen wall clock of your own."
                )
            return real_start(self)

        start._pct_guard = True  # type: ignore[attr-defined]
        travel.start = start


def _prepare_pydantic() -> None:
    """pydantic models first defined during the simulation see freezegun's FakeDatetime and
    FakeDate for ``datetime``/``date``: teach pydantic they are the real types. And load
    pydantic's schema generator before the freeze, so its type tables hold the real ones."""
    if importlib.util.find_spec("pydantic_core") is None:
        return
    import freezegun.api
    from pydantic_core import core_schema

    def datetime_schema(cls: type, source: Any, handler: Any) -> Any:
        return core_schema.datetime_schema()

    def date_schema(cls: type, source: Any, handler: Any) -> Any:
        return core_schema.date_schema()

    freezegun.api.FakeDatetime.__get_pydantic_core_schema__ = classmethod(datetime_schema)  # type: ignore[attr-defined]
    freezegun.api.FakeDate.__get_pydantic_core_schema__ = classmethod(date_schema)  # type: ignore[attr-defined]
    if importlib.util.find_spec("pydantic") is not None:
        import pydantic._internal._generate_schema  # noqa: F401


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


def _is_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def require_virtual_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running event loop, attached to the installed clock (attaching it, and making its
    thread a participant, if it is not yet)."""
    loop = _running_loop()
    if loop is None:
        if _is_trio():
            raise SimulationError(
                f"{what}: the async client runs on trio; the simulated network gives virtual time "
                "to asyncio event loops only. Run it on asyncio: anyio.run(..., backend='asyncio'), "
                "or anyio_backend = 'asyncio' for pytest's anyio plugin."
            )
        raise SimulationError(f"{what}: no running asyncio event loop")
    clock = _installed
    if clock is None:
        raise SimulationError(
            f"{what}: the async client runs while no simulated network is active, so its waits "
            "would take real time. Start a SimulatedNetwork (or use the plugin's fixtures or marker)."
        )
    if not loops.attached(loop, clock.scheduler):
        clock.participate()
        loops.attach(loop, clock.scheduler)
    return loop
