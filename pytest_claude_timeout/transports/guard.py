"""The egress guard: while a simulated network is active, nothing leaves the machine.

The transports serve what they recognise (the SDK's stacks, aiohttp); the guard stops
everything else, whatever library tries, by construction: it sits at the socket layer
every Python networking library ends in, not in front of a list of clients.

* ``socket.socket.connect`` / ``connect_ex`` (TCP, and UDP "connected" sockets),
  ``sendto`` / ``sendmsg`` with an address (a datagram, e.g. a DNS query);
* name resolution: ``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``,
  ``gethostbyaddr``, ``getnameinfo`` (``socket.create_connection``, urllib, requests,
  httpcore's sync backend and asyncio's executor lookups all go through them), and the
  asyncio loop's ``getaddrinfo`` (so an async client fails at once, not in a thread).

Open: loopback (``127.0.0.0/8``, ``::1``, ``localhost``, this machine's own name),
Unix sockets, and the hosts a test or the ini opens (``host`` or ``host:port``); a lookup
of an opened name opens the addresses it resolves to. Anything else raises
:class:`~pytest_claude_timeout.errors.EgressRefused` (a ``SimulationError``) naming the
destination, before a byte or a DNS query is sent, and the owner (the active network)
records it for its timeline and report.

Not covered (documented): C extensions that open their own sockets (c-ares behind
aiodns, uvloop's event loop, libcurl), and subprocesses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..errors import EgressRefused
from .patching import Patches


class Owner(Protocol):
    """What the guard needs from an active network."""

    allowed_hosts: set[tuple[str, int | None]]

    def refuse(self, destination: str, via: str) -> None: ...


_owners: list[Owner] = []
_patches = Patches()
_resolved: set[tuple[str, int | None]] = set()
"""Addresses an opened name resolved to (opened with it)."""
_lock = threading.Lock()


def parse_host(spec: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    spec = spec.strip()
    if not spec:
        raise ValueError("an empty host")
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, _, port = spec.partition(":")
    else:
        host, port = spec, ""
    if port and not port.isdigit():
        raise ValueError(f"{spec!r}: the port must be a number")
    return host.lower().rstrip("."), int(port) if port else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """A loopback or unspecified address, ``localhost``, or this machine's own name."""
    host = host.lower().rstrip(".").strip("[]")
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host == socket.gethostname().lower()
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return ip.is_loopback or ip.is_unspecified


def _allowed(host: str, port: int | None, *, any_port: bool = False) -> bool:
    if is_loopback(host):
        return True
    host = host.lower().rstrip(".")
    opened = set(_resolved)
    for owner in list(_owners):
        opened |= owner.allowed_hosts
    if any_port:
        return any(h == host for h, _ in opened)
    return (host, None) in opened or (host, port) in opened


def _refuse(destination: str, via: str) -> EgressRefused:
    for owner in list(_owners[-1:]):
        owner.refuse(destination, via)
    return EgressRefused(
        f"pytest-claude-timeout: refused {destination} ({via}): while the simulated network "
        "is active nothing leaves the machine. Loopback stays open; open another host with "
        "claude_network.allow('host:port') or the ini option claude_timeout_allow_hosts.",
        destination=destination,
    )


def _text(host: Any) -> str:
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("idna", "replace")
    return "" if host is None else str(host)


def _port(port: Any) -> int | None:
    if isinstance(port, int):
        return port
    text = _text(port)
    return int(text) if text.isdigit() else None


def check_lookup(host: Any, port: Any = None, via: str = "socket.getaddrinfo") -> None:
    """Raise unless a name lookup of ``host`` stays on the machine or is opened."""
    name = _text(host)
    number = _port(port)
    if _is_ip(name) or _allowed(name, number, any_port=number is None):
        return
    raise _refuse(f"a DNS lookup of {name}" + (f" (port {number})" if number else ""), via)


def check_address(family: int, address: Any, via: str) -> None:
    """Raise unless a connection (or datagram) to ``address`` stays on the machine."""
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple) or len(address) < 2:
        return  # Unix sockets, netlink ...: local by nature
    host, port = _text(address[0]), address[1]
    if not _is_ip(host):
        check_lookup(host, port, via)  # connect() resolves a name itself
        return
    if not _allowed(host, _port(port)):
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise _refuse(f"a connection to {shown}", via)


def _remember(host: Any, port: Any, infos: Iterable[Any]) -> None:
    """An opened name opens what it resolved to."""
    name = _text(host)
    if is_loopback(name) or _is_ip(name) or not _allowed(name, _port(port)):
        return
    for info in infos:
        addr = info[4] if isinstance(info, tuple) and len(info) == 5 else None
        if isinstance(addr, tuple) and addr:
            _resolved.add((str(addr[0]).lower(), _port(port)))


def _checked_connect(via: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def connect(self: socket.socket, address: Any) -> Any:
            check_address(self.family, address, via)
            return original(self, address)

        return connect

    return make


def _sendto(original: Any) -> Any:
    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        if args:
            check_address(self.family, args[-1], "socket.sendto")
        return original(self, data, *args)

    return sendto


def _sendmsg(original: Any) -> Any:
    def sendmsg(self: socket.socket, buffers: Any, *args: Any) -> Any:
        if len(args) >= 3 and args[2] is not None:
            check_address(self.family, args[2], "socket.sendmsg")
        return original(self, buffers, *args)

    return sendmsg


def _checked_lookup(via: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
            port = args[0] if args and via == "socket.getaddrinfo" else kwargs.get("port")
            check_lookup(host, port, via)
            result = original(host, *args, **kwargs)
            if via == "socket.getaddrinfo":
                _remember(host, port, result)
            return result

        return lookup

    return make


def _reverse(via: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def lookup(address: Any, *args: Any) -> Any:
            host = _text(address[0] if isinstance(address, tuple) else address)
            numeric = bool(args and isinstance(args[0], int) and args[0] & socket.NI_NUMERICHOST)
            if not numeric and not is_loopback(host):
                raise _refuse(f"a reverse DNS lookup of {host}", via)
            return original(address, *args)

        return lookup

    return make


def _loop_getaddrinfo(original: Any) -> Any:
    async def getaddrinfo(self: asyncio.AbstractEventLoop, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        check_lookup(host, port, "loop.getaddrinfo")  # at once, not in the executor's thread
        return await original(self, host, port, *args, **kwargs)

    return getaddrinfo


def _install() -> None:
    _patches.replace(socket.socket, "connect", _checked_connect("socket.connect"))
    _patches.replace(socket.socket, "connect_ex", _checked_connect("socket.connect_ex"))
    _patches.replace(socket.socket, "sendto", _sendto)
    _patches.replace(socket.socket, "sendmsg", _sendmsg)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        _patches.replace(socket, name, _checked_lookup(f"socket.{name}"))
    _patches.replace(socket, "gethostbyaddr", _reverse("socket.gethostbyaddr"))
    _patches.replace(socket, "getnameinfo", _reverse("socket.getnameinfo"))
    _patches.replace(asyncio.base_events.BaseEventLoop, "getaddrinfo", _loop_getaddrinfo)


def attach(owner: Owner) -> None:
    """Guard the process while ``owner`` (and any other attached owner) is active."""
    with _lock:
        _owners.append(owner)
        if len(_owners) == 1:
            _install()


def detach(owner: Owner) -> None:
    with _lock:
        if owner in _owners:
            _owners.remove(owner)
        if not _owners:
            _patches.undo()
            _resolved.clear()


def guarding() -> bool:
    return bool(_owners)
