"""The fault server against garbage: what is not a request it can read gets ``400`` and a
clean close (never a dropped connection with a thread's traceback); a fault of the server
itself is recorded and fails the test; ``serve`` checks its arguments."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import anthropic
import pytest
from conftest import MSG

import pytest_claude_timeout as pct
from pytest_claude_timeout.scenarios import SlowPrefill
from pytest_claude_timeout.server.fault_server import FaultServer

HEAD = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"

GARBAGE = {
    "not-http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello, TLS?\r\n\r\n",
    "header-not-utf8": HEAD + b"x-note: caf\xe9\r\n\r\n{}",
    "retry-count-superscript": HEAD + "x-stainless-retry-count: ²\r\n\r\n{}".encode(),
    "retry-count-text": HEAD + b"x-stainless-retry-count: two\r\n\r\n{}",
    "timeout-header-text": HEAD + b"x-stainless-read-timeout: soon\r\n\r\n{}",
    "content-length-text": b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n",
    "bad-header-line": b"POST /v1/messages HTTP/1.1\r\nno colon here\r\n\r\n",
}


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException]]:
    """Exceptions that end a thread unhandled, while the test runs."""
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment,arg-type,misc]
    yield errors
    threading.excepthook = previous


def _exchange(server: FaultServer, data: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            received += chunk
    return received


@pytest.mark.parametrize("data", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_gets_400_and_a_clean_close(data: bytes, thread_errors: list[BaseException]) -> None:
    with FaultServer() as server:
        answer = _exchange(server, data)
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.base_url, max_retries=0)
        assert client.messages.create(**MSG).content  # still serving
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b'"invalid_request_error"' in answer
    assert len(server.rejected) == 1, server.rejected
    assert server.faults == []
    assert thread_errors == []


class Buggy(SlowPrefill):
    """Fails on a real request (the server shapes placeholder requests, without a body, to
    check its scenarios at construction)."""

    def apply(self, steps, ctx):  # type: ignore[no-untyped-def]
        if ctx.request.body:
            raise RuntimeError("a bug of the scenario")
        return steps


def test_a_fault_of_the_server_is_recorded_not_raised_in_its_thread(thread_errors: list[BaseException]) -> None:
    with FaultServer(Buggy()) as server:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.base_url, max_retries=0)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(**MSG)
    assert thread_errors == []
    assert len(server.faults) == 1
    assert isinstance(server.faults[0], pct.HarnessError)
    assert "RuntimeError: a bug of the scenario" in str(server.faults[0])
    assert server.attempts[0].error == "ServerError"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "99999"], "argument --port: expected a TCP port from 0 (any free port) to 65535, not '99999'"),
        (["--port", "http"], "argument --port: expected a TCP port from 0 (any free port) to 65535, not 'http'"),
        (["--time-scale", "0"], "argument --time-scale: expected a positive number of real seconds per scenario second, not '0'"),
        (["--time-scale", "inf"], "argument --time-scale: expected a positive number of real seconds per scenario second, not 'inf'"),
        (["--scenario", "proxy_cutoff:status=abc"], "error: proxy_cutoff: status must be a whole number, not 'abc'"),
        (["--scenario", "slow_prefil"], "error: unknown scenario 'slow_prefil'"),
        (["--host", "0.0.0.0"], "error: the fault server binds to loopback only; 0.0.0.0 is not a loopback address"),
    ],
    ids=["port-too-large", "port-text", "time-scale-zero", "time-scale-inf", "bad-parameter", "unknown-scenario", "public-host"],
)
def test_serve_checks_its_arguments(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_claude_timeout", "serve", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.strip().splitlines()[-1], done.stderr
    assert "Traceback" not in done.stderr
