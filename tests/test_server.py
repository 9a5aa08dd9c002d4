"""The fault server on its own: loopback only, the real SDK (sync and async, streaming and
not) against it, its attempt records, the ``serve`` command, and the fixture."""

from __future__ import annotations

import asyncio
import email.utils
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import anthropic
import pytest
from conftest import MSG
from pytester_helpers import inner, run, sync_and_async  # noqa: F401 (inner: a fixture)

import pytest_claude_timeout as pct
from pytest_claude_timeout.server import sandbox
from pytest_claude_timeout.server.fault_server import FaultServer, parse_spec

SCALE = 0.01


def client_options(server: FaultServer, timeout: float = 60, **options: Any) -> dict[str, Any]:
    """The client's options for ``server``: its URL and timeouts in scenario seconds, scaled."""
    s = server.time_scale
    return {"api_key": "sk-ant-test", "base_url": server.base_url, "timeout": anthropic.Timeout(timeout * s, connect=5 * s), **options}


def one_call(server: FaultServer, is_async: bool, stream: bool, **options: Any) -> Any:
    """A messages call of the real SDK against ``server``; returns the message or the exception."""

    def sync() -> Any:
        client = anthropic.Anthropic(**client_options(server, **options))
        if stream:
            with client.messages.stream(**MSG) as s:
                return s.get_final_message()
        return client.messages.create(**MSG)

    async def run_async() -> Any:
        # Closed on the loop that opened it: left to the garbage collector, its connections
        # would be closed later on another (closed) loop.
        async with anthropic.AsyncAnthropic(**client_options(server, **options)) as client:
            if stream:
                async with client.messages.stream(**MSG) as s:
                    return await s.get_final_message()
            return await client.messages.create(**MSG)

    try:
        return asyncio.run(run_async()) if is_async else sync()
    except Exception as exc:  # the outcome under test
        return exc


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_refuses_a_host_that_is_not_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultServer(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    with FaultServer(host=host) as server:
        assert server.base_url.startswith("http://127.0.0.1:" if host != "::1" else "http://[::1]:")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_serves_a_healthy_request(is_async: bool, stream: bool) -> None:
    with FaultServer(time_scale=SCALE) as server:
        message = one_call(server, is_async, stream)
    assert isinstance(message, anthropic.types.Message), message
    assert message.content[0].text == pct.FakeApi().text  # type: ignore[union-attr]
    (attempt,) = server.attempts
    assert (attempt.status, attempt.phase, attempt.stream, attempt.retry_count) == (200, "done", stream, 0)
    assert attempt.timeouts.read == pytest.approx(60)  # scenario seconds: the header's 0.6 s, unscaled
    assert attempt.delivered[-1] == ("message_stop" if stream else "message")


def test_records_retried_attempts_in_scenario_seconds() -> None:
    with FaultServer(pct.SlowPrefill(75), time_scale=SCALE) as server:
        result = one_call(server, False, False, max_retries=1)
    assert isinstance(result, anthropic.APITimeoutError)
    assert [a.retry_count for a in server.attempts] == [0, 1]
    for attempt in server.attempts:
        assert attempt.phase == "headers" and attempt.status is None
        assert "client closed the connection" in attempt.outcome
    assert "attempt 2:" in server.timeline()


def test_a_stream_cut_by_a_proxy_is_a_close_without_the_final_chunk(stack: Any) -> None:
    with FaultServer(pct.ProxyCutoff(idle=30, ping_interval=None), time_scale=SCALE) as server:
        result = one_call(server, False, True)
    assert isinstance(result, stack.RemoteProtocolError), repr(result)
    (attempt,) = server.attempts
    assert (attempt.error, attempt.phase) == ("RemoteProtocolError", "body")


def test_retry_after_is_scaled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="anthropic._base_client")
    with FaultServer(pct.RateLimited(retry_after=20), time_scale=SCALE) as server:
        message = one_call(server, False, False)
    assert isinstance(message, anthropic.types.Message)
    first, second = server.attempts
    assert first.status == 429 and second.status == 200
    (wait,) = [r.args[1] for r in caplog.records if r.msg.startswith("Retrying request")]  # type: ignore[index]
    assert wait == pytest.approx(0.2)  # the SDK was told 20 scenario seconds, scaled


def test_unknown_paths_get_a_404() -> None:
    import urllib.request

    with FaultServer() as server:
        with pytest.raises(Exception, match="404"):
            urllib.request.urlopen(server.base_url + "/v1/files", timeout=5)
    assert server.unhandled == ["GET /v1/files"]
    assert server.attempts == []


def test_specs_with_parameters() -> None:
    assert parse_spec("dns_failure:kind=resolver_timeout,attempts=none") == pct.DnsFailure(attempts=None, kind="resolver_timeout")
    assert parse_spec("proxy_cutoff:30") == pct.ProxyCutoff(idle=30)
    with pytest.raises(pct.ScenarioError):
        parse_spec("proxy_cutoff:idle")


@pytest.mark.parametrize("spec", ["connection_refused", "connect_timeout", "dns_failure"])
def test_connect_phase_scenarios_need_the_resolver(spec: str) -> None:
    with pytest.raises(pct.ScenarioError, match="resolver=True"):
        FaultServer(spec)


def test_round_trip_times_cannot_be_played_on_loopback() -> None:
    with pytest.raises(pct.ScenarioError, match="round-trip"):
        FaultServer(pct.ForceFailure(rtt=0.05))
    FaultServer(pct.ForceFailure(rtt=0))  # nothing to add: loopback as it is


def test_serve_prints_its_url_and_stops_on_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_claude_timeout", "serve", "--scenario", "proxy_cutoff:60", "--time-scale", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0, timeout=anthropic.Timeout(1.2, connect=0.05))
        with pytest.raises(anthropic.InternalServerError) as info:
            client.messages.create(**MSG)
        assert info.value.status_code == 504
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "attempt 1:" in err and "504" in err


def test_serve_refuses_a_host_that_is_not_loopback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_claude_timeout", "serve", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_fixture_in_a_pytest_session(inner: pytest.Pytester) -> None:
    source = sync_and_async(
        "default",
        "claude_fault_server",
        """
        s = claude_fault_server.time_scale
        client = Client(api_key="sk-ant-test", base_url=claude_fault_server.base_url, timeout=anthropic.Timeout(60 * s, connect=5 * s))
        message = AWAIT client.messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert len(claude_fault_server.attempts) == 1
        """,
    ) + sync_and_async(
        "parametrized",
        "claude_fault_server",
        """
        s = claude_fault_server.time_scale
        assert s == 0.02
        client = Client(api_key="sk-ant-test", base_url=claude_fault_server.base_url, max_retries=0, timeout=anthropic.Timeout(60 * s, connect=5 * s))
        with pytest.raises(anthropic.InternalServerError):
            AWAIT client.messages.create(**MSG)
        (attempt,) = claude_fault_server.attempts
        assert attempt.status == 504 and attempt.end - attempt.start >= 29
        """,
        decorators='@pytest.mark.parametrize("claude_fault_server", [{"scenarios": "proxy_cutoff:30", "time_scale": 0.02}], indirect=True)',
    ) + """

@pytest.mark.parametrize("claude_fault_server", ["slow_prefill:5", [pct.SlowPrefill(5), "overloaded"]], indirect=True)
def test_specs_and_lists(claude_fault_server):
    assert claude_fault_server.scenarios[0] == pct.SlowPrefill(5)
"""
    result = run(inner, source)
    result.assert_outcomes(passed=6)


# -- before the connection: the resolver and the sandbox -----------------------------------

NO_SANDBOX = sandbox.unavailable()
UNDER_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
# Skipped on a machine without namespaces or root; under CI they run (and fail) instead.
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None and not UNDER_CI, reason=f"sandbox: {NO_SANDBOX}")

RESOLVE = """
import socket, sys
try:
    print(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], 80, 0, socket.SOCK_STREAM)}))
except socket.gaierror as exc:
    print(exc.errno)
"""


def resolve_in_sandbox(name: str, nameserver: Any) -> str:
    argv = sandbox.command([sys.executable, "-c", RESOLVE, name], nameserver, timeout=1, attempts=1)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@needs_sandbox
def test_the_resolver_plays_each_resolution_as_an_attempt() -> None:
    # Same layer: the later scenario wins where both act (attempt 1), as on the simulated network.
    with FaultServer(pct.ConnectionRefused(attempts=2), pct.DnsFailure(attempts=1), resolver=True) as server:
        assert server.resolver is not None
        results = [resolve_in_sandbox(server.resolver.hostname, server.resolver) for _ in range(3)]
    assert results == ["-2", f"['{server.resolver.refused}']", "['127.0.0.1']"]  # EAI_NONAME, refused, the server
    assert [(a.error, a.phase) for a in server.attempts] == [("ConnectError", "connect"), ("ConnectError", "connect")]


@needs_sandbox
def test_other_names_never_leave_the_machine() -> None:
    with FaultServer(resolver=True) as server:
        assert resolve_in_sandbox("example.com", server.resolver) == "-2"  # the stub's NXDOMAIN


@needs_sandbox
def test_a_refusing_resolver_is_what_glibc_sees_of_no_resolver() -> None:
    """``no_resolver`` answers REFUSED (the stub must serve later attempts): glibc gives the
    same EAI_AGAIN as with no resolver listening at all."""
    with FaultServer(pct.DnsFailure(kind="no_resolver"), resolver=True) as server:
        refused = resolve_in_sandbox(server.resolver.hostname, server.resolver)  # type: ignore[union-attr]
    nobody = resolve_in_sandbox("api.anthropic.invalid", "127.0.53.251")  # nothing listens there
    assert refused == nobody == str(socket.EAI_AGAIN)


@needs_sandbox
def test_refused_and_silent_addresses() -> None:
    with FaultServer(pct.ConnectTimeout(), resolver=True) as server:
        assert server.resolver is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.resolver.refused, server.port), timeout=5)
        with pytest.raises(socket.timeout):  # the SYN is dropped: only the client's timeout ends it
            socket.create_connection((server.resolver.blackhole, server.port), timeout=0.3)


@needs_sandbox
def test_connect_phase_scenarios_reach_a_sandboxed_sdk() -> None:
    script = (
        "import anthropic, sys\n"
        "client = anthropic.Anthropic(api_key='sk-ant-test', base_url=sys.argv[1], timeout=anthropic.Timeout(6, connect=0.05))\n"
        f"print(client.messages.create(**{MSG!r}).content[0].text)\n"
    )
    with FaultServer(pct.ConnectTimeout(), resolver=True) as server:
        assert server.resolver is not None
        argv = sandbox.command([sys.executable, "-c", script, server.resolver.url], server.resolver)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == pct.FakeApi().text, done.stderr
    first, second = server.attempts
    assert (first.phase, first.error, second.status) == ("connect", "ConnectTimeout", 200)


def test_waits_in_headers_are_scaled() -> None:
    from datetime import datetime, timedelta, timezone

    from pytest_claude_timeout.server.connection import scale_headers

    sent = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    now = datetime(2031, 6, 1, 8, 30, 0, 250000, tzinfo=timezone.utc)
    date = "Tue, 01 Jan 2030 12:01:40 GMT"  # 100 s after the scenario's moment
    headers = (("retry-after", "30"), ("retry-after-ms", "1500"), ("x-other", "30"))
    assert scale_headers(headers, 0.01, sent, now) == (("retry-after", "0.3"), ("retry-after-ms", "15"), ("x-other", "30"))
    ((_, scaled),) = scale_headers((("retry-after", date),), 0.1, sent, now)
    # 10 s after the real moment, rounded up to the date's whole second
    assert email.utils.parsedate_to_datetime(scaled) == (now + timedelta(seconds=10)).replace(microsecond=0) + timedelta(seconds=1)


def test_settle_waits_for_the_server_to_see_the_client_leave() -> None:
    with FaultServer(pct.StalledStream(), time_scale=SCALE) as server:
        result = one_call(server, False, True, timeout=30, max_retries=0)
        assert type(result).__name__ == "ReadTimeout"
        assert server.settle()
        (attempt,) = server.attempts
        assert attempt.phase == "body" and attempt.elapsed >= 29  # type: ignore[operator]
