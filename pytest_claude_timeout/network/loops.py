"""Event loops as participants of the virtual clock (see :mod:`.scheduler`).

Every asyncio event loop that a participant thread runs while a scheduler is active gets
virtual time on the shared clock: ``asyncio.run``, ``loop.run_until_complete``, a loop in a
worker thread, anyio on asyncio, a framework's own sync wrapper, pytest-asyncio's loops.
The loop (one instance, for as long as it runs) is *attached*:

* ``loop.time()`` reads the clock;
* when the loop has nothing ready, its selector's wait becomes a wait on the clock until the
  loop's next timer, so the clock jumps there once every other participant waits too;
  real I/O and ``call_soon_threadsafe`` (which marks the loop ready first) still wake it;
* loops that are not attached (run by threads that keep real time) read real time, even
  while freezegun freezes ``time.monotonic``.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import math
from typing import Any

from ..errors import SimulationError
from .scheduler import Scheduler, real_monotonic

_scheduler: Scheduler | None = None
_real_run_forever = asyncio.base_events.BaseEventLoop.run_forever
_real_time = asyncio.base_events.BaseEventLoop.time
_LOOPTIME_FLAG = "_LoopTimeEventLoop__enabled"


def attached(loop: asyncio.AbstractEventLoop, sched: Scheduler) -> bool:
    return loop.__dict__.get("_pct_scheduler") is sched


def attach(loop: asyncio.AbstractEventLoop, sched: Scheduler) -> None:
    """Give ``loop`` virtual time on ``sched`` until :func:`detach` (or the scheduler stops)."""
    if attached(loop, sched):
        return
    selector = getattr(loop, "_selector", None)
    if selector is None or not isinstance(loop, asyncio.base_events.BaseEventLoop):
        raise SimulationError(
            f"an event loop of type {type(loop).__module__}.{type(loop).__qualname__} cannot get "
            "virtual time (the simulation supports asyncio's selector event loops; uvloop and "
            "the proactor loop are not supported): run the code under test on asyncio's default loop"
        )
    real_select = selector.select

    def select(timeout: float | None = None) -> list[Any]:
        act = sched.current()
        if act is None or not sched.active:
            return real_select(timeout)  # type: ignore[no-any-return]
        ready = real_select(0)
        if ready or timeout == 0:
            return ready  # type: ignore[no-any-return]
        deadline = None if timeout is None else sched.now + timeout
        at_once = sched.block(act, loop, deadline, wake=loop._write_to_self)  # type: ignore[attr-defined]
        try:
            ready = real_select(0 if at_once or not sched.active else None)
        finally:
            sched.unblock(act)
        return ready  # type: ignore[no-any-return]

    real_threadsafe = loop.call_soon_threadsafe

    def call_soon_threadsafe(callback: Any, *args: Any, context: Any = None) -> Any:
        sched.wake((loop,))
        return real_threadsafe(callback, *args, context=context)

    state: dict[str, Any] = {"select": real_select}
    if hasattr(loop, _LOOPTIME_FLAG):  # looptime's own fake time steps aside
        state["looptime"] = getattr(loop, _LOOPTIME_FLAG)
        setattr(loop, _LOOPTIME_FLAG, False)
    selector.select = select
    loop.time = lambda: sched.now  # type: ignore[method-assign]
    loop.call_soon_threadsafe = call_soon_threadsafe  # type: ignore[method-assign,assignment]
    loop.__dict__["_pct_scheduler"] = sched
    loop.__dict__["_pct_state"] = state
    sched.on_stop.append(lambda: detach(loop))


def next_timer(loop: asyncio.AbstractEventLoop) -> float:
    """When ``loop`` runs something next besides the task running now: its time when a
    callback is ready, else its earliest timer (``inf``: none)."""
    if getattr(loop, "_ready", None):
        return loop.time()
    scheduled = getattr(loop, "_scheduled", ())
    return min((h.when() for h in scheduled if not h.cancelled()), default=math.inf)


def detach(loop: asyncio.AbstractEventLoop) -> None:
    state = loop.__dict__.pop("_pct_state", None)
    if state is None:
        return
    loop.__dict__.pop("_pct_scheduler", None)
    for name in ("time", "call_soon_threadsafe"):
        loop.__dict__.pop(name, None)
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        selector.__dict__.pop("select", None)
        if selector.select is not state["select"]:
            selector.select = state["select"]
    if "looptime" in state:
        setattr(loop, _LOOPTIME_FLAG, state["looptime"])


def _run_forever(self: asyncio.base_events.BaseEventLoop) -> None:
    sched = _scheduler
    if sched is None or sched.current() is None or attached(self, sched):
        return _real_run_forever(self)
    attach(self, sched)
    try:
        return _real_run_forever(self)
    finally:
        detach(self)


def _loop_time(self: asyncio.base_events.BaseEventLoop) -> float:
    return real_monotonic()  # loops that are not attached keep real time


def install(sched: Scheduler) -> None:
    global _scheduler
    _scheduler = sched
    asyncio.base_events.BaseEventLoop.run_forever = _run_forever  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop.time = _loop_time  # type: ignore[method-assign]


def uninstall(sched: Scheduler) -> None:
    global _scheduler
    if _scheduler is sched:
        _scheduler = None
    asyncio.base_events.BaseEventLoop.run_forever = _real_run_forever  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop.time = _real_time  # type: ignore[method-assign]
