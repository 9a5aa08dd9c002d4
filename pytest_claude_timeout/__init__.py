"""pytest-claude-timeout: prove an Anthropic client's timeout handling in virtual time.

The public API is imported lazily: pytest loads the plugin in every run, and importing this
package must not import anthropic, httpx, httpx2 or respx until a test uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SimulatedNetwork": "network.simulated",
    "FaultServer": "server.fault_server",
    "VirtualClock": "network.clock",
    "Scenario": "scenarios",
    "ScenarioError": "scenarios",
    "SlowPrefill": "scenarios",
    "StalledStream": "scenarios",
    "ProxyCutoff": "scenarios",
    "DnsFailure": "scenarios",
    "SCENARIOS": "scenarios",
    "LongGeneration": "scenarios",
    "AwsAlb": "scenarios",
    "Cloudflare": "scenarios",
    "GcpLoadBalancer": "scenarios",
    "ConnectTimeout": "scenarios",
    "ConnectionRefused": "scenarios",
    "ServerDisconnect": "scenarios",
    "ConnectionReset": "scenarios",
    "TruncatedStream": "scenarios",
    "LongSilence": "scenarios",
    "RateLimited": "scenarios",
    "RetryAfterExtreme": "scenarios",
    "Overloaded": "scenarios",
    "SlowUpload": "scenarios",
    "ForceFailure": "scenarios",
    "PoolExhaustion": "scenarios",
    "Uniform": "scenarios",
    "LogNormal": "scenarios",
    "Fixed": "scenarios",
    "Chaos": "scenarios",
    "StaleConnection": "scenarios",
    "BufferingProxy": "scenarios",
    "LateHeaders": "scenarios",
    "ConnectionClosed": "scenarios",
    "PingStall": "scenarios",
    "SlicedStream": "scenarios",
    "MalformedStream": "scenarios",
    "SlowDownload": "scenarios",
    "ClientError": "scenarios",
    "ApiError": "scenarios",
    "scenario_from_spec": "scenarios",
    "survival_envelope": "envelope",
    "Envelope": "envelope",
    "FakeApi": "api.fake",
    "ApiRequest": "api.request",
    "message": "api.content",
    "tool_use": "api.content",
    "thinking": "api.content",
    "redacted_thinking": "api.content",
    "recorded": "api.responders",
    "Recording": "api.responders",
    "run_calls": "network.calls",
    "CallReport": "network.calls",
    "Grading": "plugin.grading",
    "Attempt": "network.timeline",
    "Timeouts": "network.timeline",
    "EgressRefused": "errors",
    "SimulationError": "errors",
    "UnhandledRequest": "errors",
    "HorizonExceeded": "errors",
    "HarnessError": "errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .api.content import message, redacted_thinking, thinking, tool_use
    from .api.fake import FakeApi
    from .api.request import ApiRequest
    from .api.responders import Recording, recorded
    from .envelope import Envelope, survival_envelope
    from .errors import EgressRefused, HarnessError, HorizonExceeded, SimulationError, UnhandledRequest
    from .network.calls import CallReport, run_calls
    from .network.clock import VirtualClock
    from .network.simulated import SimulatedNetwork
    from .network.timeline import Attempt, Timeouts
    from .plugin.grading import Grading
    from .scenarios import (
        SCENARIOS,
        ApiError,
        AwsAlb,
        BufferingProxy,
        Chaos,
        ClientError,
        Cloudflare,
        ConnectionClosed,
        ConnectionRefused,
        ConnectionReset,
        ConnectTimeout,
        DnsFailure,
        Fixed,
        ForceFailure,
        GcpLoadBalancer,
        LateHeaders,
        LogNormal,
        LongGeneration,
        LongSilence,
        MalformedStream,
        Overloaded,
        PingStall,
        PoolExhaustion,
        ProxyCutoff,
        RateLimited,
        RetryAfterExtreme,
        Scenario,
        ScenarioError,
        ServerDisconnect,
        SlicedStream,
        SlowDownload,
        SlowPrefill,
        SlowUpload,
        StaleConnection,
        StalledStream,
        TruncatedStream,
        Uniform,
        scenario_from_spec,
    )
    from .server.fault_server import FaultServer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
