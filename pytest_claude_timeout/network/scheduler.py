"""The discrete-event core of the virtual clock: who may run, and when time moves.

While a simulated network is active, every *participant* (the thread that started it, each
thread that code under test starts, each event loop those threads run) is an
:class:`Activity`. At most one activity holds the *turn* and runs; the others wait:

* ``SLEEPING`` until a virtual deadline (``time.sleep``, a simulated wait);
* ``BLOCKED`` on something real (a condition, a join, an event loop's selector), possibly
  with a virtual deadline too (``Future.result(timeout=5)``, a loop's next timer);
* ``READY``: woken, waiting for the turn.

The turn passes in a fixed order (first come, first served), so concurrent code under test
interleaves the same way on every run. When nobody runs and nobody is ready, the clock jumps
to the earliest deadline and wakes whoever waits for it. A participant doing real work holds
the clock still. Whoever wakes another (a condition's ``notify``, ``call_soon_threadsafe``,
a thread ending) marks it ready *before* the wake-up happens, so the clock cannot jump in
between. One participant blocked where no hook sees it (a C-level ``Lock.acquire``, real
I/O) would hold the turn forever: a watchdog notices when the running participants use no
CPU for :data:`STALL` seconds while others wait, and lets the simulation go on without them.

This module knows nothing of threads' or loops' APIs: :mod:`.participants` and
:mod:`.loops` hook those and call in here.
"""

from __future__ import annotations

import _thread
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

RUNNING, READY, SLEEPING, BLOCKED, DONE = "running", "ready", "sleeping", "blocked", "done"

STALL = 0.2
"""Real seconds the running participants may use no CPU and not wait for one (blocked
where no hook sees it) while others wait, before the simulation goes on without them."""

_real_sleep = time.sleep


def real_monotonic() -> float:
    """The real monotonic clock, whatever freezegun does to ``time.monotonic`` (it rebinds
    module attributes that hold the real function, so none here does)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC) if hasattr(time, "clock_gettime") else _MONOTONIC[0]()


_MONOTONIC = (time.monotonic,)


class Activity:
    """One participant: a thread (or the event loop it runs) under the virtual clock."""

    __slots__ = ("blocked_on", "gate", "ident", "name", "native", "scheduler", "state", "thread", "timed_out", "timer", "wake")

    def __init__(self, scheduler: Scheduler, name: str, ident: int | None) -> None:
        self.scheduler = scheduler
        self.name = name
        self.ident = ident
        self.native = _thread.get_native_id() if ident is not None else None
        self.state = READY
        self.gate = _thread.allocate_lock()  # locked until the activity is given the turn
        self.gate.acquire()
        self.timer: int | None = None
        self.timed_out = False
        self.blocked_on: object = None
        self.wake: Callable[[], None] | None = None
        self.thread: object = None

    def __repr__(self) -> str:
        return f"<Activity {self.name} {self.state}>"


class Scheduler:
    """Virtual time as a discrete-event simulation over the participants (module doc)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.active = True
        self.stalls = 0
        """How often the watchdog let the simulation go on without a participant that was
        blocked where no hook sees it."""
        self._lock = _thread.allocate_lock()
        self._acts: dict[int, Activity] = {}
        self._running: set[Activity] = set()
        self._ready: deque[Activity] = deque()
        self._timers: list[tuple[float, int, Activity]] = []
        self._blockers: dict[object, list[Activity]] = {}
        self._seq = itertools.count()
        self._epoch = 0
        self._watchdog = False
        self.on_stop: list[Callable[[], None]] = []

    # -- who is who ----------------------------------------------------------------------
    def current(self) -> Activity | None:
        """The calling thread's activity, or None when it is not a participant."""
        return self._acts.get(_thread.get_ident())

    def participants(self) -> int:
        return len(self._acts)

    def enter(self, name: str) -> Activity:
        """Make the calling thread a participant (the owner, or a thread adopted late);
        returns once it holds the turn."""
        ident = _thread.get_ident()
        with self._lock:
            act = self._acts.get(ident)
            if act is not None:
                return act
            act = Activity(self, name, ident)
            self._acts[ident] = act
            if not self.active:
                return act
            self._ready.append(act)
            self._dispatch()
            self._start_watchdog()
        act.gate.acquire()
        return act

    def reserve(self, name: str) -> Activity:
        """An activity for a thread about to start (it calls :meth:`claim` first thing):
        ready at once, so the clock waits for it."""
        with self._lock:
            act = Activity(self, name, None)
            if self.active:
                self._ready.append(act)
                self._dispatch()
                self._start_watchdog()
            return act

    def claim(self, act: Activity) -> None:
        """In the new thread: bind the reserved activity, wait for the turn."""
        with self._lock:
            act.ident, act.native = _thread.get_ident(), _thread.get_native_id()
            if not self.active:
                return
            self._acts[act.ident] = act
        act.gate.acquire()

    def finish(self, act: Activity) -> None:
        """The participant ends (its thread returns)."""
        with self._lock:
            act.state = DONE
            act.timer = None
            self._running.discard(act)
            if act.ident is not None and self._acts.get(act.ident) is act:
                del self._acts[act.ident]
            self._epoch += 1
            if act.thread is not None:
                self._wake_blocked_on(act.thread)
            self._dispatch()

    # -- waiting -------------------------------------------------------------------------
    def sleep_until(self, act: Activity, deadline: float) -> bool:
        """Wait until the clock reaches ``deadline``; False if the simulation stopped first."""
        with self._lock:
            if not self.active:
                return False
            act.state = SLEEPING
            self._running.discard(act)
            self._push_timer(act, deadline)
            self._dispatch()
        act.gate.acquire()
        return self.active

    def block(self, act: Activity, on: object, deadline: float | None = None, wake: Callable[[], None] | None = None) -> bool:
        """The participant is about to wait on something real (``on``: a waiter lock, a
        thread, an event loop), until woken or until ``deadline``. It gives up the turn.
        Returns True when it got the turn back at once (its deadline is now); then its
        real wait must not block. It calls :meth:`unblock` after the real wait."""
        with self._lock:
            if not self.active:
                return True
            act.state = BLOCKED
            act.blocked_on, act.wake, act.timed_out = on, wake, False
            self._blockers.setdefault(on, []).append(act)
            self._running.discard(act)
            if deadline is not None:
                self._push_timer(act, deadline)
            self._dispatch()
            return act.state == RUNNING and not act.gate.locked()

    def unblock(self, act: Activity) -> None:
        """After the real wait: take the turn back (waiting for it if another has it)."""
        with self._lock:
            self._forget_block(act)
            if not self.active:
                return
            if act.state == BLOCKED:  # a real event nobody announced
                act.timer = None
                self._make_ready(act)
                self._dispatch()
        act.gate.acquire()

    def next_event(self, act: Activity | None) -> float:
        """The earliest moment another participant than ``act`` may act: now when one is
        ready or running, else its earliest deadline (``inf``: none has one; the others wait
        on something only a participant can bring about)."""
        with self._lock:
            if any(a is not act for a in self._ready) or any(a is not act for a in self._running):
                return self.now
            return min((d for d, token, a in self._timers if a.timer == token and a is not act), default=math.inf)

    def wake(self, objects: Iterable[object]) -> None:
        """Mark the participants blocked on any of ``objects`` ready (whoever is about to
        wake them really calls this first, so the clock cannot jump in between)."""
        with self._lock:
            for obj in objects:
                self._wake_blocked_on(obj)
            if not self._running:
                self._dispatch()

    # -- stopping ------------------------------------------------------------------------
    def stop(self) -> None:
        """End the simulation: every waiting participant goes on in real time."""
        with self._lock:
            self.active = False
            acts = list(self._acts.values()) + list(self._ready)
            self._timers.clear()
            self._ready.clear()
            self._running.clear()
            self._acts.clear()
            self._blockers.clear()
        for act in acts:
            if act.wake is not None:
                act.wake()
            if act.gate.locked():
                act.gate.release()
        for callback in self.on_stop:
            callback()

    # -- internals (called with the lock held) ---------------------------------------------
    def _push_timer(self, act: Activity, deadline: float) -> None:
        token = next(self._seq)
        act.timer = token
        heapq.heappush(self._timers, (max(deadline, self.now), token, act))

    def _forget_block(self, act: Activity) -> None:
        waiting = self._blockers.get(act.blocked_on)
        if waiting is not None:
            if act in waiting:
                waiting.remove(act)
            if not waiting:
                del self._blockers[act.blocked_on]
        act.blocked_on, act.wake = None, None

    def _wake_blocked_on(self, obj: object) -> None:
        for act in list(self._blockers.get(obj, ())):
            if act.state == BLOCKED:
                act.timer = None
                self._make_ready(act)

    def _make_ready(self, act: Activity) -> None:
        act.state = READY
        self._ready.append(act)
        self._epoch += 1

    def _grant(self, act: Activity) -> None:
        act.state = RUNNING
        self._running.add(act)
        self._epoch += 1
        if act.wake is not None and act.ident != _thread.get_ident():
            act.wake()
        act.gate.release()

    def _dispatch(self) -> None:
        if self._running or not self.active:
            return
        while True:
            if self._ready:
                self._grant(self._ready.popleft())
                return
            timers = self._timers
            while timers and timers[0][2].timer != timers[0][1]:
                heapq.heappop(timers)  # stale: that activity was woken otherwise
            if not timers:
                return  # everyone waits on something real
            self.now = max(self.now, timers[0][0])
            while timers and timers[0][0] <= self.now:
                _, token, act = heapq.heappop(timers)
                if act.timer == token:
                    act.timer = None
                    act.timed_out = act.state == BLOCKED
                    self._make_ready(act)

    # -- the watchdog ----------------------------------------------------------------------
    def _start_watchdog(self) -> None:
        if not self._watchdog and self.active:
            self._watchdog = True
            _thread.start_new_thread(self._watch, ())

    def _watch(self) -> None:
        last: tuple[Any, ...] | None = None
        since = real_monotonic()
        while self.active:
            _real_sleep(STALL / 5)
            with self._lock:
                if not self._running or not (self._timers or self._ready):
                    last = None
                    continue
                sample = (self._epoch, tuple(sorted(_cpu(a.ident) for a in self._running)))
                if sample != last or any(_runnable(a.native) for a in self._running):
                    last, since = sample, real_monotonic()
                    continue
                if real_monotonic() - since < STALL:
                    continue
                self.stalls += 1
                self._running.clear()  # they stay RUNNING, but no longer hold the clock
                self._epoch += 1
                self._dispatch()
                last = None


def _runnable(native: int | None) -> bool:
    """Whether the thread is running or waiting for a CPU (Linux: its state is ``R``): on a
    loaded machine a thread can wait long for a CPU, without being blocked."""
    if native is None:
        return False
    try:
        with open(f"/proc/self/task/{native}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"R"
    except (OSError, IndexError):
        return False


def _cpu(ident: int | None) -> float:
    """CPU seconds the thread has used (-1 where the platform cannot tell)."""
    if ident is None:
        return -1.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError, ValueError):
        return -1.0
