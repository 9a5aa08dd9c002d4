"""Errors raised by the simulation itself (never by the simulated network's peers).

They derive from ``BaseException``, like pytest's own outcome exceptions, so that the code
under test (the SDK's retry loop, a user's ``except Exception``) cannot swallow them or turn
them into an ``APIConnectionError``: a problem of the harness always reaches the test.
"""

from __future__ import annotations


class SimulationError(BaseException):
    """The simulation cannot go on; the message says why and what to do."""


class UnhandledRequest(SimulationError):
    """A request reached the simulated network that no part of it serves.

    Nothing was sent: under the simulated network, no request leaves the machine.
    """


class HorizonExceeded(SimulationError):
    """The client would have waited past the virtual horizon (or forever).

    Raised instead of waiting, so that a configuration without a bound ends the test at
    once in wall time with a clear message rather than hanging the test run.
    """

    def __init__(self, message: str, *, waited: float, forever: bool) -> None:
        super().__init__(message)
        self.waited = waited
        self.forever = forever


class EgressRefused(SimulationError):
    """Something tried to reach beyond the machine (a connection or a DNS lookup) while a
    simulated network was active; nothing was sent. ``destination`` names it."""

    def __init__(self, message: str, *, destination: str) -> None:
        super().__init__(message)
        self.destination = destination
