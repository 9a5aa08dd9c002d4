"""Threads as participants of the virtual clock (see :mod:`.scheduler`).

While a scheduler is active:

* a thread started (``Thread.start``) by a participant is a participant too, from its first
  line to its last: ``threading.Thread``, ``ThreadPoolExecutor`` workers, anyio's and
  asyncio's worker threads. Threads started by others (pytest's, xdist's and execnet's) and
  threads that existed before keep real time;
* a participant waiting on a ``threading.Condition`` (``Event.wait``, ``Future.result``,
  ``queue.Queue.get``, ``Semaphore``, ``Barrier``) or joining a thread gives up the turn;
  its timeout, if any, is virtual; ``notify`` and a thread's end wake it;
* an idle ``ThreadPoolExecutor`` worker waits on a condition too (its C-level
  ``SimpleQueue`` is wrapped), so it never holds the clock.

Everything here is a no-op for threads that do not participate.
"""

from __future__ import annotations

import _thread
import concurrent.futures.thread as futures_thread
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from .scheduler import Activity, Scheduler, real_monotonic

POLL = 0.002
"""Real seconds between checks of a participant waiting with a virtual timeout."""

# Threads whose code lives in these modules keep real time even when a participant starts
# them: the fault server's, xdist's and execnet's.
REAL_TIME_THREAD_MODULES = ("pytest_claude_timeout.server", "execnet", "xdist", "_pytest")

_scheduler: Scheduler | None = None
_local = threading.local()

_real_start = threading.Thread.start
_real_join = threading.Thread.join
_real_wait = threading.Condition.wait
_real_notify = threading.Condition.notify
_real_submit = futures_thread.ThreadPoolExecutor.submit
_real_threading_time = threading._time  # type: ignore[attr-defined]
_real_queue_time = queue.time  # type: ignore[attr-defined]


def _participant() -> tuple[Scheduler, Activity] | tuple[None, None]:
    sched = _scheduler
    if sched is None or getattr(_local, "passthrough", False):
        return None, None
    act = sched.current()
    return (sched, act) if act is not None else (None, None)


def _real_time_thread(thread: threading.Thread) -> bool:
    target = getattr(thread, "_target", None)
    modules = (type(thread).__module__, getattr(target, "__module__", None) or "")
    return any(m.startswith(REAL_TIME_THREAD_MODULES) for m in modules)


def _start(self: threading.Thread) -> None:
    sched, _ = _participant()
    if sched is None or _real_time_thread(self):
        return _real_start(self)
    act = sched.reserve(self.name)
    act.thread = self
    cls_run = self.run

    def run() -> None:
        sched.claim(act)
        try:
            cls_run()
        finally:
            sched.finish(act)

    self.run = run  # type: ignore[method-assign]
    self._pct_activity = act  # type: ignore[attr-defined]
    _local.passthrough = True  # start() waits for the thread to start: holding the turn
    try:
        _real_start(self)
    except BaseException:
        sched.finish(act)
        raise
    finally:
        _local.passthrough = False


def _join(self: threading.Thread, timeout: float | None = None) -> None:
    sched, act = _participant()
    target: Activity | None = getattr(self, "_pct_activity", None)
    if sched is None or act is None or self is threading.current_thread() or not self._started.is_set():  # type: ignore[attr-defined]
        return _real_join(self, timeout)
    if target is not None and target.state == "done":
        return _real_join(self, timeout)  # its code has ended: the thread is exiting
    deadline = None if timeout is None else sched.now + max(0.0, timeout)
    sched.block(act, self, deadline)
    try:
        if deadline is None:
            _real_join(self)
        else:
            while self.is_alive() and not act.timed_out and sched.active:
                _real_join(self, POLL)
    finally:
        sched.unblock(act)


def _wait(self: threading.Condition, timeout: float | None = None) -> bool:
    sched, act = _participant()
    if sched is None or act is None or (timeout is not None and timeout <= 0):
        return _real_wait(self, timeout)
    if not self._is_owned():  # type: ignore[attr-defined]
        raise RuntimeError("cannot wait on un-acquired lock")
    waiter = _thread.allocate_lock()
    waiter.acquire()
    self._waiters.append(waiter)  # type: ignore[attr-defined]
    saved_state = self._release_save()  # type: ignore[attr-defined]
    gotit = False
    try:
        deadline = None if timeout is None else sched.now + timeout
        at_once = sched.block(act, waiter, deadline)
        try:
            if deadline is None:
                waiter.acquire()
                gotit = True
            elif at_once:
                gotit = waiter.acquire(False)
            else:
                while not gotit and not act.timed_out and sched.active:
                    gotit = waiter.acquire(True, POLL)
        finally:
            sched.unblock(act)
        return gotit
    finally:
        self._acquire_restore(saved_state)  # type: ignore[attr-defined]
        if not gotit:
            try:
                self._waiters.remove(waiter)  # type: ignore[attr-defined]
            except ValueError:
                pass


def _notify(self: threading.Condition, n: int = 1) -> None:
    sched = _scheduler
    waiters = self._waiters  # type: ignore[attr-defined]
    if sched is not None and waiters:
        sched.wake(list(itertools.islice(waiters, n)))
    _real_notify(self, n)


class WorkQueue:
    """A ``ThreadPoolExecutor``'s work queue whose blocking ``get`` waits on a condition
    (which the clock sees) instead of inside C. Items stay in the original ``SimpleQueue``,
    so workers that hold it directly still get them."""

    def __init__(self, inner: queue.SimpleQueue[Any]) -> None:
        self.inner = inner
        self.cond = threading.Condition(threading.Lock())

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.inner.put(item)
        with self.cond:
            self.cond.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self.cond:
            while True:
                try:
                    return self.inner.get_nowait()
                except queue.Empty:
                    if not block:
                        raise
                    self.cond.wait()

    def get_nowait(self) -> Any:
        return self.inner.get_nowait()

    def put_nowait(self, item: Any) -> None:
        self.put(item)

    def empty(self) -> bool:
        return self.inner.empty()

    def qsize(self) -> int:
        return self.inner.qsize()


def _submit(self: futures_thread.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    sched, _ = _participant()
    if sched is not None and not isinstance(self._work_queue, WorkQueue):
        self._work_queue = WorkQueue(self._work_queue)  # type: ignore[assignment]
    return _real_submit(self, fn, *args, **kwargs)


def _monotonic() -> float:
    """``threading``'s and ``queue``'s own clock: virtual for participants (their
    timeouts loop on it), real for everyone else."""
    sched, _ = _participant()
    return real_monotonic() if sched is None else sched.now


def install(sched: Scheduler) -> None:
    global _scheduler
    _scheduler = sched
    threading.Thread.start = _start  # type: ignore[method-assign]
    threading.Thread.join = _join  # type: ignore[method-assign]
    threading.Condition.wait = _wait  # type: ignore[method-assign]
    threading.Condition.notify = _notify  # type: ignore[method-assign]
    futures_thread.ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
    threading._time = _monotonic  # type: ignore[attr-defined]
    queue.time = _monotonic  # type: ignore[attr-defined]


def uninstall(sched: Scheduler) -> None:
    global _scheduler
    if _scheduler is sched:
        _scheduler = None
    threading.Thread.start = _real_start  # type: ignore[method-assign]
    threading.Thread.join = _real_join  # type: ignore[method-assign]
    threading.Condition.wait = _real_wait  # type: ignore[method-assign]
    threading.Condition.notify = _real_notify  # type: ignore[method-assign]
    futures_thread.ThreadPoolExecutor.submit = _real_submit  # type: ignore[method-assign]
    threading._time = _real_threading_time  # type: ignore[attr-defined]
    queue.time = _real_queue_time  # type: ignore[attr-defined]
