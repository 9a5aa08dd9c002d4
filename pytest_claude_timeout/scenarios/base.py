"""The scenarios: what a slow or broken network does to an exchange with the API.

Each scenario is a small mutable dataclass (its parameters can change until the network
serves its first request) whose :meth:`Scenario.apply` rewrites the steps of one attempt.
The healthy API's steps come first; scenarios apply by layer: the server's own behaviour,
then middleboxes on the path (proxies), then the client's side of the network (DNS).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol, cast

from ..api import wire
from ..api.fake import ApiRequest, FakeApi
from ..exchange import (
    INCOMPLETE_CHUNKED,
    Connect,
    Data,
    Head,
    Idle,
    Step,
    body_bytes,
    leading,
)
from ..network.timeline import PART_JOIN
from .streams import AFTER_DELTAS_FALLBACK, as_list, delayed_first_byte, reads_stream, split_after, split_body

SERVER, PATH, CLIENT_NETWORK = 0, 1, 2


@dataclass(frozen=True)
class AttemptContext:
    """What a scenario may know about the attempt it shapes."""

    number: int
    """1-based count of requests that reached the network so far, this one included."""
    stream_number: int
    """1-based count among streaming requests (0 for a non-streaming one)."""
    request: ApiRequest
    host: str
    at: datetime
    """The (virtual) wall-clock moment the request was sent, e.g. for ``retry-after`` dates."""
    reused_after: float | None = None
    """The request goes out on a kept-alive connection that sat idle this long (seconds);
    ``None``: on a new connection."""


class ScenarioError(ValueError):
    """A scenario was given an unknown name or a bad parameter."""


Choices = dict[str, Collection[Any]]
"""A scenario's :attr:`Scenario.choices`: parameter name -> the values it accepts."""


@dataclass
class Scenario:
    """Base class: subclasses set ``name``, ``main`` (the parameter a bare number sets)
    and ``layer``, and implement :meth:`apply`."""

    name: ClassVar[str] = "scenario"
    main: ClassVar[str] = ""
    layer: ClassVar[int] = SERVER
    counts: ClassVar[dict[str, int]] = {"deltas": 0, "attempts": 1}
    """Whole-number parameters and their minimum, checked for the ones a scenario has
    (``attempts=None``: every attempt)."""
    choices: ClassVar[Choices] = {}
    """Parameters that take one of a few values (a kind, a status), and those values."""

    def apply(self, steps: list[Step], ctx: AttemptContext) -> Iterable[Step]:
        """The steps of this attempt, rewritten. Written for a list (as here), it gets the
        steps as a list; decorated with :func:`~.streams.lazy` (taking an iterable), it gets
        them as an iterator and should return an iterator that reads them as it goes."""
        raise NotImplementedError

    # -- parameters ----------------------------------------------------------------------
    def __setattr__(self, key: str, value: Any) -> None:
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        if self.__dict__.get("_locked"):
            raise ScenarioError(
                f"{self.name}: cannot set {key!r} after the network served its first request; "
                "set scenario parameters before the client makes a call"
            )
        if not self.__dict__.get("_checked"):
            super().__setattr__(key, value)
            return
        before = self.__dict__.get(key)
        super().__setattr__(key, value)
        try:
            self.__post_init__()  # a parameter set later is checked as at construction
        except ScenarioError:
            super().__setattr__(key, before)
            raise

    def __post_init__(self) -> None:
        """Check every parameter: its type (from the field's annotation) and, for durations,
        that it is a non-negative number; for :attr:`counts`, a whole number >= its minimum; for
        :attr:`choices`, one of its values.
        Subclasses add their own checks after calling it."""
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        hints = _field_types(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if inspect.isfunction(value):
                cls = type(self).__name__
                raise ScenarioError(
                    f"{cls} was given the function {value.__name__} as its {f.name}: a scenario class used as a "
                    f"decorator? @pytest.mark.claude_timeout({cls}) with a class as its only argument marks that "
                    f"class instead; give an instance: @pytest.mark.claude_timeout({cls}())"
                )
            problem = _type_problem(value, hints.get(f.name))
            if not problem and f.name not in self._durations() and isinstance(value, float) and math.isnan(value):
                problem = "a number"
            if problem:
                raise ScenarioError(f"{self.name}: {f.name} must be {problem}, not {value!r}")
            if f.name in self._durations() and value is not None:
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
                    raise ScenarioError(
                        f"{self.name}: {f.name} must be a non-negative number of seconds, not {value!r}"
                    )
            if f.name in self.counts:
                _check_count(self, f.name, value, minimum=self.counts[f.name])
            if f.name in self.choices and value not in self.choices[f.name]:
                allowed = sorted(self.choices[f.name], key=str)
                raise ScenarioError(f"{self.name}: {f.name} must be one of {allowed}, not {value!r}")
        self.__dict__["_checked"] = True

    def _durations(self) -> tuple[str, ...]:
        return ()

    def lock(self) -> None:
        """Freeze the parameters (the network calls this on its first request)."""
        self.__dict__["_locked"] = True

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self) -> str:
        return f"{self.name}({', '.join(f'{k}={_show(v)}' for k, v in self.params().items())})"

    def label(self) -> str:
        """Short id: the name and the main parameter, e.g. ``proxy_cutoff-30s``."""
        value = getattr(self, self.main, None) if self.main else None
        if value is None:
            return f"{self.name}-always" if self.main else self.name
        if self.main not in self._durations():
            return f"{self.name}-{value}"
        return f"{self.name}-{_show(value)}" if math.isinf(value) else f"{self.name}-{value:g}s"

    @classmethod
    def from_param(cls, param: Any = None) -> Scenario:
        """Build from an indirect-parametrization value: ``None``, a number, a dict, or an instance."""
        __tracebackhide__ = True  # a bad parameter: the user's line, not ours
        if param is None:
            return cls()
        if isinstance(param, cls):
            return dataclasses.replace(param)
        if isinstance(param, numbers.Real) and not isinstance(param, bool):
            return cls(**{cls.main: param})
        if isinstance(param, Mapping):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(param) - names)
            if unknown:
                raise ScenarioError(f"{cls.name}: unknown parameter(s) {unknown}; known: {sorted(names)}")
            return cls(**param)
        raise ScenarioError(
            f"{cls.name}: expected a number (its {cls.main}), a dict of parameters or a "
            f"{cls.__name__}, not {param!r}"
        )


_HINTS: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        try:
            _HINTS[cls] = typing.get_type_hints(cls)
        except Exception:  # an annotation that cannot be resolved: leave its check to the class
            _HINTS[cls] = {}
    return _HINTS[cls]


_SIMPLE = {float: "a number", int: "a whole number", str: "text (str)", bool: "True or False", type(None): "None"}


def _type_problem(value: Any, annotation: Any) -> str | None:
    """What ``value`` should be, when it does not fit ``annotation`` (simple types and their
    unions: ``float``, ``int | None`` ...; other annotations are not checked here)."""
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    allowed = typing.get_args(annotation) if union else (annotation,)
    if not allowed or not all(t in _SIMPLE for t in allowed):
        return None
    for t in allowed:
        if t is type(None) and value is None:
            return None
        if t is bool and isinstance(value, bool):
            return None
        if t is str and isinstance(value, str):
            return None
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return None
        if t is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return None
    return " or ".join(_SIMPLE[t] for t in allowed)


def check_status(scenario: Scenario, field: str) -> None:
    """An HTTP status a server or proxy answers with: a whole number from 100 to 599."""
    __tracebackhide__ = True  # a bad parameter: the user's line, not ours
    value = getattr(scenario, field)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ScenarioError(f"{scenario.name}: {field} must be an HTTP status (a whole number from 100 to 599), not {value!r}")


def check_header_text(scenario: Scenario, field: str) -> None:
    """Text sent in a response header (a ``server`` name, an error type): printable ASCII."""
    __tracebackhide__ = True  # a bad parameter: the user's line, not ours
    value = getattr(scenario, field)
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise ScenarioError(f"{scenario.name}: {field} must be non-empty printable ASCII text (it goes into a header), not {value!r}")


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "forever"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def _after_label(steps: list[Step], label: str, occurrence: int = 1) -> int | None:
    """Index just after the ``occurrence``-th body part labelled ``label`` (a list of steps)."""
    before, _, found = split_after(steps, label, occurrence)
    return len(before) if found else None


def delay_first_byte(steps: list[Step], seconds: float, ping_interval: float | None, note: str) -> list[Step]:
    """:func:`~.streams.delayed_first_byte` for a list of steps (a finite delay)."""
    return as_list(delayed_first_byte(steps, seconds, ping_interval, note), "delay_first_byte")


def _check_count(scenario: Scenario, field: str, value: Any, *, minimum: int) -> None:
    __tracebackhide__ = True  # a bad parameter: the user's line, not ours
    if value is None and field == "attempts":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(f"{scenario.name}: {field} must be a whole number >= {minimum}, not {value!r}")


def _applies(attempts: int | None, number: int) -> bool:
    return attempts is None or number <= attempts


def _after_deltas(steps: list[Step], deltas: int) -> int | None:
    """Where a stream is cut (a list of steps): after ``deltas`` text deltas (or its opening
    events)."""
    before, _, found = split_after(steps, "content_block_delta", deltas, AFTER_DELTAS_FALLBACK)
    return len(before) if found else None


def _split_body(steps: list[Step]) -> list[Step]:
    """:func:`~.streams.split_body` for a list of steps."""
    return list(split_body(steps))


def error_response(status: int, kind: str, message: str, ctx: AttemptContext, extra: Mapping[str, str] = {}) -> list[Step]:
    """The API's JSON error response (``{"type": "error", "error": {...}}``) for one attempt."""
    body = wire.error_body(kind, message)
    headers = wire.error_headers(f"req_sim_{ctx.number:06d}", body, extra)
    return [Head(status, headers, f"({kind})"), Data(body, "error body")]


def incomplete_body(sent: list[Step]) -> str:
    """httpcore's message when the peer closes (FIN) before the body's end, given the steps
    sent so far: a chunked body misses its final chunk, a sized one some bytes."""
    head = next((s for s in sent if isinstance(s, Head)), None)
    return incomplete_message(head, sum(body_bytes(s) for s in sent))


def incomplete_message(head: Head | None, received: int) -> str:
    """:func:`incomplete_body` from the response head and the body bytes received."""
    length = dict(head.headers).get("content-length") if head is not None else None
    if length is None:
        return INCOMPLETE_CHUNKED
    return f"peer closed connection without sending complete message body (received {received} bytes, expected {length})"


def reslice(steps: list[Step], size: int, gap: float = 0.0, note: str = "next slice") -> list[Step]:
    """The body cut into pieces of ``size`` bytes, whatever the event boundaries: each run
    of body parts sent together (no silence between them) is joined and cut again, with
    ``gap`` seconds between the pieces. A piece is labelled with the events it completes
    (joined by :data:`PART_JOIN`), or ``part of <event>`` when it completes none."""
    out: list[Step] = []
    run: list[Data] = []

    def flush() -> None:
        if not run:
            return
        payload = b"".join(d.payload for d in run)
        ends, at = [], 0
        for d in run:
            at += len(d.payload)
            ends.append((at, d.label))
        for start in range(0, len(payload), size):
            stop = min(start + size, len(payload))
            done = [label for end, label in ends if start < end <= stop]
            current = next(label for end, label in ends if end > start)
            if out and gap > 0 and isinstance(out[-1], Data):
                out.append(Idle(gap, note))
            out.append(Data(payload[start:stop], PART_JOIN.join(done) if done else f"part of {current}"))
        run.clear()

    for step in steps:
        if isinstance(step, Data):
            run.append(step)
            continue
        flush()
        out.append(step)
    flush()
    return out


class Responder(Protocol):
    """What answers a request before the scenarios shape it (the fake API, a test's own
    mock), and frames the shaped steps for the request's platform."""

    def respond(self, request: ApiRequest) -> list[Step]: ...

    def frame(self, request: ApiRequest, steps: Iterable[Step]) -> Iterable[Step]: ...


def shape(api: Responder, scenarios: Sequence[Scenario], request: ApiRequest, ctx: AttemptContext) -> Iterator[Step]:
    """The far side of one attempt, produced as it is read: the healthy API's steps,
    rewritten by each scenario by layer (server, then path, then the client's network).
    Client timeouts are not applied here: the simulated client side (``exchange.play``) or a
    real client does that. Nothing is computed before the first step is read."""
    steps: Iterable[Step] = api.respond(request)
    for scenario in sorted(scenarios, key=lambda s: s.layer):
        apply = cast("Callable[[Iterable[Step], AttemptContext], Iterable[Step]]", scenario.apply)
        if reads_stream(apply):
            steps = iter(steps)
        elif not isinstance(steps, list):  # (describe() only when it is needed: it costs)
            steps = as_list(steps, scenario.describe())
        steps = apply(steps, ctx)
    yield from api.frame(request, steps)


def connect_step(scenarios: Sequence[Scenario], api: FakeApi, number: int, host: str) -> Connect | None:
    """The first ``Connect`` step the scenarios give attempt ``number`` (``None``: the
    connection is made at once). It does not depend on the request, which does not exist
    yet when a connection is made: it is shaped for a placeholder request."""
    request = ApiRequest("POST", f"http://{host}/v1/messages", "/v1/messages", {})
    ctx = AttemptContext(number, 0, request, host, datetime.now(timezone.utc))
    steps = leading(shape(api.placeholder(), scenarios, request, ctx))
    return next((s for s in steps if isinstance(s, Connect)), None)
