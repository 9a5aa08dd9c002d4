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


class HarnessError(SimulationError):
    """The simulation itself broke (a bug of pytest-claude-timeout, a scenario parameter it
    could not use): never a verdict about the client under test. It chains the original
    exception, whose traceback shows where the harness broke."""


def harness_error(exc: BaseException, what: str) -> HarnessError:
    """A :class:`HarnessError` for ``exc``, raised inside the simulation while it served
    ``what``: the message names the exception and the line it came from."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return HarnessError(
        f"pytest-claude-timeout: the simulation failed while serving {what}: {type(exc).__name__}: {exc} "
        f"(raised{where}). This is a fault of the harness or of a scenario's parameters, not of the "
        "client under test: nothing was judged."
    )


def hide_unless_harness_error(excinfo: object) -> bool:
    """For ``__tracebackhide__``: the simulation's frames are hidden from a test's traceback
    (the user reads the SDK's and their own), except when the harness itself broke."""
    return not isinstance(getattr(excinfo, "value", None), HarnessError)


class EgressRefused(SimulationError):
    """Something tried to reach beyond the machine (a connection or a DNS lookup) while a
    simulated network was active; nothing was sent. ``destination`` names it."""

    def __init__(self, message: str, *, destination: str) -> None:
        super().__init__(message)
        self.destination = destination
