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
from .chaos import Chaos, Fixed, LogNormal, Uniform
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
    "CLIENT_NETWORK",
    "DNS_KINDS",
    "PATH",
    "SCENARIOS",
    "SERVER",
    "ApiError",
    "AttemptContext",
    "AwsAlb",
    "BufferingProxy",
    "Chaos",
    "ClientError",
    "Cloudflare",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionRefused",
    "ConnectionReset",
    "DnsFailure",
    "Fixed",
    "ForceFailure",
    "GcpLoadBalancer",
    "LateHeaders",
    "LogNormal",
    "LongGeneration",
    "LongSilence",
    "MalformedStream",
    "Overloaded",
    "PingStall",
    "PoolExhaustion",
    "ProxyCutoff",
    "RateLimited",
    "RetryAfterExtreme",
    "Scenario",
    "ScenarioError",
    "ServerDisconnect",
    "SlicedStream",
    "SlowDownload",
    "SlowPrefill",
    "SlowUpload",
    "StaleConnection",
    "StalledStream",
    "TruncatedStream",
    "Uniform",
    "connect_step",
    "scenario_from_spec",
    "shape",
]
