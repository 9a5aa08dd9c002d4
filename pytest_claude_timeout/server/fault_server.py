"""The fault server: the fake Anthropic API and its scenarios over real sockets on loopback.

The in-process network (``network.py``) reaches only the SDK inside the test's process.
A subprocess, a service under test or another language's SDK needs a real server: this
one plays the very same scenario objects, step by step (``scenarios.shape``), over TCP on
127.0.0.1, in real time scaled by ``time_scale`` (0.01: one scenario second is 10 ms),
so that a 75-second prefill takes 0.75 s. Point the client at :attr:`FaultServer.base_url`
and scale its timeouts by the same factor::

    with FaultServer("slow_prefill:75", time_scale=0.01) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-test",
                                     timeout=anthropic.Timeout(60 * 0.01, connect=5 * 0.01))
        ...
    print(server.timeline())

It plays the far side only: the real client applies its own timeouts (the server watches
the socket and notes when the client gives up). Attempts are recorded as the simulated
network records them (``timeline.Attempt``), with times in scenario seconds since the
server started; what the server cannot know (an exception inside the client) is left out:
``error`` names only failures the server caused (``RemoteProtocolError`` for a close,
``ReadError`` for a reset, ``ConnectError`` ... at name resolution).

Failures before the connection exists (DNS failures, refused connections, handshakes that
never complete) happen before any byte reaches a server. They are played at the only moment
the server hears from such a client: when it resolves the API host name through the
server's own DNS stub (``resolver=True``, see ``resolver.py`` and ``sandbox.py``). A
scenario that needs a round-trip time on the wire (``force_failure`` with ``rtt > 0``)
cannot be played on loopback and is refused with a reason.

The server binds to loopback only and refuses any other address.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import selectors
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..api.fake import ApiRequest, FakeApi, route
from ..api.wire import error_body, error_headers, not_found_body
from ..errors import HarnessError, HorizonExceeded, SimulationError, harness_error
from ..exchange import MAX_EVENTS, Data, Head, Step, Upload, leading
from ..network.timeline import Attempt, Timeouts, render
from ..scenarios import (
    AttemptContext,
    Scenario,
    ScenarioError,
    connect_step,
    scenario_from_spec,
    shape,
)
from .connection import BadRequest, ClientGone, Connection, Incoming

if TYPE_CHECKING:
    from .resolver import Resolver

DEFAULT_TIME_SCALE = 0.01
UPLINK_WINDOW = 16384
"""Receive buffer of the server's sockets when a scenario slows the upload (bytes)."""


def loopback_host(host: str) -> str:
    """``host`` if it is a loopback address (``localhost`` means 127.0.0.1); else refuse:
    the fault server never listens where another machine could reach it."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the fault server binds to a loopback address (127.0.0.1, ::1), not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the fault server binds to loopback only; {host} is not a loopback address")
    return str(address)


def parse_spec(spec: Scenario | str) -> Scenario:
    """A scenario from an object or a spec: ``"name"``, ``"name:number"`` (its main
    parameter, as everywhere) or ``"name:key=value,key=value"`` (any parameters; values are
    numbers, ``none``, ``true``/``false`` or text), e.g. ``dns_failure:kind=resolver_timeout``."""
    if isinstance(spec, str) and "=" in spec.partition(":")[2]:
        from ..scenarios import SCENARIOS

        name, _, rest = spec.partition(":")
        cls = SCENARIOS.get(name.strip())
        if cls is None:
            return scenario_from_spec(name)  # raises the usual "unknown scenario" error
        params: dict[str, object] = {}
        for item in rest.split(","):
            key, sep, value = item.partition("=")
            if not sep:
                raise ScenarioError(f"{spec!r}: expected key=value, not {item!r}")
            params[key.strip()] = _value(value.strip())
        return cls.from_param(params)
    return scenario_from_spec(spec)


def _value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _needs_resolver(scenarios: Sequence[Scenario], api: FakeApi) -> list[str]:
    """Names of the scenarios that act before the connection exists."""
    names = []
    for scenario in scenarios:
        step = connect_step([scenario], api, 1, "127.0.0.1")
        if step is None:
            continue
        if step.error is None and not math.isinf(step.seconds):
            raise ScenarioError(
                f"{scenario.describe()} cannot be played on real sockets: it needs a round-trip "
                "time on the wire, which a server on loopback cannot add (the kernel completes "
                "the TCP handshake). Use the simulated network for it."
            )
        names.append(scenario.name)
    return names


class FaultServer:
    """The fake API and its scenarios on a real socket on loopback (see the module doc)."""

    def __init__(
        self,
        *scenarios: Scenario | str,
        time_scale: float = DEFAULT_TIME_SCALE,
        api: FakeApi | None = None,
        respond: object = None,
        host: str = "127.0.0.1",
        port: int = 0,
        resolver: bool = False,
    ) -> None:
        if isinstance(time_scale, bool) or not (isinstance(time_scale, (int, float)) and 0 < time_scale < math.inf):
            raise ValueError(f"time_scale must be a positive number (real seconds per scenario second), not {time_scale!r}")
        self.host = loopback_host(host)
        self.port = port
        self.time_scale = float(time_scale)
        self.api = api or FakeApi()
        if respond is not None:
            self.api.script(respond)
        self._previous: tuple[bytes, Attempt] | None = None
        self.errors: list[str] = []
        """What the server could not answer as scripted (each answered 500, the reason in its body)."""
        self.scenarios: list[Scenario] = [parse_spec(s) for s in scenarios]
        self.attempts: list[Attempt] = []
        """Every request that reached the server (and every connection the resolver failed),
        in order; times in scenario seconds since :meth:`start`."""
        self.unhandled: list[str] = []
        """Requests the fake API does not serve (``METHOD URL``), answered 404."""
        self.rejected: list[str] = []
        """Why each request the server could not read (garbage) was answered 400."""
        self.max_events = MAX_EVENTS
        """The most parts one exchange may write (``exchange.MAX_EVENTS``, as in the
        simulation): past it the connection is closed and a fault recorded."""
        self.faults: list[HarnessError] = []
        """Faults of the server itself while serving (each closed its connection); the
        ``claude_fault_server`` fixture fails the test when there is one."""
        early = _needs_resolver(self.scenarios, self.api)
        if early and not resolver:
            raise ScenarioError(
                f"{', '.join(early)} act(s) before the connection exists: the fault server plays "
                "them when the client resolves the API host name through its DNS stub. Use "
                "FaultServer(..., resolver=True) and a client that resolves through it "
                "(pytest_claude_timeout.server.sandbox)."
            )
        self.resolver: Resolver | None = None
        if resolver:
            from .resolver import Resolver

            self.resolver = Resolver(self)
        self._lock = threading.Lock()
        self._streams = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._threads: list[threading.Thread] = []
        self._connections: set[Connection] = set()
        self._moments: dict[int, datetime] = {}
        self._t0 = 0.0

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the client's ``base_url`` (once started)."""
        if self._listener is None:
            raise SimulationError("the fault server has no URL until it is started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def elapsed(self) -> float:
        """Scenario seconds since the server started."""
        return self.scenario_time(time.monotonic())

    def scenario_time(self, monotonic: float) -> float:
        return (monotonic - self._t0) / self.time_scale

    def start(self) -> FaultServer:
        if self._listener is not None:
            raise SimulationError("this FaultServer is running already")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self._slow_uplink():
            # A slow uplink holds little in flight: a small receive window (set before
            # listen, so the handshake announces it) keeps loopback's large buffers from
            # swallowing the whole body while the server reads it slowly.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UPLINK_WINDOW)
        try:
            listener.bind((self.host, self.port))
            listener.listen(128)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._t0 = time.monotonic()
        if self.resolver is not None:
            try:
                self.resolver.start()
            except BaseException:
                self.stop()
                raise
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self) -> None:
        """Stop serving: every open connection is closed and every thread joined."""
        if self._listener is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        if self.resolver is not None:
            self.resolver.stop()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for conn in list(self._connections):
                conn.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _slow_uplink(self) -> bool:
        request = ApiRequest("POST", "http://127.0.0.1/v1/messages", "/v1/messages", {}, 1)
        ctx = AttemptContext(1, 0, request, self.host, datetime.now(timezone.utc))
        return any(isinstance(s, Upload) for s in leading(shape(self.api.placeholder(), self.scenarios, request, ctx)))

    def respond(self, *replies: object) -> None:
        """Script what the API answers (as :meth:`SimulatedNetwork.respond`)."""
        self.api.script(*replies)

    def settle(self, timeout: float = 2.0) -> bool:
        """Wait up to ``timeout`` real seconds until every attempt is finished; returns
        whether they are. A client that gives up (its timeout) raises at once and closes
        the connection; the server notes the attempt's end when it sees the close, a moment
        later. Read the last attempt's ``end`` after ``settle()``. (Attempts the resolver
        failed without an answer stay open: only the client knows when it gave up.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(a.finished or a.phase == "connect" for a in self.attempts):
                    return True
            time.sleep(0.002)
        return False

    # -- reporting -----------------------------------------------------------------------
    def timeline(self) -> str:
        """The attempts as text (scenario seconds since the server started)."""
        described = ", ".join(s.describe() for s in self.scenarios) or "healthy network"
        scale = f"time scale {self.time_scale:g}: 1 scenario second = {self.time_scale * 1000:g} ms"
        where = self.base_url if self._listener is not None else "fault server (not started)"
        return render(self.attempts, [f"fault server {where} ({scale})", f"scenario: {described}"])

    # -- serving ---------------------------------------------------------------------------
    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"fault-server-{name}", daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]  # a long `serve` sees many
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ, "accept")
            selector.register(self._wake_r, selectors.EVENT_READ, "stop")
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.data == "stop":
                        return
                    try:
                        sock, _ = self._listener.accept()
                    except OSError:
                        continue
                    sock.setblocking(False)
                    conn = Connection(self, sock)
                    with self._lock:
                        self._connections.add(conn)
                    self._spawn(self._serve, "connection", conn)

    def _serve(self, conn: Connection) -> None:
        try:
            while not self._stopping.is_set():
                incoming = conn.read_request()
                if incoming is None or not self._respond(conn, incoming):
                    break
        except ClientGone as gone:
            attempt = conn.current.attempt if conn.current is not None else None
            if attempt is not None and not attempt.finished:
                if gone.late:
                    # The client's kernel sends what it had buffered before its FIN: the
                    # server sees the close only after those bytes, later than it happened.
                    note = "client closed the connection during the upload (seen after its buffered bytes)"
                else:
                    note = f"client closed the connection in {'body' if attempt.status is not None else 'headers'}"
                attempt.event(self.elapsed, note)
                attempt.finish(self.elapsed, note, phase="body" if attempt.status is not None else "headers")
        except BadRequest as bad:
            self.rejected.append(str(bad))
            conn.reject(str(bad))
        except HorizonExceeded as exc:  # more parts than any real exchange: stopped, and a fault
            attempt = conn.current.attempt if conn.current is not None else None
            fault = HarnessError(f"fault server ({self.base_url}): {exc}")
            self.faults.append(fault)
            if attempt is not None:
                note = f"stopped by the fault server: more than {self.max_events:,} parts in one exchange"
                attempt.event(self.elapsed, note, "horizon")
                attempt.finish(self.elapsed, note, phase="body" if attempt.status is not None else "headers", error="HorizonExceeded")
            conn.hang_up(reset=False)
        except BaseException as exc:  # a fault of the server or a scenario: recorded, never a verdict
            attempt = conn.current.attempt if conn.current is not None else None
            fault = harness_error(exc, f"a connection of the fault server ({self.base_url})")
            self.faults.append(fault)
            if attempt is not None:
                attempt.finish(self.elapsed, f"server error: {exc!r}", phase="headers", error="ServerError")
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _attempt_started(self, incoming: Incoming) -> float:
        """Record the attempt whose request head just arrived; returns the real seconds its
        body upload must take (a slow uplink), 0 for none."""
        path = incoming.target.split("?", 1)[0]
        url = f"http://{incoming.headers.get('host', self.host)}{incoming.target}"
        if route(incoming.method, path) is None:
            return 0.0
        retry = incoming.headers.get("x-stainless-retry-count", "")
        read = incoming.headers.get("x-stainless-read-timeout") or incoming.headers.get("x-stainless-timeout")
        if retry and not (retry.isascii() and retry.isdigit()):
            raise BadRequest(f"x-stainless-retry-count must be a whole number, not {retry!r}")
        if read is not None and not 0 <= _number(read) < math.inf:
            raise BadRequest(f"the client's x-stainless timeout header must be a number of seconds, not {read!r}")
        length = incoming.headers.get("content-length") or "0"
        if not (length.isascii() and length.isdigit()):
            raise BadRequest(f"content-length must be a whole number, not {length!r}")
        with self._lock:
            for scenario in self.scenarios:
                scenario.lock()
            attempt = Attempt(
                number=len(self.attempts) + 1,
                method=incoming.method,
                url=url,
                stream=False,
                retry_count=int(retry) if retry.isdigit() else None,
                timeouts=Timeouts(None, self._scenario_seconds(read), None, None),
                start=self.scenario_time(incoming.received),
            )
            self.attempts.append(attempt)
        attempt.event(attempt.start, "request received")
        incoming.attempt = attempt
        size = int(incoming.headers.get("content-length") or 0)
        provisional = ApiRequest(incoming.method, url, path, {}, size)
        steps = leading(shape(self.api.placeholder(), self.scenarios, provisional, self._context(attempt, provisional, 0, incoming)))
        upload = sum(s.seconds for s in steps if isinstance(s, Upload))
        if upload:
            attempt.event(attempt.start, f"reading the request body over {upload:g} s (slow uplink)")
        return upload * self.time_scale

    def _scenario_seconds(self, value: str | None) -> float | None:
        return None if value is None else _number(value) / self.time_scale

    def _context(self, attempt: Attempt, request: ApiRequest, stream_number: int, incoming: Incoming) -> AttemptContext:
        host = request.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        moment = self._moments.setdefault(attempt.number, datetime.now(timezone.utc))
        idle = None if incoming.idle is None else incoming.idle / self.time_scale
        return AttemptContext(attempt.number, stream_number, request, host, moment, reused_after=idle)

    def _respond(self, conn: Connection, incoming: Incoming) -> bool:
        attempt = incoming.attempt
        path = incoming.target.split("?", 1)[0]
        if attempt is None:
            self.unhandled.append(f"{incoming.method} {incoming.target}")
            body = not_found_body(incoming.method, path)
            scratch = Attempt(0, incoming.method, incoming.target, False, None, Timeouts(None, None, None, None), 0.0)
            page: list[Step] = [Head(404, error_headers("req_unhandled", body)), Data(body, "error body")]
            return conn.play(page, scratch, lambda: self.elapsed, datetime.now(timezone.utc))
        with self._lock:
            previous = None
            if self._previous is not None:
                body, before = self._previous
                previous = (body, before.phase != "done" or (before.status or 0) >= 400)
            self._previous = (incoming.body, attempt)
            request = ApiRequest.parse(incoming.method, attempt.url, path, incoming.body, incoming.headers, previous=previous)
            attempt.stream = request.stream
            if request.stream:
                self._streams += 1
            ctx = self._context(attempt, request, self._streams if request.stream else 0, incoming)
            shaped = shape(self.api, self.scenarios, request, ctx)
            try:  # the healthy API's answer is made when the first step is read
                steps: Iterator[Step] = itertools.chain([next(shaped)], shaped)
            except SimulationError as exc:  # a script that cannot answer: say so, in a 500
                self.errors.append(str(exc))
                body = error_body("api_error", str(exc))
                steps = iter([Head(500, error_headers(f"req_script_{attempt.number}", body), "(script error)"), Data(body, "error body")])
        return conn.play(steps, attempt, lambda: self.elapsed, ctx.at, self.max_events)
