"""One client connection of the fault server: HTTP/1.1 requests in, scenario steps out.

The far side of every exchange is the same list of steps the simulated network plays
(``scenarios.shape``); here they are written to a real socket in scaled real time:

* ``Idle(s)``: nothing is sent for ``s * time_scale`` real seconds. The wait is measured
  against a per-response deadline, so many short waits (a long generation) do not add up
  the scheduler's overshoot.
* ``Head``: the status line and headers. A stream goes out with chunked transfer-encoding,
  a plain body with its content-length (h11 chooses, as a real server's framework does).
  ``retry-after`` / ``retry-after-ms`` values are scaled like every other wait.
* ``Data``: one write (one chunk of a stream). ``TCP_NODELAY`` is set so that small
  chunks leave at once, as from the API, instead of waiting for Nagle's algorithm.
* ``Hangup("RemoteProtocolError")``: a clean close (FIN) without the final chunk, or
  before any byte; ``Hangup("ReadError")``: a reset (RST, ``SO_LINGER`` 0).
* ``Upload(s)``: the request body is read at a pace that takes ``s * time_scale`` seconds.

The server never applies the client's timeouts: the real client does that. It watches
the socket while it waits, so a client that gives up (closes) ends the attempt at once,
at the moment the client's timeout fired.
"""

from __future__ import annotations

import email.utils
import json
import math
import selectors
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import h11

from ..api.wire import Headers
from ..exchange import MAX_EVENTS, Connect, Data, Hangup, Head, Idle, Step, Upload, expanded, merged_idles, too_many
from ..network.timeline import Attempt

if TYPE_CHECKING:
    from .fault_server import FaultServer

RECV = 65536


class ClientGone(Exception):
    """The client closed or reset the connection."""

    def __init__(self, late: bool = False) -> None:
        super().__init__()
        self.late = late
        """Seen only after the request bytes the client's kernel had buffered (a slow
        upload): the client left earlier than the server could tell."""


class BadRequest(Exception):
    """The client sent something that is not a request the server can read (not HTTP, a
    header that is not UTF-8 ...): it gets ``400`` and the connection is closed."""


@dataclass
class Incoming:
    """A request as it came off the socket."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    received: float
    """Real time (``time.monotonic``) of the request's first byte."""
    attempt: Attempt | None = field(default=None)
    idle: float | None = None
    """Real seconds the connection sat idle before this request (``None``: its first)."""


def scale_headers(headers: Headers, time_scale: float, sent_at: datetime, now: datetime) -> Headers:
    """Scale the waits a response asks for: ``retry-after`` (seconds or an HTTP date,
    whose offset from the scenario's moment ``sent_at`` is scaled and re-anchored at the
    real ``now``; HTTP dates have a resolution of one second) and ``retry-after-ms``."""
    out = []
    for name, value in headers:
        key = name.lower()
        if key == "retry-after-ms":
            value = _scaled_number(value, time_scale)
        elif key == "retry-after":
            try:
                float(value)
            except ValueError:
                date = email.utils.parsedate_to_datetime(value)
                offset = (date - sent_at).total_seconds() * time_scale
                value = email.utils.format_datetime(
                    datetime.fromtimestamp(math.ceil(now.timestamp() + offset), timezone.utc), usegmt=True
                )
            else:
                value = _scaled_number(value, time_scale)
        out.append((name, value))
    return tuple(out)


def _scaled_number(value: str, time_scale: float) -> str:
    try:
        return f"{float(value) * time_scale:.6g}"
    except ValueError:
        return value


class Connection:
    """Serves one accepted socket until the client leaves, a scenario hangs up, or the
    server stops. Runs in its own thread."""

    def __init__(self, server: FaultServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.h11 = h11.Connection(h11.SERVER)
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, "client")
        self.selector.register(server._wake_r, selectors.EVENT_READ, "stop")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.current: Incoming | None = None
        """The request being served (from its head on)."""
        self.idle_since: float | None = None
        """Real time (``time.monotonic``) the last response on this connection ended."""

    # -- waiting ---------------------------------------------------------------------------
    def wait(self, until: float, *, watch: bool = True) -> None:
        """Sleep until the monotonic time ``until`` (``inf``: forever); raise ClientGone if
        the client closes meanwhile (when ``watch``), and return early if the server stops."""
        watching = watch
        if not watch:
            self.selector.unregister(self.sock)
        try:
            while not self.server._stopping.is_set():
                left = until - time.monotonic()
                if left <= 0:
                    return
                ready = {key.data for key, _ in self.selector.select(None if math.isinf(left) else left)}
                if watching and "client" in ready:  # before "stop": a client that left, left first
                    if self._client_gone():
                        raise ClientGone
                    watching = False  # it sent something while we wait: stop watching it
                    self.selector.unregister(self.sock)
                if "stop" in ready:
                    return
        finally:
            if not watching:
                self.selector.register(self.sock, selectors.EVENT_READ, "client")

    def _client_gone(self) -> bool:
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except BlockingIOError:
            return False

    def _recv(self, size: int = RECV) -> bytes:
        """Wait for bytes from the client (``b""``: it closed, or the server stops)."""
        while not self.server._stopping.is_set():
            for key, _ in self.selector.select():
                if key.data == "stop":
                    return b""
                try:
                    return self.sock.recv(size)
                except ConnectionResetError:
                    return b""
        return b""

    def _send(self, data: bytearray) -> None:
        """Write and clear ``data`` (blocking: the socket is non-blocking for select)."""
        view = memoryview(data)
        try:
            while view:
                try:
                    sent = self.sock.send(view)
                except BlockingIOError:  # the client reads slower than we write
                    if self.server._stopping.is_set():
                        raise ClientGone from None
                    self._writable()
                    continue
                view = view[sent:]
        except (BrokenPipeError, ConnectionResetError):
            raise ClientGone from None
        finally:
            view.release()
            data.clear()

    def _writable(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_WRITE)
            selector.select(1.0)

    # -- reading a request -----------------------------------------------------------------
    def read_request(self) -> Incoming | None:
        """The next request on this connection (``None``: the client closed it).

        A scenario's ``Upload`` step (a slow uplink) is played while reading the body: it is
        read in small pieces, paced so that the whole body takes the step's time. Only bytes
        really sent can be slowed; a body that fits in the sockets' buffers leaves the
        client at once whatever the pace, as it would on a real slow link."""
        incoming: Incoming | None = None
        self.current = None
        body = bytearray()
        pace: tuple[float, float, int] | None = None  # (start, real seconds, content-length)
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.current is not None:  # the client closed mid-request
                    raise ClientGone(late=pace is not None) from None
                if incoming is None:  # closed before sending anything
                    return None
                raise BadRequest(f"not an HTTP/1.1 request: {exc}") from None
            if event is h11.NEED_DATA:
                size = RECV
                if pace is not None:
                    start, seconds, total = pace
                    self.wait(start + seconds * len(body) / max(total, 1), watch=False)
                    size = 4096
                data = self._recv(size)
                if incoming is None and data:
                    incoming = Incoming("", "", {}, b"", time.monotonic())
                    if self.idle_since is not None:
                        incoming.idle = incoming.received - self.idle_since
                self.h11.receive_data(data)
            elif isinstance(event, h11.Request):
                received = incoming.received if incoming else time.monotonic()
                try:
                    headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                    idle = incoming.idle if incoming else None
                    incoming = Incoming(event.method.decode(), event.target.decode(), headers, b"", received, idle=idle)
                except UnicodeDecodeError:
                    raise BadRequest("the request line or a header is not UTF-8") from None
                upload = self.server._attempt_started(incoming)
                self.current = incoming
                if upload > 0:
                    pace = (time.monotonic(), upload, int(headers.get("content-length") or 0))
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and incoming is not None:
                if pace is not None:
                    self.wait(pace[0] + pace[1], watch=False)
                incoming.body = bytes(body)
                return incoming
            else:  # ConnectionClosed, or a protocol state we do not serve
                return None

    # -- playing a response ----------------------------------------------------------------
    def play(
        self, steps: Iterable[Step], attempt: Attempt, now: Callable[[], float], sent_at: datetime, max_events: int = MAX_EVENTS
    ) -> bool:
        """Write ``steps`` to the socket; returns whether the connection can serve another
        request (keep-alive). ``sent_at`` is the moment the scenarios were told the
        request was sent (for ``retry-after`` dates).

        Bytes due at the same moment go out in one write, and the attempt is recorded as
        finished before its last bytes leave: a client that returns as soon as it has
        read them finds its attempt complete in :attr:`FaultServer.attempts`.

        Runs of pings are written ping by ping (real bytes for a real client), and an
        exchange that would write more than ``max_events`` parts (a ping every microsecond,
        a billion tokens) is stopped there, as in the simulation: its connection is closed
        without the body's end and :class:`~pytest_claude_timeout.errors.HorizonExceeded`
        says why (the server records it as a fault)."""
        scale = self.server.time_scale
        if self._client_gone():  # it gave up while its request was still arriving
            raise ClientGone(late=True)
        due = time.monotonic()
        pending = bytearray()
        for count, step in enumerate(merged_idles(expanded(steps)), 1):
            if count > max_events:
                self._send(pending)
                raise too_many(attempt, max_events, now())
            if isinstance(step, (Connect, Upload)):
                continue  # played before the request arrived (the resolver, the body read)
            phase = "body" if attempt.status is not None else "headers"
            if isinstance(step, Idle):
                self._send(pending)
                attempt.event(now(), f"{step.note}: {'forever' if math.isinf(step.seconds) else f'{step.seconds:g} s'}")
                due += step.seconds * scale
                self.wait(due)
                if self.server._stopping.is_set():
                    attempt.finish(now(), "server stopped", phase=phase)
                    return False
            elif isinstance(step, Head):
                attempt.status = step.status
                attempt.event(now(), f"response headers: {step.status}{' ' + step.note if step.note else ''}")
                headers = scale_headers(step.headers, scale, sent_at, datetime.now(timezone.utc))
                pending += self.h11.send(
                    h11.Response(status_code=step.status, headers=[(k.encode(), v.encode()) for k, v in headers])
                ) or b""
            elif isinstance(step, Data):
                attempt.delivered.append(step.label)
                attempt.event(now(), step.label)
                pending += self.h11.send(h11.Data(data=step.payload)) or b""
            elif isinstance(step, Hangup):
                self._send(pending + step.raw)
                attempt.event(now(), f"{step.note} -> {step.error}")
                attempt.finish(now(), f"{step.error} in {phase}: {step.message}", phase=phase, error=step.error)
                self.hang_up(reset=step.error == "ReadError")
                return False
        pending += self.h11.send(h11.EndOfMessage()) or b""
        attempt.finish(now(), f"{attempt.status}, body complete", phase="done")
        self._send(pending)
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.idle_since = time.monotonic()
            return True
        return False

    def reject(self, reason: str) -> None:
        """Answer ``400 Bad Request`` (an API-style error body) and close the connection."""
        body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": reason}}).encode()
        head = f"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        try:
            self._send(bytearray(head.encode() + body))
        except ClientGone:
            pass
        self.hang_up(reset=False)

    def hang_up(self, *, reset: bool) -> None:
        """Close the connection: a reset (RST) or a clean close (FIN)."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        self.selector.close()
        self.sock.close()
