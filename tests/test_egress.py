"""Nothing leaves the machine: real listening sockets on loopback (sentinels) stand in for
the internet while the client is pushed elsewhere in every way a suite might; the SDK's
calls are served by the simulated network and no byte reaches a sentinel, and whatever
else tries to go out (urllib, a raw socket, a DNS lookup, a thread) is refused by the
egress guard with a ``SimulationError`` naming its destination."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR, http_stack
from pytester_helpers import INI, inner  # noqa: F401 (a fixture)

import pytest_claude_timeout as pct
from pytest_claude_timeout.transports import guard

REAL_LOOKING_KEY = "sk-ant-api03-" + "A" * 86 + "-AAAAAA"


class Sentinel:
    """A listening socket on 127.0.0.1 that nothing may reach."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def received(self) -> int:
        """Bytes that reached it (connections complete in the kernel's accept queue on
        loopback, before the client's call returns: no waiting needed)."""
        total = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return total
            total += 1  # a connection is already a leak, even without a byte
            conn.setblocking(False)
            try:
                total += len(conn.recv(65536))
            except BlockingIOError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sentinels() -> Iterator[list[Sentinel]]:
    made = [Sentinel() for _ in range(3)]
    yield made
    for s in made:
        s.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", REAL_LOOKING_KEY)
    return monkeypatch


def _sync_call(client: Any) -> Any:
    return client.messages.create(**MSG)


def _assert_served_not_sent(net: pct.SimulatedNetwork, sentinels: list[Sentinel], host: str) -> None:
    assert [s.received() for s in sentinels] == [0] * len(sentinels)
    assert len(net.attempts) == 1 and net.attempts[0].status == 200
    assert host in net.attempts[0].url
    assert net.refused == []


# -- the SDK pushed elsewhere: served by the simulated network, 0 bytes out -----------------


def test_a_real_looking_key_and_the_base_url_stay_in_process(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    clean_env.setenv("ANTHROPIC_BASE_URL", sentinels[0].url)
    message = _sync_call(anthropic.Anthropic())  # the key from the environment
    assert message.content
    _assert_served_not_sent(claude_network, sentinels, f"127.0.0.1:{sentinels[0].port}")


@pytest.mark.parametrize("variables", [("HTTP_PROXY", "HTTPS_PROXY"), ("ALL_PROXY",), ("http_proxy", "https_proxy", "all_proxy")])
def test_proxy_variables_do_not_reach_the_proxy(claude_network: Any, clean_env: Any, sentinels: list[Sentinel], variables: tuple[str, ...]) -> None:
    for name in variables:
        clean_env.setenv(name, sentinels[1].url)
    clean_env.setenv("ANTHROPIC_BASE_URL", sentinels[0].url)
    assert _sync_call(anthropic.Anthropic()).content
    _assert_served_not_sent(claude_network, sentinels, f"127.0.0.1:{sentinels[0].port}")


def test_custom_http_clients_and_mounts(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    stack = http_stack()
    mounted = stack.Client(
        mounts={"https://": stack.HTTPTransport(proxy=sentinels[1].url), "http://": stack.HTTPTransport(retries=3)},
        trust_env=False,
    )
    assert _sync_call(anthropic.Anthropic(http_client=mounted)).content
    proxied = stack.Client(proxy=sentinels[2].url)
    assert _sync_call(anthropic.Anthropic(http_client=proxied, base_url=sentinels[0].url)).content
    assert [s.received() for s in sentinels] == [0, 0, 0]
    assert [a.status for a in claude_network.attempts] == [200, 200]
    assert claude_network.refused == []


def test_an_async_custom_client(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    stack = http_stack()

    async def call() -> Any:
        client = anthropic.AsyncAnthropic(http_client=stack.AsyncClient(proxy=sentinels[1].url), base_url=sentinels[0].url)
        return await client.messages.create(**MSG)

    assert claude_network.run(call()).content
    _assert_served_not_sent(claude_network, sentinels, f"127.0.0.1:{sentinels[0].port}")


def test_the_sdks_aiohttp_client(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    clean_env.setenv("HTTPS_PROXY", sentinels[1].url)

    async def call() -> Any:
        async with anthropic.AsyncAnthropic(http_client=anthropic.DefaultAioHttpClient(), base_url=sentinels[0].url) as client:
            return await client.messages.create(**MSG)

    assert claude_network.run(call()).content
    _assert_served_not_sent(claude_network, sentinels, f"127.0.0.1:{sentinels[0].port}")


def test_plain_aiohttp(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    import aiohttp

    clean_env.setenv("HTTP_PROXY", sentinels[1].url)

    async def call() -> Any:
        async with aiohttp.ClientSession(trust_env=True) as session:
            async with session.post(f"{sentinels[0].url}/v1/messages", json=MSG, headers={"x-api-key": REAL_LOOKING_KEY}) as response:
                return response.status, await response.json()

    status, body = claude_network.run(call())
    assert status == 200 and body["content"]
    _assert_served_not_sent(claude_network, sentinels, f"127.0.0.1:{sentinels[0].port}")


# -- everything else: refused by the guard, naming the destination ----------------------------


def test_urllib_is_refused(claude_network: Any, clean_env: Any) -> None:
    with pytest.raises(pct.EgressRefused) as info:
        urllib.request.urlopen("https://api.anthropic.com/v1/models", timeout=5)
    assert info.value.destination == "a DNS lookup of api.anthropic.com (port 443)"
    with pytest.raises(pct.SimulationError, match=r"refused a connection to 192\.0\.2\.1:80 \(socket\.connect\)"):
        urllib.request.urlopen("http://192.0.2.1/", timeout=5)
    assert claude_network.refused == [
        "a DNS lookup of api.anthropic.com (port 443) (socket.getaddrinfo)",
        "a connection to 192.0.2.1:80 (socket.connect)",
    ]


def test_a_raw_socket_to_a_public_address_is_refused(claude_network: Any) -> None:
    for connect in (lambda s: s.connect(("192.0.2.1", 443)), lambda s: s.connect_ex(("192.0.2.1", 443))):
        with socket.socket() as sock, pytest.raises(pct.EgressRefused) as info:
            connect(sock)
        assert info.value.destination == "a connection to 192.0.2.1:443"
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(pct.EgressRefused, match=r"\[2001:db8::1\]:443"):
        sock.connect(("2001:db8::1", 443))
    with socket.socket(type=socket.SOCK_DGRAM) as sock, pytest.raises(pct.EgressRefused, match=r"192\.0\.2\.1:53"):
        sock.sendto(b"\0" * 12, ("192.0.2.1", 53))  # a DNS query by hand
    assert len(claude_network.refused) == 4
    assert "192.0.2.1:443" in claude_network.timeline()


def test_dns_lookups_of_an_invalid_name_are_refused(claude_network: Any) -> None:
    lookups = [
        lambda: socket.getaddrinfo("nothing.invalid", 443),
        lambda: socket.gethostbyname("nothing.invalid"),
        lambda: socket.gethostbyname_ex("nothing.invalid"),
        lambda: socket.create_connection(("nothing.invalid", 443)),
        lambda: socket.gethostbyaddr("192.0.2.1"),
    ]
    for lookup in lookups:
        with pytest.raises(pct.EgressRefused) as info:
            lookup()
        assert "nothing.invalid" in info.value.destination or "192.0.2.1" in info.value.destination


def test_an_async_lookup_fails_at_once(claude_network: Any) -> None:
    async def connect() -> None:
        await asyncio.open_connection("nothing.invalid", 443)

    with pytest.raises(pct.EgressRefused, match=r"nothing\.invalid"):
        claude_network.run(connect())
    assert claude_network.refused == ["a DNS lookup of nothing.invalid (port 443) (loop.getaddrinfo)"]


def test_a_thread_is_refused_too(claude_network: Any) -> None:
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            socket.create_connection(("192.0.2.1", 443), timeout=5)
        except BaseException as exc:  # noqa: BLE001 (what the thread saw)
            caught.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert [type(e) for e in caught] == [pct.EgressRefused]
    assert claude_network.refused == ["a connection to 192.0.2.1:443 (socket.connect)"]


def test_other_sdk_calls_are_served_without_sending(claude_network: Any, clean_env: Any, sentinels: list[Sentinel]) -> None:
    # The SDK's other endpoints (here GET /v1/models) are served in-process too.
    anthropic.Anthropic(base_url=sentinels[0].url).models.list()
    assert sentinels[0].received() == 0
    assert claude_network.refused == []


# -- what stays open ----------------------------------------------------------------------------


def test_loopback_stays_open(claude_network: Any, sentinels: list[Sentinel]) -> None:
    for host in ("127.0.0.1", "localhost"):
        socket.create_connection((host, sentinels[0].port)).close()
    assert sentinels[0].received() == 2
    assert claude_network.refused == []


def test_allowed_hosts_open(claude_network: Any) -> None:
    claude_network.allow("db.internal:5432", "[2001:db8::5]:443")
    guard.check_lookup("db.internal", 5432)
    guard.check_address(socket.AF_INET6, ("2001:db8::5", 443, 0, 0), "socket.connect")
    with pytest.raises(pct.EgressRefused):
        guard.check_lookup("db.internal", 80)
    with pytest.raises(pct.EgressRefused):
        guard.check_address(socket.AF_INET6, ("2001:db8::5", 80, 0, 0), "socket.connect")
    with pytest.raises(pct.SimulationError, match="the port must be a number"):
        claude_network.allow("db.internal:pg")


def test_the_guard_is_off_outside_the_network() -> None:
    real = socket.socket.connect, socket.getaddrinfo
    assert not guard.guarding()
    with pct.SimulatedNetwork():
        assert guard.guarding()
        assert (socket.socket.connect, socket.getaddrinfo) != real
    assert not guard.guarding()
    assert (socket.socket.connect, socket.getaddrinfo) == real


def test_the_ini_opens_hosts(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "claude_timeout_allow_hosts =\n    db.internal:5432\n    cache.internal\n")
    pytester.makepyfile(
        test_allowed="""
        from pytest_claude_timeout.transports import guard

        def test_opened(claude_network):
            assert ("db.internal", 5432) in claude_network.allowed_hosts
            guard.check_lookup("cache.internal", 6379)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.skipif(SDK_MAJOR < 1, reason="the marker's report on one line is enough")
def test_a_refusal_is_in_the_report(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_leak="""
        import socket
        import pytest

        @pytest.mark.claude_timeout("slow_prefill")
        def test_leaks():
            socket.create_connection(("192.0.2.1", 443))
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*refused by the egress guard: a connection to 192.0.2.1:443 (socket.connect)*"])
