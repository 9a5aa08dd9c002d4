"""The scenarios: what a slow or broken network does to an exchange with the API.

Each scenario is a small mutable dataclass (its parameters can change until the network
serves its first request) whose :meth:`Scenario.apply` rewrites the steps of one attempt.
The healthy API's steps come first; scenarios apply by layer: the server's own behaviour
(``service``), then middleboxes on the path (``middleboxes``), then the client's side of the
network (``client_network``). ``registry`` names them all.
"""

from .base import (
    CLIENT_NETWORK,
    PATH,
    SERVER,
    AttemptContext,
    Scenario,
    ScenarioError,
    connect_step,
    shape,
)
from .client_network import (
    DNS_KINDS,
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
from .chaos import Chaos, Fixed, LogNormal, Uniform
from .middleboxes import AwsAlb, BufferingProxy, Cloudflare, GcpLoadBalancer, ProxyCutoff, SlicedStream
from .registry import SCENARIOS, scenario_from_spec
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

__all__ = [
    "ApiError", "BufferingProxy", "Chaos", "Fixed", "LogNormal", "Uniform", "ClientError", "ConnectionClosed", "LateHeaders", "MalformedStream", "PingStall", "SlicedStream",
    "SlowDownload", "StaleConnection",
    "CLIENT_NETWORK", "DNS_KINDS", "PATH", "SCENARIOS", "SERVER", "AttemptContext", "AwsAlb", "Cloudflare",
    "ConnectTimeout", "ConnectionRefused", "ConnectionReset", "DnsFailure", "ForceFailure", "GcpLoadBalancer",
    "LongGeneration", "LongSilence", "Overloaded", "PoolExhaustion", "ProxyCutoff", "RateLimited",
    "RetryAfterExtreme", "Scenario", "ScenarioError", "ServerDisconnect", "SlowPrefill", "SlowUpload",
    "StalledStream", "TruncatedStream", "connect_step", "scenario_from_spec", "shape",
]
