"""Real nginx in the loop: the virtual proxy model against what nginx really does.

Each case runs the installed SDK (sync and async) twice with the same configuration:

* for real: SDK -> nginx (``proxy_buffering off``, ``proxy_read_timeout`` = the idle cutoff,
  scaled) -> the fault server, which plays only the upstream's slowness (nginx itself is
  the proxy);
* virtually: the same client on the simulated network, with ``ProxyCutoff`` standing for
  nginx (or composed with the upstream's own scenario).

and asserts the same outcome: the exception (class, status, message and cause) or
success, the error page (body, content type, framing, keep-alive), the events the client
received before a failure, the number of attempts, and each attempt's duration in scenario
seconds, within :data:`TOLERANCE`. The SDK's backoff sleeps between attempts are real time
and not scaled, so durations are compared attempt by attempt, never as a total.

The cases: the idle cutoff (``proxy_read_timeout``) before the response headers and
mid-stream, non-streaming and streaming, with and without the API's keep-alive pings, at
30 and 60 s; the upstream's own failures as the proxy passes them on (a close before the
headers, a reset mid-body, a stream ended early); and a proxy chosen by ``HTTP_PROXY``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anthropic
import pytest

import pytest_claude_timeout as pct
from pytest_claude_timeout.scenarios import SERVER
from pytest_claude_timeout.server.fault_server import FaultServer

try:
    from . import nginx as ngx  # tests/conformance as a package
    from . import required
except ImportError:  # rootdir-relative imports (no __init__.py)
    import nginx as ngx  # type: ignore[no-redef]
    import required  # type: ignore[no-redef]

MSG: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
"""The request of every call (``messages.create`` keyword arguments)."""
SCALE = 0.05
"""Real seconds per scenario second: an idle cutoff of 60 s becomes ``proxy_read_timeout 3000ms``.

Not smaller: nginx moves a pending read timer only when the new deadline is at least
300 ms later than the old one (``NGX_TIMER_LAZY_DELAY``), so reads less than 300 ms apart
do not each restart ``proxy_read_timeout``. At 0.01 the API's 10 s pings (100 ms) would
not keep a 30 s cutoff (300 ms) from firing, which no real deployment sees. At 0.05 the
pings are 500 ms apart and every one restarts the timer, as on a real time scale."""
CLIENT_TIMEOUT = 600.0
"""The client's timeout in scenario seconds (the SDK's default), scaled for the real run."""
TOLERANCE = 0.5 / SCALE
"""How much longer (scenario seconds; 500 ms real) a real attempt may take than the model
says: connecting, a first request's one-time costs, processes taking turns on a loaded
machine. Never shorter. The cases' outcomes differ by at least 20 scenario seconds."""


@dataclass
class Outcome:
    """What the client saw, in terms both runs share."""

    result: str
    """``ok`` or the exception's class name."""
    status: int | None = None
    message: str = ""
    cause: str = ""
    """The exception under an SDK error (``RemoteProtocolError: peer closed ...``)."""
    events: list[str] = field(default_factory=list)
    """Event types received (streaming), or ``message`` for a plain response."""
    durations: list[float] = field(default_factory=list)
    """Each attempt, request sent to response finished (scenario seconds)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers of the error response, if the call failed with one."""
    body: str = ""


def _failed(outcome: Outcome, exc: Exception) -> None:
    outcome.result = type(exc).__name__
    outcome.message = str(exc)
    if exc.__cause__ is not None:
        outcome.cause = f"{type(exc.__cause__).__name__}: {exc.__cause__}"
    response = getattr(exc, "response", None)
    outcome.status = getattr(exc, "status_code", None)
    if response is not None and outcome.status is not None:
        outcome.headers = {k.lower(): v for k, v in response.headers.items()}
        outcome.body = response.text


def _sync_call(client: anthropic.Anthropic, stream: bool, outcome: Outcome) -> None:
    try:
        if stream:
            for event in client.messages.create(**MSG, stream=True):
                outcome.events.append(event.type)
        else:
            client.messages.create(**MSG)
            outcome.events.append("message")
        outcome.result = "ok"
    except Exception as exc:  # noqa: BLE001 (whatever escapes is the observation)
        _failed(outcome, exc)


async def _async_call(client: anthropic.AsyncAnthropic, stream: bool, outcome: Outcome) -> None:
    try:
        if stream:
            async for event in await client.messages.create(**MSG, stream=True):
                outcome.events.append(event.type)
        else:
            await client.messages.create(**MSG)
            outcome.events.append("message")
        outcome.result = "ok"
    except Exception as exc:
        _failed(outcome, exc)


class _Stopwatch:
    """Times each attempt of a real client from its httpx event hooks: request sent, then
    response headers; the last attempt ends when the call returns or raises."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.heads: list[float] = []

    def request(self, request: Any) -> None:
        self.starts.append(time.monotonic())

    def response(self, response: Any) -> None:
        self.heads.append(time.monotonic())

    async def arequest(self, request: Any) -> None:
        self.request(request)

    async def aresponse(self, response: Any) -> None:
        self.response(response)

    def durations(self, end: float) -> list[float]:
        ends = [*self.heads[: len(self.starts) - 1], end]
        return [(e - s) / SCALE for s, e in zip(self.starts, ends)]


def real_call(mode: str, base_url: str, stream: bool, max_retries: int, timeout: float = CLIENT_TIMEOUT) -> Outcome:
    """The installed SDK against a real server at ``base_url``, timeouts scaled."""
    outcome = Outcome("?")
    watch = _Stopwatch()
    common: dict[str, Any] = dict(
        api_key="sk-ant-test", base_url=base_url, timeout=timeout * SCALE, max_retries=max_retries
    )
    if mode == "sync":
        hooks = {"request": [watch.request], "response": [watch.response]}
        client = anthropic.Anthropic(http_client=anthropic.DefaultHttpxClient(event_hooks=hooks), **common)
        with client:
            _sync_call(client, stream, outcome)
    else:

        async def run() -> None:
            hooks = {"request": [watch.arequest], "response": [watch.aresponse]}
            client = anthropic.AsyncAnthropic(http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=hooks), **common)
            async with client:
                await _async_call(client, stream, outcome)

        asyncio.run(run())
    outcome.durations = watch.durations(time.monotonic())
    return outcome


def virtual_call(
    mode: str, scenarios: Sequence[pct.Scenario], stream: bool, max_retries: int, timeout: float = CLIENT_TIMEOUT
) -> tuple[Outcome, pct.SimulatedNetwork]:
    """The same client configuration on the simulated network."""
    outcome = Outcome("?")
    options: dict[str, Any] = dict(api_key="sk-ant-test", timeout=timeout, max_retries=max_retries)
    with pct.SimulatedNetwork(*scenarios, seed=1) as net:
        if mode == "sync":
            _sync_call(anthropic.Anthropic(**options), stream, outcome)
        else:
            net.run(_async_call(anthropic.AsyncAnthropic(**options), stream, outcome))
    outcome.durations = [a.elapsed or 0.0 for a in net.attempts]
    return outcome, net


@dataclass(frozen=True)
class Case:
    """The upstream's behaviour (played by the fault server behind nginx) and the model of
    the whole path (the same upstream behind ``ProxyCutoff``), for an idle cutoff."""

    id: str
    stream: bool
    upstream: Callable[[float], list[pct.Scenario]]
    """idle -> the fault server's scenarios (the API's side only)."""
    model: Callable[[float], list[pct.Scenario]]
    """idle -> the simulated network's scenarios (API and proxy)."""
    max_retries: int = 1


PAST = 20.0
"""How far past the cutoff the upstream's silence lasts (scenario seconds)."""


def _composed(make: Callable[[], list[pct.Scenario]]) -> tuple[Callable[[float], list[pct.Scenario]], Callable[[float], list[pct.Scenario]]]:
    """(upstream, model) where the model is the upstream's own scenarios behind a
    ``ProxyCutoff`` that adds no delay of its own."""
    return (lambda idle: make()), (lambda idle: [*make(), pct.ProxyCutoff(idle, upstream=0, ping_interval=None)])


def _prefill(ping_interval: float | None, past: float = PAST) -> tuple[Callable[[float], list[pct.Scenario]], Callable[[float], list[pct.Scenario]]]:
    """(upstream, model) for an API that thinks ``idle + past`` seconds before answering;
    the model is ``ProxyCutoff`` itself, with that upstream time."""
    return (
        lambda idle: [pct.SlowPrefill(idle + past, ping_interval=ping_interval)],
        lambda idle: [pct.ProxyCutoff(idle, upstream=idle + past, ping_interval=ping_interval)],
    )


@dataclass
class UpstreamReset(pct.ConnectionReset):
    """The API's server itself resets (RST) its connection mid-body: behind a proxy, that
    is the proxy's upstream connection, not the client's (``connection_reset`` is on the
    client's side of the network)."""

    name: ClassVar[str] = "upstream_reset"
    layer: ClassVar[int] = SERVER


IDLE_CASES = [
    # Non-streaming: the API sends nothing until the answer is ready.
    Case("plain-answer-within-cutoff", False, *_prefill(None, past=-15)),
    Case("plain-silent-past-cutoff", False, *_prefill(None)),
    # Streaming: headers and message_start at once, then the prefill, with or without pings.
    Case("stream-pings-keep-alive", True, *_prefill(10)),
    Case("stream-no-pings", True, *_prefill(None)),
    # A stream that stops after two deltas and never resumes.
    Case("stream-stalls-mid-body", True, *_composed(lambda: [pct.StalledStream(deltas=2)])),
]
"""The proxy's idle cutoff, before the response headers and mid-stream."""

UPSTREAM_CASES = [
    Case("upstream-closes-before-headers", False, *_composed(lambda: [pct.ServerDisconnect()]), max_retries=0),
    Case("upstream-resets-mid-stream", True, *_composed(lambda: [UpstreamReset(deltas=2)])),
    Case("upstream-resets-mid-body", False, *_composed(lambda: [UpstreamReset()]), max_retries=0),
    Case("upstream-ends-stream-early", True, *_composed(lambda: [pct.TruncatedStream(deltas=2)])),
]
"""What the proxy makes of the upstream's own failures (no waiting involved)."""


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The calls go straight to nginx on loopback whatever proxy the machine names (every
    proxy variable cleared, in both cases)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def use_proxy(monkeypatch: pytest.MonkeyPatch, variable: str, url: str) -> None:
    """Route the SDK through ``url`` by the environment alone, as a team behind a corporate
    proxy does (lower case too: it wins in ``urllib.request.getproxies``)."""
    monkeypatch.setenv(variable, url)
    monkeypatch.setenv(variable.lower(), url)


@pytest.fixture(scope="module")
def nginx_binary(pytestconfig: pytest.Config) -> str:
    """The nginx binary (skip locally if missing, fail under CI); prints its version."""
    binary = required.require(ngx.find_nginx(), "nginx", "install it (Debian: apt-get install nginx; .ci/run does)")
    required.announce(pytestconfig, f"conformance: real {ngx.nginx_version(binary)} ({binary}) in front of the fault server")
    return binary


@contextmanager
def nginx_in_front(binary: str, workdir: Path, idle: float, scenarios: Sequence[pct.Scenario]) -> Iterator[tuple[FaultServer, ngx.Nginx]]:
    """The fault server playing ``scenarios``, behind nginx with an idle cutoff of ``idle``."""
    with FaultServer(*scenarios, time_scale=SCALE) as server:
        with ngx.Nginx(binary, server.base_url, workdir, read_timeout=idle * SCALE) as proxy:
            yield server, proxy


def _version_free(text: str) -> str:
    """nginx's pages and headers name its version (``nginx/1.22.1``) unless
    ``server_tokens off``; the model says ``nginx``, as with ``server_tokens off``."""
    return re.sub(r"nginx/[\d.]+", "nginx", text)


def assert_same(real: Outcome, virtual: Outcome, context: str, *, messages: bool = True) -> None:
    assert (real.result, real.status) == (virtual.result, virtual.status), context
    assert real.events == virtual.events, context
    assert len(real.durations) == len(virtual.durations), context
    for got, want in zip(real.durations, virtual.durations):
        assert want - 1.0 <= got <= want + TOLERANCE, f"attempt took {got:.1f} s for real, {want:g} s in the model\n{context}"
    if real.status is not None:  # an error page from the proxy
        assert _version_free(real.body) == virtual.body, context
        for name in ("content-type", "connection"):
            assert real.headers.get(name) == virtual.headers.get(name), f"{name}\n{context}"
        for seen in (real, virtual):
            assert seen.headers.get("content-length") == str(len(seen.body.encode())), context
        assert _version_free(real.headers.get("server", "")) == virtual.headers.get("server"), context
    elif messages:
        assert (real.message, real.cause) == (virtual.message, virtual.cause), context


def check(binary: str, workdir: Path, mode: str, case: Case, idle: float) -> None:
    with nginx_in_front(binary, workdir, idle, case.upstream(idle)) as (server, proxy):
        real = real_call(mode, proxy.url, case.stream, max_retries=case.max_retries)
        upstream_attempts = len(server.attempts)
        log = proxy.log_tail()
    virtual, net = virtual_call(mode, case.model(idle), case.stream, max_retries=case.max_retries)
    context = (
        f"real (nginx, scenario seconds): {real}\nnginx error log:\n{log}\n"
        f"virtual: {virtual}\n{net.timeline()}"
    )
    assert_same(real, virtual, context)
    assert upstream_attempts == len(net.attempts), context


@pytest.mark.parametrize("idle", [30, 60], ids=lambda i: f"idle{i}")
@pytest.mark.parametrize("case", IDLE_CASES, ids=lambda c: c.id)
def test_idle_cutoff_matches_the_proxy_model(nginx_binary: str, tmp_path: Path, mode: str, case: Case, idle: float) -> None:
    check(nginx_binary, tmp_path, mode, case, idle)


@pytest.mark.parametrize("case", UPSTREAM_CASES, ids=lambda c: c.id)
def test_upstream_failures_match_the_proxy_model(nginx_binary: str, tmp_path: Path, mode: str, case: Case) -> None:
    check(nginx_binary, tmp_path, mode, case, 30)


def test_proxy_from_the_environment(nginx_binary: str, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog's promise: traffic sent through a proxy configured by ``HTTPS_PROXY`` is
    intercepted and subject to the proxy scenarios. For real: the SDK calls the fault
    server's URL, ``HTTP_PROXY`` names nginx, and nginx's cutoff answers (a direct call
    would have waited for the answer). Virtually: with ``HTTPS_PROXY`` set (it is never
    contacted), the simulated network still serves the call, through ``ProxyCutoff``."""
    case = IDLE_CASES[1]  # plain-silent-past-cutoff
    idle = 30
    with nginx_in_front(nginx_binary, tmp_path, idle, case.upstream(idle)) as (server, proxy):
        use_proxy(monkeypatch, "HTTP_PROXY", proxy.url)
        real = real_call(mode, server.base_url, case.stream, max_retries=0)
        log = proxy.log_tail()
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("http_proxy")
    use_proxy(monkeypatch, "HTTPS_PROXY", "http://127.0.0.1:3128")
    virtual, net = virtual_call(mode, case.model(idle), case.stream, max_retries=0)
    assert real.status == 504, real  # nginx answered: the call went through it
    assert_same(real, virtual, f"real: {real}\n{log}\nvirtual: {virtual}\n{net.timeline()}")
    assert len(net.attempts) == 1 and not net.unhandled


@dataclass(frozen=True)
class BufferingCase:
    """nginx with ``proxy_buffering on`` (its default), with or without ``gzip`` for the
    event stream, against the model of the whole path."""

    id: str
    gzip: bool
    upstream: list[pct.Scenario]
    model: list[pct.Scenario]
    result: str
    """What the client must see (both runs): ``ok`` or the exception's class name."""
    timeout: float = 60.0


BUFFERING_CASES = [
    # gzip on the stream: nginx holds the headers and the pings until its compressed
    # output is ready (at the end of a short answer), so the read timeout fires first.
    BufferingCase("gzip-holds-a-slow-stream", True, [pct.SlowPrefill(90)], [pct.BufferingProxy(90)], "APITimeoutError"),
    BufferingCase("gzip-short-stream", True, [pct.SlowPrefill(30)], [pct.BufferingProxy(30)], "ok"),
    # proxy_buffering on alone: each event is passed on as it comes, pings keep the client alive.
    BufferingCase("buffering-passes-pings", False, [pct.SlowPrefill(90)], [pct.SlowPrefill(90)], "ok"),
]


@pytest.mark.parametrize("case", BUFFERING_CASES, ids=lambda c: c.id)
def test_buffering_proxy_matches_nginx(nginx_binary: str, tmp_path: Path, mode: str, case: BufferingCase) -> None:
    """``buffering_proxy`` against real nginx with ``proxy_buffering on``: the outcome, the
    events received and each attempt's duration (to its response headers, or to the client's
    timeout) agree; the messages of a client timeout differ by stack, not by model."""
    with FaultServer(*case.upstream, time_scale=SCALE) as server:
        with ngx.Nginx(nginx_binary, server.base_url, tmp_path, read_timeout=600 * SCALE, buffering=True, gzip=case.gzip) as proxy:
            real = real_call(mode, proxy.url, True, max_retries=0, timeout=case.timeout)
            log = proxy.log_tail()
    virtual, net = virtual_call(mode, case.model, True, max_retries=0, timeout=case.timeout)
    context = f"real (nginx, scenario seconds): {real}\nnginx error log:\n{log}\nvirtual: {virtual}\n{net.timeline()}"
    assert real.result == virtual.result == case.result, context
    assert_same(real, virtual, context, messages=False)
