"""Conformance: every catalog scenario, run twice with the same real SDK, once on the
simulated network in virtual time and once against the fault server over real sockets,
must end the same way.

What must agree:

* the outcome: success (``ok``), a partial message, or the exception's class;
* the number of attempts (the simulated network's records, the fault server's records);
* the stream events the client received, before a failure too;
* the SDK's waits between attempts: its own backoff (both runs seed ``random`` alike, so
  the jitter is the same; real time, never scaled) or the server's ``retry-after`` (scaled);
* the time on the network: the elapsed time minus the SDK's waits, virtual seconds against
  real seconds / time scale, within :data:`TOLERANCE_MS` of real time plus
  :data:`TOLERANCE_REL` (loopback scheduling: thread wake-ups, the SDK's own work per
  attempt, a busy CI machine); and each attempt's duration as the server recorded it
  against the simulated network's record, within the same tolerance.

Where the real run disagrees, the simulation is wrong and is fixed; the tolerance is not
widened to hide it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import pytest
from conformance_cases import CASES, Case
from conformance_client import ClientRun, run_call, warm_up
from conformance_table import ROWS, Row, conformance_table  # noqa: F401 (a fixture: writes the table)
from required import under_ci

import pytest_claude_timeout as pct
from pytest_claude_timeout.server import sandbox
from pytest_claude_timeout.server.fault_server import FaultServer

pytestmark = pytest.mark.usefixtures("conformance_table")

TOLERANCE_MS = 50.0
"""Allowed difference in network time per attempt, in real milliseconds (5 scenario
seconds at the time scale 0.01). Each attempt costs the real client work that takes no
virtual time: building the request, opening a connection (the async client resolves even
127.0.0.1 in a worker thread of a fresh event loop), parsing; measured at 5 to 30 ms on
an idle 2-core machine, more when other test runs share it; and threads wake late."""
TOLERANCE_REL = 0.05
"""Plus this fraction of the virtual network time."""
HORIZON = 86400.0
BOUND = 60.0
"""Safety bound of a real run, in real seconds."""
LINE = f"anthropic {anthropic.__version__}"
CLIENT = Path(__file__).with_name("conformance_client.py")
NO_SANDBOX = sandbox.unavailable()
"""Why the sandbox cannot run here (``None``: it can)."""


@dataclasses.dataclass
class Run:
    client: ClientRun
    attempts: list[pct.Attempt]
    timeline: str

    def network(self, scale: float) -> float:
        """Scenario seconds spent on the network: elapsed minus the SDK's waits."""
        waits = sum(self.client.waits)
        return (self.client.elapsed - waits) / scale


def fresh(scenario: pct.Scenario) -> pct.Scenario:
    return dataclasses.replace(scenario)


def virtual_run(case: Case, mode: str, seed: str) -> Run:
    with pct.SimulatedNetwork(fresh(case.scenario), seed=seed, horizon=HORIZON) as net:
        client = run_call(
            mode, case.stream, case.options, seed=seed, bound=HORIZON, runner=net.run,
            clock=lambda: net.elapsed, concurrent=case.concurrent, prompt_bytes=case.prompt_bytes,
        )
    return Run(client, list(net.attempts), net.timeline())


def real_run(case: Case, mode: str, seed: str) -> Run:
    if case.where == "sandbox":
        return sandboxed_run(case, mode, seed)
    with FaultServer(fresh(case.scenario), time_scale=case.scale) as server:
        client = run_call(
            mode, case.stream, case.options, seed=seed, bound=BOUND, scale=case.scale,
            base_url=server.base_url, concurrent=case.concurrent, prompt_bytes=case.prompt_bytes,
        )
        server.settle()
    return Run(client, list(server.attempts), server.timeline())


def sandboxed_run(case: Case, mode: str, seed: str) -> Run:
    """The client in a subprocess whose only resolver is the fault server's DNS stub;
    the resolver library's timeout is scaled like everything else (glibc counts whole
    seconds, hence the time scale of these cases)."""
    glibc = sandbox.GLIBC_TIMEOUT * case.scale
    if getattr(case.scenario, "kind", None) == "resolver_timeout":
        assert glibc == int(glibc), f"time scale {case.scale} must make glibc's 5 s timeout whole seconds"
    glibc = max(1, round(glibc))
    with FaultServer(fresh(case.scenario), time_scale=case.scale, resolver=True) as server:
        assert server.resolver is not None
        spec = {
            "mode": mode, "stream": case.stream, "options": case.options, "seed": seed, "bound": BOUND,
            "scale": case.scale, "base_url": server.resolver.url, "prompt_bytes": case.prompt_bytes,
        }
        argv = sandbox.command([sys.executable, str(CLIENT), json.dumps(spec)], server.resolver, timeout=int(glibc))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=BOUND + 60)
        server.settle()
    assert done.returncode == 0, done.stderr[-3000:]
    client = ClientRun(**json.loads(done.stdout.strip().splitlines()[-1]))
    return Run(client, list(server.attempts), server.timeline())


def tolerance(case: Case, virtual_seconds: float, attempts: int = 1) -> float:
    return max(attempts, 1) * TOLERANCE_MS / 1000 / case.scale + TOLERANCE_REL * abs(virtual_seconds)


def on_the_wire(attempts: list[pct.Attempt]) -> list[pct.Attempt]:
    """The attempts that left the client: not those that timed out waiting for a
    connection of the client's own pool (the simulated network records them, a server
    never sees them)."""
    return [a for a in attempts if a.error != "PoolTimeout"]


def events(run: ClientRun) -> str:
    deltas = run.events.count("content_block_delta")
    return f"{len(run.events)} ({deltas} deltas)" if run.events else "-"


def waits_agree(case: Case, virtual: list[float], real: list[float]) -> bool:
    """Each wait is the SDK's own backoff (same seed: the same jitter, real time) or a
    server's retry-after (scaled by the server)."""
    if len(virtual) != len(real):
        return False
    return all(
        math.isclose(r, v, rel_tol=1e-6, abs_tol=1e-6)
        or math.isclose(r, v * case.scale, rel_tol=1e-3, abs_tol=max(1e-3, case.wait_tolerance))
        for v, r in zip(virtual, real)
    )


def elapsed(run: Run, scale: float, real: bool) -> str:
    net = run.network(scale if real else 1.0)
    text = f"{net:.2f} s (+ {sum(run.client.waits):.2f} s)" if run.client.waits else f"{net:.2f} s"
    return f"{text} [{run.client.elapsed:.3f} s]" if real else text


def record(case: Case, mode: str, virtual: Run, real: Run | None, verdict: str) -> None:
    v, r = virtual.client, real.client if real else None
    ROWS.append(
        Row(
            scenario=case.scenario.describe(),
            line=LINE,
            mode="async" if mode == "aiohttp" else mode,
            streaming="yes" if case.stream else "no",
            client=CLIENT_NAMES.get(mode, "") + case.client() + (f"; time scale {case.scale:g}" if case.scale != 0.01 else ""),
            virtual=f"{v.outcome} ({v.detail})" if v.detail else v.outcome,
            real=("-" if r is None else f"{r.outcome} ({r.detail})" if r.detail else r.outcome),
            attempts=f"{len(on_the_wire(virtual.attempts))}/{'-' if real is None else len(real.attempts)}",
            events=f"{events(v)} / {'-' if r is None else events(r)}",
            elapsed_virtual=elapsed(virtual, case.scale, False),
            elapsed_real="-" if real is None else elapsed(real, case.scale, True),
            verdict=verdict,
        )
    )


CLIENT_NAMES = {"aiohttp": "**aiohttp** (`DefaultAioHttpClient`): "}
"""The client column names the HTTP client where it is not the SDK's default."""

TIMING_PROBLEMS = ("network time:", "attempt ")
"""How :func:`compare` words a disagreement of elapsed time (and of nothing else)."""


def compare(case: Case, virtual: Run, real: Run) -> list[str]:
    """What disagrees (empty: the runs agree)."""
    v, r = virtual.client, real.client
    problems = []
    if v.outcome != r.outcome:
        problems.append(f"outcome: virtual {v.outcome} ({v.detail}), real {r.outcome} ({r.detail})")
    sent = on_the_wire(virtual.attempts)
    if len(sent) != len(real.attempts):
        problems.append(f"attempts: virtual {len(sent)}, real {len(real.attempts)}")
    if (v.unslept is None) != (r.unslept is None) or (
        v.unslept is not None and r.unslept is not None and not math.isclose(r.unslept, v.unslept * case.scale, rel_tol=1e-3)
    ):
        problems.append(f"wait past the bound: virtual {v.unslept}, real {r.unslept}")
    if v.events != r.events:
        problems.append(f"events: virtual {v.events}, real {r.events}")
    if not waits_agree(case, v.waits, r.waits):
        problems.append(f"SDK waits: virtual {v.waits}, real {r.waits}")
    vn, rn = virtual.network(1.0), real.network(case.scale)
    # Each call costs the client real work, on the wire or not (a call waiting in aiohttp's
    # own pool is no attempt of the network; one waiting in httpcore's is).
    allowed = tolerance(case, vn, max(len(virtual.attempts), case.concurrent[0] if case.concurrent else 0))
    if abs(vn - rn) > allowed:
        problems.append(f"network time: virtual {vn:.3f} s, real {rn:.3f} s (tolerance {allowed:.3f} s)")
    for va, ra in zip(sent, real.attempts):
        if "during the upload" in ra.outcome:
            continue  # the server sees that close late, after the bytes the client had buffered
        if va.elapsed is not None and ra.elapsed is not None and abs(va.elapsed - ra.elapsed) > tolerance(case, va.elapsed):
            problems.append(f"attempt {va.number}: virtual {va.elapsed:.3f} s, real {ra.elapsed:.3f} s")
    return problems


@pytest.fixture(scope="module", autouse=True)
def warmed_up() -> None:
    warm_up()


def _params() -> list[Any]:
    return [pytest.param(case, mode, id=f"{case.id}-{mode}") for case in CASES for mode in case.modes]


@pytest.mark.parametrize(("case", "mode"), _params())
def test_virtual_and_real_agree(case: Case, mode: str) -> None:
    seed = f"conformance:{case.id}:{mode}"
    virtual = virtual_run(case, mode, seed)
    reason = case.not_playable or (NO_SANDBOX if case.where == "sandbox" else None)
    if reason and not case.not_playable and under_ci():
        pytest.fail(f"the sandbox cannot run here: {reason} (CI is set: connect-phase cases must run)", pytrace=False)
    if reason:
        record(case, mode, virtual, None, f"not playable on real sockets: {reason}")
        pytest.skip(reason)
    real = real_run(case, mode, seed)
    problems = compare(case, virtual, real)
    if problems and all(p.startswith(TIMING_PROBLEMS) for p in problems):
        # Only the timing disagrees: measure the real run once more. A loaded 2-core CI
        # machine sometimes leaves a thread unscheduled for tens of milliseconds, far past
        # the tolerance, and such a pause does not repeat; a wrong model does. Outcomes,
        # attempts and events are never measured twice.
        real = real_run(case, mode, seed)
        problems = compare(case, virtual, real)
    record(case, mode, virtual, real, "agree" if not problems else "DISAGREE: " + "; ".join(problems))
    assert not problems, "\n".join([*problems, "", "virtual:", virtual.timeline, "", "real:", real.timeline])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_force_failure_on_loopback(mode: str) -> None:
    """The seed's check "``timeout=0.001`` must fail at once", on loopback (no round trip,
    ``force_failure`` with ``rtt=0``): the simulation answers at once, so the call succeeds;
    over real sockets the 1 ms read timeout races the server's own work (well under a
    millisecond, plus name resolution in a thread for the async client), so the check
    sometimes fails and often does not: it proves nothing on loopback. Played 20 times in
    real time (time scale 1). A race has no single outcome to assert: the row reports the
    real outcomes and whether the virtual one is among them; the test asserts only that
    every real outcome is one of the two (success, or a timeout)."""
    case = Case(pct.ForceFailure(rtt=0), False, options={"timeout": 0.001, "max_retries": 0}, scale=1.0)
    virtual = virtual_run(case, mode, "force-failure")
    outcomes: list[str] = []
    with FaultServer(fresh(case.scenario), time_scale=1.0) as server:
        for i in range(20):
            run = run_call(mode, False, case.options, seed=f"force-failure-{i}", bound=BOUND, base_url=server.base_url)
            outcomes.append(f"{run.outcome} ({run.detail})" if run.outcome != "ok" else "ok")
    counts = ", ".join(f"{outcome} {outcomes.count(outcome)}/20" for outcome in sorted(set(outcomes)))
    agree = virtual.client.outcome in outcomes
    last = run
    record(case, mode, virtual, Run(last, [], ""), "agree: the virtual outcome is among the real ones" if agree else "DISAGREE")
    ROWS[-1].real = counts
    ROWS[-1].attempts = f"{len(virtual.attempts)}/1 each"
    ROWS[-1].elapsed_real = f"(last of 20) {ROWS[-1].elapsed_real}"
    assert {o.split(" ")[0] for o in outcomes} <= {"ok", "APITimeoutError"}, counts


def test_every_catalog_scenario_has_a_case() -> None:
    covered = {case.scenario.name for case in CASES} | {"force_failure"}  # + the loopback race above
    assert covered == set(pct.SCENARIOS)
