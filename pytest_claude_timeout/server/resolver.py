"""The fault server's DNS stub: where failures before the connection are played.

A DNS failure, a refused connection or a handshake nobody answers happen before any byte
reaches a server. The one moment the fault server hears from such a client is when it
resolves the API host name, so the client is made to resolve :data:`HOSTNAME` through this
stub (``sandbox.py`` runs a command whose system resolver is the stub), and the stub
decides each new connection's fate from the scenarios' ``Connect`` step for the next
attempt:

* no connect-phase step: the name resolves to the server (127.0.0.1);
* ``dns_failure``: ``nxdomain`` answers NXDOMAIN; ``resolver_timeout`` never answers
  (the client's resolver library waits its own timeout, as with a dead resolver);
  ``no_resolver`` answers REFUSED, which glibc treats like an unreachable resolver (both
  end in ``EAI_AGAIN`` "Temporary failure in name resolution" at once: the test suite
  checks it), since a stub that stops listening could not serve the later attempts;
* ``connection_refused``: an address of loopback where the server's port is bound but not
  listening: the kernel answers the SYN with a reset;
* ``connect_timeout``: an address where the port listens with a full accept queue (one
  connection queued, never accepted): the kernel drops the SYN, the client retransmits
  until its connect timeout.

A resolution is one client socket (glibc sends the A and AAAA questions, and their
retries, from one socket); each is one attempt. Nothing is ever forwarded: other names get
NXDOMAIN. The stub listens on UDP port 53 of a loopback address (glibc's resolver has no
port setting), which needs root.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING

from ..errors import SimulationError
from ..exchange import Connect
from ..network.timeline import Attempt, Timeouts
from ..scenarios import DNS_KINDS

if TYPE_CHECKING:
    from .fault_server import FaultServer

HOSTNAME = "api.anthropic.invalid"
"""The API host name the stub serves (``.invalid`` never resolves anywhere else, RFC 6761)."""
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
TYPE_A, TYPE_AAAA = 1, 28
DROP = "drop"


def parse_query(packet: bytes) -> tuple[int, int, str, int, bytes]:
    """(id, flags, name, type, question bytes) of a DNS query."""
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("one question expected")
    labels, at = [], 12
    while packet[at]:
        size = packet[at]
        labels.append(packet[at + 1 : at + 1 + size].decode("ascii", "replace"))
        at += 1 + size
    qtype = struct.unpack("!H", packet[at + 1 : at + 3])[0]
    return ident, flags, ".".join(labels).lower(), qtype, packet[12 : at + 5]


def answer(ident: int, flags: int, question: bytes, rcode: int, address: str | None = None) -> bytes:
    """A response: ``rcode``, with one A record for ``address`` if given (TTL 0)."""
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode  # QR, opcode+RD, AA, RA
    records = b""
    if address is not None:
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 0, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, out_flags, 1, 1 if records else 0, 0, 0) + question + records


def dns_kind(step: Connect) -> str:
    """The ``DnsFailure`` kind a resolving ``Connect`` step stands for."""
    for kind, (seconds, message) in DNS_KINDS.items():
        if (seconds, message) == (step.seconds, step.message):
            return kind
    raise SimulationError(f"the resolver cannot play this name resolution: {step}")


class Resolver:
    """The DNS stub of one :class:`FaultServer` (see the module doc)."""

    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.hostname = HOSTNAME
        self.address = ""
        """The stub's loopback address (UDP port 53), once started."""
        self.refused = ""
        """Loopback address where the server's port refuses connections."""
        self.blackhole = ""
        """Loopback address where the server's port never completes a handshake."""
        self._sockets: list[socket.socket] = []
        self._decisions: dict[tuple[str, int], tuple[str, int, str | None, Attempt | None]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """The base URL for a client that resolves through the stub."""
        return f"http://{self.hostname}:{self.server.port}"

    def describe(self) -> str:
        return f"{self.hostname} -> {self.server.host} through the DNS stub at {self.address}:53; {self.url}"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._sock = self._bind_stub()
        port = self.server.port
        self.refused, self.blackhole = "127.0.53.2", "127.0.53.3"  # with the server's own port
        closed = self._tcp(self.refused, port)  # bound, not listening: SYN -> RST
        full = self._tcp(self.blackhole, port)
        full.listen(0)
        filler = socket.create_connection((self.blackhole, port), timeout=5)  # queued, never accepted
        self._sockets += [closed, full, filler]
        self._check_blackhole(port)
        self._thread = threading.Thread(target=self._serve, name="fault-server-resolver", daemon=True)
        self._thread.start()

    def _bind_stub(self) -> socket.socket:
        """UDP port 53 on the first free address of 127.0.53.4 - .248 (one per server)."""
        last: OSError | None = None
        for host in range(4, 252, 4):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((f"127.0.53.{host}", 53))
            except OSError as exc:
                sock.close()
                last = exc
                if exc.errno in (13, 1):  # EACCES, EPERM: not root
                    break
                continue
            self.address = f"127.0.53.{host}"
            self._sockets.append(sock)
            return sock
        raise SimulationError(
            f"the fault server's resolver needs UDP port 53 on a loopback address (root): {last}"
        )

    def _tcp(self, host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, port))
        return sock

    def _check_blackhole(self, port: int) -> None:
        """The silent address must really drop handshakes on this machine (Linux does when
        the accept queue is full); refuse to play ``connect_timeout`` otherwise."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            probe.connect_ex((self.blackhole, port))
            time.sleep(0.05)
            established = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and _connected(probe)
        finally:
            probe.close()
        if established:
            raise SimulationError("this kernel completes handshakes on a full accept queue: connect_timeout cannot be played")

    def stop(self) -> None:
        self._stopping.set()
        for sock in self._sockets:
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- serving ---------------------------------------------------------------------------
    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                packet, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                ident, flags, name, qtype, question = parse_query(packet)
            except (ValueError, IndexError, struct.error):
                continue
            if name.rstrip(".") != self.hostname:
                self._reply(answer(ident, flags, question, NXDOMAIN), client)
                continue
            verdict, rcode, address, delay = self._decide(client)
            if verdict == DROP:
                continue
            reply = answer(ident, flags, question, rcode, address if qtype == TYPE_A else None)
            if delay > 0:
                threading.Timer(delay, self._reply, (reply, client)).start()
            else:
                self._reply(reply, client)

    def _reply(self, packet: bytes, client: tuple[str, int]) -> None:
        try:
            self._sock.sendto(packet, client)
        except OSError:
            pass

    def _decide(self, client: tuple[str, int]) -> tuple[str, int, str | None, float]:
        """What this client socket's resolution gets: (verdict, rcode, address, delay)."""
        from ..scenarios import connect_step

        server = self.server
        with server._lock:
            known = self._decisions.get(client)
            if known is None:
                number = len(server.attempts) + 1
                for scenario in server.scenarios:
                    scenario.lock()
                step = connect_step(server.scenarios, server.api, number, self.hostname)
                known = self._fate(step, number)
                self._decisions[client] = known
        verdict, rcode, address, attempt = known
        delay = 0.0
        if attempt is not None and verdict == "answer" and rcode != NOERROR:
            delay = attempt.elapsed or 0.0
        return verdict, rcode, address, delay * server.time_scale

    def _fate(self, step: Connect | None, number: int) -> tuple[str, int, str | None, Attempt | None]:
        server = self.server
        if step is None:
            return "answer", NOERROR, server.host, None
        now = server.elapsed
        attempt = Attempt(number, "POST", f"{self.url}/v1/messages", False, None, Timeouts(None, None, None, None), now)
        server.attempts.append(attempt)
        attempt.event(now, f"{step.note}")
        if step.resolving:
            kind = dns_kind(step)
            if kind == "resolver_timeout":
                attempt.outcome = "the resolver never answers: the client gives up on its own"
                attempt.phase, attempt.error = "connect", step.error
                return DROP, 0, None, attempt
            rcode = NXDOMAIN if kind == "nxdomain" else REFUSED
            attempt.finish(now + step.seconds, f"{step.error} in connect: {step.message}", phase="connect", error=step.error)
            return "answer", rcode, None, attempt
        if step.error is not None:
            attempt.finish(now, f"{step.error} in connect: {step.message}", phase="connect", error=step.error)
            return "answer", NOERROR, self.refused, None
        if math.isinf(step.seconds):
            attempt.outcome = "the handshake is never answered: the client gives up at its connect timeout"
            attempt.phase, attempt.error = "connect", "ConnectTimeout"
            return "answer", NOERROR, self.blackhole, None
        raise SimulationError(f"the resolver cannot play this connect step: {step}")


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False
