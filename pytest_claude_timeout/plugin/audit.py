"""Config audit without writing tests: the ini option ``claude_timeout_clients`` lists client
factories (``module:function``); each gets items that build the client and make a
representative call, non-streaming and streaming, under every standard scenario."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from ..scenarios import Scenario, scenario_from_spec
from . import envelopes
from .evaluation import conclude, evaluate, pass_through
from .fixtures import network_options
from .marker import ID_PREFIX, MARKER, STANDARD_SCENARIOS, MarkerSpec, standard_labels

AUDIT_MODEL = "claude-sonnet-4-6"
AUDIT_PROMPT = [{"role": "user", "content": "Summarize the incident report in three bullet points."}]
PLACEHOLDER_KEY = "sk-ant-simulated-key"
CALLS = ("non-streaming", "streaming")


@contextlib.contextmanager
def _placeholder_key() -> Iterator[None]:
    """Clients refuse to build without an API key; lend one when none is set."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        yield
        return
    os.environ["ANTHROPIC_API_KEY"] = PLACEHOLDER_KEY
    try:
        yield
    finally:
        os.environ.pop("ANTHROPIC_API_KEY", None)


def check_spec(spec: str) -> tuple[str, str]:
    """``module:function`` -> (module, function), or ValueError. Imports nothing."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{spec!r} is not of the form module:function")
    return module_name, attr


def load_factory(spec: str) -> Any:
    """Import ``module:function``, or raise ValueError saying what is wrong with it."""
    module_name, attr = check_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:
        if isinstance(exc, pass_through()):
            raise
        raise ValueError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"{module_name!r} has no callable {attr!r}")
    return factory


def build_client(spec: str, factory: Any) -> Any:
    """Call the factory (inside the simulated network); ValueError says what went wrong:
    it raised, exited (``sys.exit``), reached for the network, or returned no client."""
    import anthropic

    with _placeholder_key():
        try:
            client = factory()
        except BaseException as exc:
            if isinstance(exc, pass_through()):
                raise
            what = "exited (SystemExit)" if isinstance(exc, SystemExit) else "failed"
            raise ValueError(f"calling {spec} {what}: {type(exc).__name__}: {exc}") from None
    if not isinstance(client, (anthropic.Anthropic, anthropic.AsyncAnthropic)):
        raise ValueError(f"{spec} returned {type(client).__name__}, not an anthropic.Anthropic or AsyncAnthropic client")
    return client


class ClientAudit(pytest.Collector):
    """All audit items of one client factory. Collecting imports and calls nothing: the
    factory is imported and called by each item, inside its simulated network."""

    def __init__(self, *, spec: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Item]:
        try:
            check_spec(self.spec)
        except ValueError as exc:
            raise self.CollectError(f"claude_timeout_clients: bad client factory {self.spec}: {exc}") from None
        scenarios = [scenario_from_spec(s) for s in STANDARD_SCENARIOS]
        return [
            ClientAuditItem.from_parent(self, name=f"{call}[{ID_PREFIX}{label}]", call=call, scenario=scenario, label=label)
            for call in CALLS
            for scenario, label in zip(scenarios, standard_labels())
        ]


class ClientAuditItem(pytest.Item):
    """Builds the client from its factory and makes one representative call."""

    def __init__(self, *, call: str, scenario: Scenario, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call, self.scenario, self.label = call, scenario, label
        self.add_marker(MARKER)

    def runtest(self) -> None:
        import anthropic

        from ..network.simulated import SimulatedNetwork

        assert isinstance(self.parent, ClientAudit)
        spec = self.parent.spec
        network = SimulatedNetwork(**network_options(self.config), seed=self.nodeid)
        scenario = network.add(dataclasses.replace(self.scenario))
        exc: BaseException | None = None
        with network:
            try:
                client = build_client(spec, load_factory(spec))
            except ValueError as problem:
                pytest.fail(f"claude_timeout_clients: bad client factory {spec}: {problem}", pytrace=False)
            try:
                if isinstance(client, anthropic.AsyncAnthropic):
                    network.run(self._acall(client))
                else:
                    self._call(client)
            except pass_through():
                raise
            except BaseException as error:  # judged below, whatever it is
                exc = error
        marker = MarkerSpec((scenario,))
        record, failure = evaluate(self.nodeid, self.label, marker, scenario, network, exc, network.elapsed)
        settings = envelopes.wanted(self.config, marker)
        if settings is not None:
            record["envelope"] = envelopes.search(self.config, settings, marker, self.scenario, self._caller(spec))
        conclude(self, (record, failure))

    def _caller(self, spec: str) -> Any:
        """The representative call as a function of the network (for the envelope's runs)."""
        import anthropic

        def call(network: Any) -> Any:  # a client per run, as the factory builds it
            client = build_client(spec, load_factory(spec))
            if isinstance(client, anthropic.AsyncAnthropic):
                return self._acall(client)
            return self._call(client)

        return call

    def _call(self, client: Any) -> None:
        if self.call == "streaming":
            with client.messages.stream(model=AUDIT_MODEL, max_tokens=1024, messages=AUDIT_PROMPT) as stream:
                stream.get_final_message()
        else:
            client.messages.create(model=AUDIT_MODEL, max_tokens=1024, messages=AUDIT_PROMPT)

    async def _acall(self, client: Any) -> None:
        if self.call == "streaming":
            async with client.messages.stream(model=AUDIT_MODEL, max_tokens=1024, messages=AUDIT_PROMPT) as stream:
                await stream.get_final_message()
        else:
            await client.messages.create(model=AUDIT_MODEL, max_tokens=1024, messages=AUDIT_PROMPT)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.parent.name}::{self.name}" if self.parent else self.name


def audit_collectors(session: pytest.Session) -> list[ClientAudit]:
    specs = session.config.getini("claude_timeout_clients")
    return [
        ClientAudit.from_parent(session, name=(name := f"claude_timeout_clients[{s}]"), nodeid=name, spec=s)
        for s in specs
    ]
