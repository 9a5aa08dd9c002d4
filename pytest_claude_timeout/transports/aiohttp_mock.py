"""aiohttp on the simulated network, below aiohttp's own HTTP/1.1 code.

aiohttp does not go through httpcore: the SDK's ``DefaultAioHttpClient`` (an httpx / httpx2
transport over ``aiohttp.ClientSession``) and plain aiohttp sessions open their connections
in ``aiohttp.TCPConnector``. The simulation plugs in where the connector meets the OS, so
everything above runs for real: the session, the connector's pool and limits, its
timeouts (``ClientTimeout``: ``total``, ``connect``, ``sock_connect``, ``sock_read``, with
aiohttp's own ceiling rule), its HTTP writer and response parser, and its exceptions.

* The connector's name lookup (``TCPConnector._resolve_host``) plays the scenario's
  resolver step: a wait, or a ``socket.gaierror`` that aiohttp itself turns into
  ``ClientConnectorDNSError``.
* Its connect (``aiohappyeyeballs.start_connection``, inside aiohttp's ``sock_connect``
  timer) plays the connect steps: a wait, or an ``OSError`` (``ECONNREFUSED`` ...) that
  aiohttp turns into ``ClientConnectorError``.
* ``loop.create_connection`` gets an in-memory transport instead of a socket: aiohttp's
  ``ResponseHandler`` is connected to it; the request bytes aiohttp writes are parsed with
  h11, and once the request is complete the rest of the exchange is played as real
  HTTP/1.1 bytes (h11 frames them, as in the fault server: chunked for a stream) fed to
  the handler in virtual time. ``Hangup`` steps close the connection (``FIN``) or reset it.
* A complete exchange leaves the connection open (HTTP/1.1 keep-alive, as the fault server
  does), and aiohttp's own connector pools it: it decides whether the next request reuses
  it (``keepalive_timeout``, 15 s by default, 5 s in the SDK's ``DefaultAioHttpClient``;
  ``force_close``; ``limit``). ``BaseConnector.connect`` is watched only to learn which
  connection a request got: a request on a kept-alive connection starts its attempt there,
  with no connect phase, and the network records how long the connection sat idle (what
  ``stale_connection`` needs).

A proxy configured for aiohttp (``proxy=``, ``trust_env`` with ``HTTP(S)_PROXY``) is not
contacted: the request is served as the API's, like httpcore's proxy pools.

The patches are installed while a network is active, and only once aiohttp is imported:
importing this module does not import aiohttp.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import math
import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol

from ..errors import HorizonExceeded
from ..exchange import Connect, Head, Step, play
from ..network.timeline import Timeouts
from .patching import Patches

WATCHED = "aiohttp.connector"


class Network(Protocol):
    """What this transport needs from the active network."""

    @property
    def clock(self) -> Any: ...

    def begin(
        self, method: str, url: str, content: bytes, headers: Mapping[str, str], timeouts: Timeouts, core: str, *, connection: Any = None
    ) -> tuple[Any, Iterable[Step]]: ...

    def exchange_ended(self, attempt: Any, *, reusable: bool) -> None: ...


_active: list[Network] = []
_patches = Patches()
_current: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar("pct_aiohttp_exchange", default=None)


class WireFault(Exception):
    """A step's failure, to be turned into what the wire does (a close, a reset, an OSError)."""


class _Faults(ModuleType):
    """Stands in for a stack's exception module in :func:`exchange.play`: every name is a
    :class:`WireFault` subclass, so the transport decides what the wire does with it."""

    def __getattr__(self, name: str) -> type[WireFault]:
        return type(name, (WireFault,), {})


_FAULTS = _Faults("pytest_claude_timeout.wire_faults")
_NO_LIMITS = Timeouts(None, None, None, None)
_ERRNO = re.compile(r"\[Errno (-?\d+)\] (.*)")


def _os_error(message: str) -> OSError:
    """``[Errno -2] Name or service not known`` -> the ``OSError`` the OS would raise."""
    found = _ERRNO.match(message)
    if not found:
        return OSError(message)
    number, text = int(found.group(1)), found.group(2)
    return socket.gaierror(number, text) if number < 0 else OSError(number, text)


class Link:
    """One simulated connection, as the network knows it (the same object for every
    exchange on it: the network numbers it and times its idle periods)."""

    __slots__ = ()


class Exchange:
    """One attempt over aiohttp: its connect phase (on a new connection), then its
    response on a transport."""

    def __init__(self, network: Network, attempt: Any, steps: Iterable[Step], link: Link) -> None:
        self.network, self.attempt, self.link = network, attempt, link
        self.connect_steps: list[Connect] = []
        rest = iter(steps)  # produced as read: only the connect phase is read now
        first: list[Step] = []
        for step in rest:
            if not isinstance(step, Connect):
                first.append(step)
                break
            self.connect_steps.append(step)
        self.rest: Iterator[Step] = itertools.chain(first, rest)

    def _what(self) -> str:
        return f"attempt {self.attempt.number} ({self.attempt.method} {self.attempt.url})"

    async def _connect_steps(self, resolving: bool) -> None:
        clock = self.network.clock
        while self.connect_steps and self.connect_steps[0].resolving == resolving:
            step = self.connect_steps.pop(0)
            if step.seconds > 0:
                self.attempt.event(clock.now(), f"{step.note}: {'forever' if math.isinf(step.seconds) else f'{step.seconds:g} s'}")
            try:
                await clock.asleep(step.seconds, self._what())
            except asyncio.CancelledError:  # aiohttp's connect timer, or the caller, gave up
                self._client_left("connect")
                raise
            except HorizonExceeded:
                self.attempt.finish(clock.now(), "stopped at the virtual horizon", phase="connect", error="HorizonExceeded")
                raise
            if step.error:
                self.attempt.event(clock.now(), f"{step.note} -> {step.error}")
                self.attempt.finish(clock.now(), f"{step.error} in connect: {step.message}", phase="connect", error=step.error)
                raise _os_error(step.message)

    async def resolve(self) -> None:
        await self._connect_steps(resolving=True)

    async def connect(self) -> None:
        await self._connect_steps(resolving=True)
        await self._connect_steps(resolving=False)

    def _client_left(self, phase: str, error: str | None = None) -> None:
        if not self.attempt.finished:
            now = self.network.clock.now()
            note = f"client closed the connection in {phase}" + (f" ({error})" if error else "")
            self.attempt.event(now, note)
            self.attempt.finish(now, note, phase=phase, error=error)


class SimSocket:
    """What the patched connect returns instead of a socket: the exchange to serve."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange


class SimTransport(asyncio.Transport):
    """An in-memory connection: request bytes in (parsed by h11), response bytes out."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: Any, exchange: Exchange) -> None:
        import h11

        super().__init__()
        self.loop, self.protocol = loop, protocol
        self.exchange: Exchange | None = exchange
        """The exchange in progress (``None``: idle in aiohttp's pool)."""
        self.link = exchange.link
        self.h11 = h11.Connection(h11.SERVER)
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        self.client_error: str | None = None
        self._watch_client_errors()

    def _watch_client_errors(self) -> None:
        # aiohttp's timers report to the handler (``set_exception``); note what they raised
        # for the timeline, then let the handler do its work unchanged.
        original = self.protocol.set_exception

        def set_exception(exc: BaseException, *args: Any) -> None:
            if self.client_error is None:
                self.client_error = type(exc).__name__
            original(exc, *args)

        self.protocol.set_exception = set_exception

    # -- the client's side -----------------------------------------------------------------
    def reuse(self, exchange: Exchange) -> None:
        """aiohttp's pool gave this idle connection to a new request: its exchange."""
        self.exchange = exchange

    def write(self, data: bytes | bytearray | memoryview) -> None:
        import h11

        if self.closing or self.task is not None or self.exchange is None:
            return
        self.h11.receive_data(bytes(data))
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return
            if isinstance(event, h11.EndOfMessage):
                self.task = self.loop.create_task(self._respond(self.exchange))
                return

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.10", 443), "sockname": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def is_reading(self) -> bool:
        return not self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def close(self) -> None:
        self._lose(None, client=True)

    def abort(self) -> None:
        self._lose(None, client=True)

    # -- the far side ----------------------------------------------------------------------
    def _lose(self, exc: BaseException | None, *, client: bool) -> None:
        if self.closing:
            return
        self.closing = True
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            if client:
                phase = "body" if exchange.attempt.status is not None else "headers"
                exchange._client_left(phase, self.client_error)
            exchange.network.exchange_ended(exchange.attempt, reusable=False)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.loop.call_soon(self.protocol.connection_lost, exc)

    def _idle(self, exchange: Exchange) -> None:
        """The exchange is complete: the connection stays open for aiohttp's pool (unless
        either side asked to close it), idle from now."""
        import h11

        self.task = None
        if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            self._lose(None, client=False)  # ``Connection: close``, or an HTTP/1.0 peer
            return
        self.h11.start_next_cycle()
        self.exchange = None
        self.client_error = None
        exchange.network.exchange_ended(exchange.attempt, reusable=True)

    async def _respond(self, exchange: Exchange) -> None:
        import h11

        attempt, clock = exchange.attempt, exchange.network.clock
        steps = play(exchange.rest, _NO_LIMITS, attempt, _FAULTS, clock.now, sync=False)
        try:
            for item in steps:
                if isinstance(item, float):
                    await clock.asleep(item, exchange._what())
                elif isinstance(item, Head):
                    head = h11.Response(status_code=item.status, headers=[(k.encode(), v.encode()) for k, v in item.headers])
                    self.protocol.data_received(self.h11.send(head))
                else:
                    self.protocol.data_received(self.h11.send(h11.Data(data=item)))
                if self.closing:
                    return
            self.protocol.data_received(self.h11.send(h11.EndOfMessage()))
            self._idle(exchange)
        except WireFault as fault:
            reset = type(fault).__name__ == "ReadError"
            self._lose(ConnectionResetError(104, "Connection reset by peer") if reset else None, client=False)
        except HorizonExceeded as exc:
            phase = "body" if attempt.status is not None else "headers"
            attempt.finish(clock.now(), "stopped at the virtual horizon", phase=phase, error="HorizonExceeded")
            # Raised where the client waits, as aiohttp's own read timer does it.
            self.protocol.set_exception(exc)
            payload = getattr(self.protocol, "_payload", None)
            if payload is not None:
                payload.set_exception(exc)
        finally:
            steps.close()  # type: ignore[attr-defined]


# -- the patches ------------------------------------------------------------------------------


def _exchange_for(req: Any, timeout: Any, link: Link) -> Exchange:
    """A new attempt for ``req`` on the connection ``link`` (new, or reused from aiohttp's pool)."""
    network = _active[-1]
    body = getattr(req.body, "_value", b"")
    content = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else b""
    timeouts = Timeouts(timeout.sock_connect, timeout.sock_read, None, timeout.connect)
    attempt, steps = network.begin(req.method, str(req.url), content, req.headers, timeouts, "aiohttp", connection=link)
    if timeout.total is not None:
        attempt.event(network.clock.now(), f"aiohttp ClientTimeout(total={timeout.total:g})")
    return Exchange(network, attempt, steps, link)


def _always(function: Any) -> Callable[[Any], Any]:
    def make(_original: Any) -> Any:
        return function

    return make


def _install(connector_module: ModuleType) -> None:
    import aiohappyeyeballs

    tcp = connector_module.TCPConnector
    base = connector_module.BaseConnector
    originals = {
        "connect": base.connect,
        "create": tcp._create_connection,
        "resolve": tcp._resolve_host,
        "start": aiohappyeyeballs.start_connection,
        "loop": asyncio.base_events.BaseEventLoop.create_connection,
    }

    async def _create_connection(self: Any, req: Any, traces: Any, timeout: Any) -> Any:
        if not _active:
            return await originals["create"](self, req, traces, timeout)
        token = _current.set(_exchange_for(req, timeout, Link()))
        try:
            _, proto = await self._create_direct_connection(req, traces, timeout)
        finally:
            _current.reset(token)
        return proto

    async def connect(self: Any, req: Any, traces: Any, timeout: Any) -> Any:
        conn = await originals["connect"](self, req, traces, timeout)
        transport = conn.transport
        if _active and isinstance(transport, SimTransport) and transport.exchange is None:
            transport.reuse(_exchange_for(req, timeout, transport.link))  # a kept-alive connection
        return conn

    async def _resolve_host(self: Any, host: str, port: int, traces: Any = None) -> Any:
        exchange = _current.get()
        if exchange is None:
            return await originals["resolve"](self, host, port, traces=traces)
        await exchange.resolve()
        return [{"hostname": host, "host": "192.0.2.10", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def start_connection(addr_infos: Sequence[Any], **kwargs: Any) -> Any:
        exchange = _current.get()
        if exchange is None:
            return await originals["start"](addr_infos, **kwargs)
        await exchange.connect()
        return SimSocket(exchange)

    async def create_connection(self: asyncio.AbstractEventLoop, protocol_factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> Any:
        if not isinstance(sock, SimSocket):
            return await originals["loop"](self, protocol_factory, *args, sock=sock, **kwargs)
        protocol = protocol_factory()
        transport = SimTransport(self, protocol, sock.exchange)
        protocol.connection_made(transport)
        return transport, protocol

    patches: list[tuple[Any, str, Any]] = [
        (base, "connect", connect),
        (tcp, "_create_connection", _create_connection),
        (tcp, "_resolve_host", _resolve_host),
        (aiohappyeyeballs, "start_connection", start_connection),
        (asyncio.base_events.BaseEventLoop, "create_connection", create_connection),
    ]
    for owner, name, function in patches:
        _patches.replace(owner, name, _always(function))


class _Finder(importlib.abc.MetaPathFinder):
    """Installs the patches when aiohttp's connector is first imported during a network."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != WATCHED:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            if _active and not _patches:
                _install(module)

        spec.loader = _Loader(loader, exec_module)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, exec_module: Callable[[ModuleType], None]) -> None:
        self.loader, self._exec = loader, exec_module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._exec(module)


_finder = _Finder()


def attach(network: Network) -> None:
    """Serve aiohttp's connections from ``network`` until :func:`detach`."""
    _active.append(network)
    if len(_active) == 1:
        module = sys.modules.get(WATCHED)
        if module is not None:
            _install(module)
        else:
            sys.meta_path.insert(0, _finder)


def detach(network: Network) -> None:
    if network in _active:
        _active.remove(network)
    if not _active:
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        _patches.undo()
