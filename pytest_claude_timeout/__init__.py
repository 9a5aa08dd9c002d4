"""pytest-claude-timeout: prove an Anthropic client's timeout handling in virtual time.

The public API is imported lazily: pytest loads the plugin in every run, and importing this
package must not import anthropic, httpx, httpx2 or respx until a test uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SimulatedNetwork": "network",
    "FaultServer": "server",
    "VirtualClock": "clock",
    "Scenario": "scenarios",
    "ScenarioError": "scenarios",
    "SlowPrefill": "scenarios",
    "StalledStream": "scenarios",
    "ProxyCutoff": "scenarios",
    "DnsFailure": "scenarios",
    "SCENARIOS": "catalog",
    "LongGeneration": "catalog",
    "AwsAlb": "catalog",
    "Cloudflare": "catalog",
    "GcpLoadBalancer": "catalog",
    "ConnectTimeout": "catalog",
    "ConnectionRefused": "catalog",
    "ServerDisconnect": "catalog",
    "ConnectionReset": "catalog",
    "TruncatedStream": "catalog",
    "LongSilence": "catalog",
    "RateLimited": "catalog",
    "RetryAfterExtreme": "catalog",
    "Overloaded": "catalog",
    "SlowUpload": "catalog",
    "ForceFailure": "catalog",
    "PoolExhaustion": "catalog",
    "scenario_from_spec": "scenarios",
    "FakeApi": "api",
    "Attempt": "timeline",
    "Timeouts": "timeline",
    "SimulationError": "errors",
    "UnhandledRequest": "errors",
    "HorizonExceeded": "errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .api import FakeApi
    from .clock import VirtualClock
    from .errors import HorizonExceeded, SimulationError, UnhandledRequest
    from .network import SimulatedNetwork
    from .server import FaultServer
    from .catalog import (
        SCENARIOS,
        AwsAlb,
        Cloudflare,
        ConnectionRefused,
        ConnectionReset,
        ConnectTimeout,
        ForceFailure,
        GcpLoadBalancer,
        LongGeneration,
        LongSilence,
        Overloaded,
        PoolExhaustion,
        RateLimited,
        RetryAfterExtreme,
        ServerDisconnect,
        SlowUpload,
        TruncatedStream,
    )
    from .scenarios import (
        DnsFailure,
        ProxyCutoff,
        Scenario,
        ScenarioError,
        SlowPrefill,
        StalledStream,
        scenario_from_spec,
    )
    from .timeline import Attempt, Timeouts


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
