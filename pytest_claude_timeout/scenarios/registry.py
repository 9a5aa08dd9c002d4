"""The registry of scenarios by name (fixture names, marker names, specs such as
``"proxy_cutoff:30"``). It imports the scenario families; none of them imports it."""

from __future__ import annotations

import dataclasses

from .base import (
    Scenario,
    ScenarioError,
)
from .chaos import Chaos
from .client_network import (
    ConnectionRefused,
    ConnectTimeout,
    DnsFailure,
    ForceFailure,
    PoolExhaustion,
    ServerDisconnect,
    SlowDownload,
    SlowUpload,
    StaleConnection,
)
from .middleboxes import AwsAlb, BufferingProxy, Cloudflare, GcpLoadBalancer, ProxyCutoff, SlicedStream
from .service import (
    ConnectionClosed,
    ConnectionReset,
    LateHeaders,
    LongGeneration,
    LongSilence,
    Overloaded,
    PingStall,
    RateLimited,
    RetryAfterExtreme,
    SlowPrefill,
    StalledStream,
    TruncatedStream,
)
from .service_errors import ApiError, ClientError, MalformedStream

SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls
    for cls in (
        SlowPrefill, StalledStream, ProxyCutoff, DnsFailure, LongGeneration, AwsAlb, Cloudflare,
        GcpLoadBalancer, ConnectTimeout, ConnectionRefused, ServerDisconnect, ConnectionReset,
        TruncatedStream, LongSilence, RateLimited, RetryAfterExtreme, Overloaded, SlowUpload, ForceFailure,
        PoolExhaustion, LateHeaders, ConnectionClosed, PingStall, SlicedStream, MalformedStream, SlowDownload,
        ClientError, ApiError, BufferingProxy, StaleConnection, Chaos,
    )
}
"""Every scenario by its name: the fixture names and the marker's scenario names."""


def scenario_from_spec(spec: str | Scenario) -> Scenario:
    """``"slow_prefill"``, ``"proxy_cutoff:30"`` (the main parameter) or a Scenario instance."""
    __tracebackhide__ = True  # a bad parameter: the user's line, not ours
    if isinstance(spec, Scenario):
        return dataclasses.replace(spec)
    if isinstance(spec, type) and issubclass(spec, Scenario):
        raise ScenarioError(f"{spec.__name__} is a scenario class: give an instance, {spec.__name__}(...), or a name such as {spec.name!r}")
    if not isinstance(spec, str):
        raise ScenarioError(f"a scenario is a name such as 'proxy_cutoff:30' or a Scenario object, not {spec!r}")
    name, _, value = spec.partition(":")
    cls = SCENARIOS.get(name.strip())
    if cls is None:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not value:
        return cls()
    if isinstance(getattr(cls, cls.main, None), str):  # a named kind: "malformed_stream:garbage"
        return cls.from_param({cls.main: value.strip()})
    try:
        number: float = int(value) if value.strip().isdigit() else float(value)
    except ValueError:
        raise ScenarioError(f"{spec!r}: {value!r} is not a number (the {cls.main} of {name})") from None
    return cls.from_param(number)
