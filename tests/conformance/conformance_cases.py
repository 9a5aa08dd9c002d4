"""The conformance cases: every scenario of the catalog, with client settings that make
its behaviour visible, streaming and not where both apply.

Durations are scenario seconds; the real run scales the client's timeouts (and the
server's waits) by the case's time scale. Parameters are smaller than the catalog's
defaults where a default would make the real run long (``long_generation`` with 1,000
tokens instead of 4,000, ``long_silence`` of 90 s instead of 330 s): the behaviour is
the same, only shorter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest_claude_timeout as pct

SCALE = 0.01
"""Real seconds per scenario second: 1 scenario second = 10 ms."""
SANDBOX_SCALE = 0.1
"""For the cases played through the DNS stub: a healthy attempt's name lookup (a round trip
to the stub's Python thread) and handshake must fit in the connect timeout, 5 s, which at
``SCALE`` is 50 ms real. On a loaded 2-core machine the lookup alone sometimes took longer,
and the real client saw one connect timeout more than the scenario plays (an extra attempt,
on CI). At 0.1 the connect timeout is 500 ms real."""


@dataclass(frozen=True)
class Case:
    scenario: pct.Scenario
    stream: bool
    options: dict[str, Any] = field(default_factory=dict)
    """Client options in scenario seconds: ``timeout`` (a number, or a dict with ``read``,
    ``connect`` ...; default the SDK's ``Timeout(600, connect=5)``), ``max_retries``,
    ``keepalive`` (the pool's ``keepalive_expiry``), ``pause`` (a first call, this pause,
    then the call whose outcome counts, on the same client)."""
    modes: tuple[str, ...] = ("sync", "async")
    """``sync``, ``async`` (the SDK's own httpx / httpx2 clients), ``aiohttp`` (async, on the
    SDK's ``DefaultAioHttpClient``)."""
    scale: float = SCALE
    where: str = "loopback"
    """``loopback``: the client in this process against the fault server; ``sandbox``: the
    client in a mount namespace whose resolver is the fault server's DNS stub."""
    concurrent: tuple[int, int] | None = None
    """(calls, max_connections): concurrent calls through one connection-limited client."""
    wait_tolerance: float = 0.0
    """Allowed difference of the SDK's waits, in seconds (an HTTP date has a resolution of
    one second: a ``retry-after`` date is the same moment only to the second)."""
    prompt_bytes: int = 0
    """A prompt this large (bytes), for a slow upload to slow down."""
    not_playable: str = ""
    """Why the real run cannot be played here (the row says so; nothing is faked)."""

    @property
    def id(self) -> str:
        extra = "-".join(f"{k}{_short(v)}" for k, v in self.options.items())
        return f"{self.scenario.label()}-{'stream' if self.stream else 'plain'}{'-' + extra if extra else ''}"

    def client(self) -> str:
        timeout = self.options.get("timeout", {"read": 600, "connect": 5})
        if isinstance(timeout, dict):
            text = ", ".join(f"{k}={v:g}" for k, v in timeout.items())
        else:
            text = f"all={timeout:g}"
        retries = self.options.get("max_retries", 2)
        pool = f", {self.concurrent[0]} calls, max_connections={self.concurrent[1]}" if self.concurrent else ""
        if "pause" in self.options:
            pool += f", keepalive_expiry={self.options.get('keepalive', 5):g}, 2 calls {self.options['pause']:g} s apart"
        prompt = f", prompt of {self.prompt_bytes:,} bytes" if self.prompt_bytes else ""
        return f"{text}, max_retries={retries}{pool}{prompt}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "_".join(f"{k}{v:g}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def both(scenario: pct.Scenario, **kwargs: Any) -> list[Case]:
    """The scenario streaming and not."""
    return [Case(scenario, False, **kwargs), Case(scenario, True, **kwargs)]


WITH_AIOHTTP = ("sync", "async", "aiohttp")
"""The cases also played with the SDK's aiohttp transport (``DefaultAioHttpClient``): a
failure in each phase, from the name lookup to the end of the body, and aiohttp's own pool
(keep-alive, ``limit``). (The handshake failures are not: see below.)

aiohttp rounds some of its timers up to whole seconds of the loop's clock: ``sock_connect``,
``connect`` (the pool wait) and ``total`` when over 5 s (``ClientTimeout.ceil_threshold``),
the connector's keep-alive clean-up from 5 s (``timeout_ceil_threshold``); never
``sock_read``. The real run scales every timeout (at 0.01, a 60 s timeout is 0.6 s real) and
so is never rounded, while the virtual run is rounded to whole virtual seconds: a rounded
timer that fires could end up to 1 s later in virtual time than in real time. No aiohttp row
depends on it: the read timeouts are ``sock_read``, the connect timeout is the SDK's 5 s
(rounded only over 5 s), the pool wait of ``pool_exhaustion`` starts at virtual 0 (a whole
second), and the keep-alive clean-up never runs before the second call of
``stale_connection`` (the connector's ``_get`` checks ``keepalive_timeout`` unrounded)."""

CASES: list[Case] = [
    *both(pct.SlowPrefill(75), options={"timeout": 60}, modes=WITH_AIOHTTP),
    *both(pct.StalledStream(), options={"timeout": 30}, modes=WITH_AIOHTTP),
    *both(pct.ProxyCutoff(60), modes=WITH_AIOHTTP),
    Case(pct.ProxyCutoff(idle=30, ping_interval=None), True, options={"timeout": 120}),
    *both(pct.LongGeneration(tokens=1000), options={"timeout": 15}),
    *both(pct.AwsAlb()),
    *both(pct.Cloudflare(upstream=120), options={"timeout": 600, "max_retries": 1}),
    *both(pct.GcpLoadBalancer()),
    *both(pct.ServerDisconnect(), modes=WITH_AIOHTTP),
    *both(pct.ConnectionReset(), modes=WITH_AIOHTTP),
    *both(pct.TruncatedStream(), modes=WITH_AIOHTTP),
    Case(pct.LongSilence(stall=90), True, options={"timeout": 120}),
    Case(pct.LongSilence(stall=90), True, options={"timeout": 60}),
    Case(pct.LongSilence(stall=90), False, options={"timeout": 60}),
    *both(pct.RateLimited(5), modes=WITH_AIOHTTP),
    Case(pct.RateLimited(retry_after=None, retry_after_ms=1500), True),
    Case(pct.RateLimited(retry_after=2, http_date=True), False, scale=1.0, wait_tolerance=1.0),
    Case(pct.RetryAfterExtreme(), False),
    *both(pct.Overloaded()),
    Case(pct.Overloaded(where="stream"), True, modes=WITH_AIOHTTP),
    # Before the connection: played by the fault server's DNS stub to a client in a sandbox.
    *both(pct.DnsFailure(), where="sandbox", scale=SANDBOX_SCALE, modes=WITH_AIOHTTP),
    Case(pct.DnsFailure(attempts=None, kind="no_resolver"), False, where="sandbox", scale=SANDBOX_SCALE),
    # aiohttp looks the name up outside its sock_connect timer: glibc's full 2 x 5 s.
    Case(pct.DnsFailure(kind="resolver_timeout"), False, where="sandbox", scale=0.2, modes=WITH_AIOHTTP),
    # Not on aiohttp: the DNS stub plays a dropped handshake or a refusal by answering the
    # lookup with a dead address for the first attempts, and aiohttp's connector caches a
    # lookup (ttl_dns_cache=10 s): its retries go back to the dead address. That measures the
    # stub's method, not the scenario (one host that refuses once, then answers).
    *both(pct.ConnectTimeout(), where="sandbox", scale=SANDBOX_SCALE),
    Case(pct.ConnectTimeout(attempts=None), True, where="sandbox", scale=SANDBOX_SCALE),
    Case(pct.ConnectionRefused(), False, where="sandbox", scale=SANDBOX_SCALE),
    # A 1 MB prompt up a 20 kB/s uplink: 50 s of upload, under the read timeout.
    Case(pct.SlowUpload(), False, options={"timeout": {"read": 30, "connect": 5, "write": 600}}, prompt_bytes=1_000_000),
    Case(pct.SlowUpload(), False, options={"timeout": {"read": 600, "connect": 5, "write": 1}}, prompt_bytes=1_000_000),
    Case(pct.ForceFailure(rtt=0.05), False, options={"timeout": 0.001, "max_retries": 0},
         not_playable="needs a 50 ms round trip on the wire: loopback has almost none, and this kernel has no "
         "netem qdisc to add one (the loopback run is test_force_failure_on_loopback)"),
    Case(pct.PoolExhaustion(30), False, options={"timeout": {"read": 60, "connect": 5, "pool": 10}, "max_retries": 0},
         modes=("async",), concurrent=(5, 2)),
    # aiohttp's own pool (TCPConnector(limit=2)). Its pool timer (ClientTimeout.connect, the
    # SDK's pool timeout) covers the connect too: at 0.01 the 10 s are 100 ms real, which a
    # loaded machine's connect of the second call can overrun (an extra timeout); at 0.05, 500 ms.
    Case(pct.PoolExhaustion(30), False, options={"timeout": {"read": 60, "connect": 5, "pool": 10}, "max_retries": 0},
         modes=("aiohttp",), concurrent=(5, 2), scale=0.05),
    # Scenario catalog 2.
    Case(pct.LateHeaders(75), True, options={"timeout": 60, "max_retries": 1}),
    *both(pct.ConnectionClosed()),
    Case(pct.PingStall(90), True, options={"timeout": 60}),
    # Two calls 60 s apart on a client that keeps connections 120 s; the server dropped
    # them after 30 s: the second call's first attempt meets the stale connection.
    # On aiohttp, the connector's keepalive_timeout (120 s) decides the reuse.
    Case(pct.StaleConnection(30), False, options={"keepalive": 120, "pause": 60}, scale=0.05, modes=WITH_AIOHTTP),
    Case(pct.BufferingProxy(90), True, options={"timeout": 60, "max_retries": 1}),
    Case(pct.BufferingProxy(30), True, options={"timeout": 60}),
    Case(pct.SlicedStream(gap=0.1), True),
    Case(pct.SlicedStream(size=5, gap=0.1, newline="\r\n"), True),
    Case(pct.MalformedStream(kind="garbage"), False),
    Case(pct.MalformedStream(kind="empty"), True),
    Case(pct.MalformedStream(kind="bad_chunk"), True),
    *both(pct.MalformedStream(kind="bad_json")),
    *both(pct.SlowDownload()),
    Case(pct.ClientError(400), False),
    Case(pct.ClientError(413), True),
    *both(pct.ApiError()),
    Case(pct.LongGeneration(tokens=1000, every_event=True), True, options={"timeout": 15}),
    # Seed 3: attempt 1 draws the 500, attempt 2 none; latencies drawn between 1 and 3 s.
    *both(pct.Chaos(seed=3, faults=((0.5, pct.ApiError()),), latency=pct.Uniform(1, 3))),
]
