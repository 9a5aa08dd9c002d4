"""The Node.js SDK (``@anthropic-ai/sdk``) against the fault server, over real sockets.

``node/claude_call.mjs`` makes one call with the real Node SDK and prints what happened
as JSON lines. The SDK comes from the folder named by ``CLAUDE_TIMEOUT_NODE_SDK`` (``.ci/run``
fills ``.ci-node/`` with ``npm install``); without it the tests skip, or fail under CI.

The Node SDK's ``timeout`` (milliseconds) is a timer around ``fetch()``, which resolves
at the response headers: it bounds connecting and waiting for the headers, and nothing
after. What each test asserts is what the SDK really does; a stalled body is bounded by
the test (the process is killed), and the test records how long it hung.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pytest_claude_timeout as pct
from pytest_claude_timeout.server.fault_server import FaultServer

try:
    from . import required
except ImportError:
    import required  # type: ignore[no-redef]  # rootdir-relative imports (no __init__.py)

SCALE = 0.02
"""Real seconds per scenario second: a 60 s timeout is 1200 ms, a 75 s prefill 1.5 s."""
HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "node" / "claude_call.mjs"
ROOT = HERE.parent.parent
SDK_ENV = "CLAUDE_TIMEOUT_NODE_SDK"


def sdk_folder() -> str | None:
    """The folder holding ``node_modules/@anthropic-ai/sdk``: ``$CLAUDE_TIMEOUT_NODE_SDK``,
    else ``.ci-node/`` in the checkout (where ``.ci/run`` installs it)."""
    for candidate in (os.environ.get(SDK_ENV), str(ROOT / ".ci-node")):
        if candidate and (Path(candidate) / "node_modules" / "@anthropic-ai" / "sdk").is_dir():
            return candidate
    return None


@pytest.fixture(scope="module")
def node(pytestconfig: pytest.Config) -> tuple[str, str]:
    """``(node binary, SDK folder)``; skips locally if either is missing, fails under CI."""
    binary = required.require(shutil.which("node"), "node (Node.js)", "install Node.js 18 or later")
    folder = required.require(
        sdk_folder(), "the Node SDK", f"run `npm install --prefix .ci-node @anthropic-ai/sdk@1` or set {SDK_ENV}"
    )
    package = json.loads((Path(folder) / "node_modules" / "@anthropic-ai" / "sdk" / "package.json").read_text())
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    required.announce(pytestconfig, f"conformance: node {version}, @anthropic-ai/sdk {package['version']} ({folder})")
    return binary, folder


@dataclass
class NodeRun:
    """What one run of ``claude_call.mjs`` printed, and whether it finished in time."""

    finished: bool
    wall: float
    """Real seconds until the process ended or was killed."""
    events: list[str] = field(default_factory=list)
    """Stream events printed as they arrived (kept even when the process was killed)."""
    result: dict[str, Any] = field(default_factory=dict)
    """The closing line (empty if the process was killed first)."""
    stderr: str = ""

    @property
    def outcome(self) -> str:
        if not self.finished:
            return "hung"
        return "ok" if self.result.get("outcome") == "success" else str(self.result.get("error"))


def run_node(
    node: tuple[str, str], base_url: str, *, timeout: float, stream: bool, max_retries: int = 1, bound: float = 30.0
) -> NodeRun:
    """One call with the Node SDK: ``timeout`` in scenario seconds (scaled, in ms), killed
    after ``bound`` real seconds."""
    binary, folder = node
    ms = max(1, round(timeout * SCALE * 1000))
    argv = [binary, str(SCRIPT), folder, base_url, str(ms), str(max_retries), "stream" if stream else "plain"]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=bound)
        finished = True
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        finished = False
    run = NodeRun(finished, time.monotonic() - started, stderr=err)
    for line in out.splitlines():
        record = json.loads(line)
        if "event" in record:
            run.events.append(record["event"])
        else:
            run.result = record
    assert not finished or run.result, f"claude_call.mjs printed no outcome:\n{out}\n{err}"
    return run


def served(*scenarios: pct.Scenario | str) -> FaultServer:
    return FaultServer(*scenarios, time_scale=SCALE)


OPENING = ["message_start", "content_block_start"]


def test_slow_prefill_past_the_timeout_times_out_on_every_attempt(node: tuple[str, str]) -> None:
    with served(pct.SlowPrefill(75)) as server:
        run = run_node(node, server.base_url, timeout=60, stream=False, max_retries=1)
    assert run.outcome == "APIConnectionTimeoutError", (run, server.timeline())
    assert len(server.attempts) == 2
    for attempt in server.attempts:  # the Node SDK gave up at its timeout, before the answer
        # (its timer starts before the request reaches the server: a little under 60 s here)
        assert attempt.elapsed is not None and 55 <= attempt.elapsed < 75, server.timeline()


def test_slow_prefill_within_the_timeout_answers(node: tuple[str, str]) -> None:
    with served(pct.SlowPrefill(75)) as server:
        run = run_node(node, server.base_url, timeout=120, stream=False)
    assert run.outcome == "ok", (run, server.timeline())
    assert run.result["text"] == pct.FakeApi().text
    assert len(server.attempts) == 1


def test_timeout_stops_at_the_headers_so_a_silent_stream_still_answers(node: tuple[str, str]) -> None:
    """A 75 s silence without pings after ``message_start``: past a 60 s timeout, yet the
    Node SDK waits it out (its timer stopped at the headers), where the Python SDK's read
    timeout raises ``ReadTimeout`` mid-stream."""
    with served(pct.SlowPrefill(75, ping_interval=None)) as server:
        run = run_node(node, server.base_url, timeout=60, stream=True)
    assert run.outcome == "ok", (run, server.timeline())
    assert run.events[:2] == OPENING and run.events[-1] == "message_stop"
    assert len(server.attempts) == 1
    assert server.attempts[0].elapsed is not None and server.attempts[0].elapsed >= 75


def test_stalled_stream_hangs_the_node_sdk(node: tuple[str, str]) -> None:
    """A stream that stops after two deltas: the Node SDK's timeout does not cover the body,
    so the call hangs (until undici's own 300 s ``bodyTimeout``, real time). Bounded here
    at 4 x its timeout, then killed."""
    timeout = 60
    bound = 4 * timeout * SCALE
    with served(pct.StalledStream(deltas=2)) as server:
        run = run_node(node, server.base_url, timeout=timeout, stream=True, bound=bound)
        timeline = server.timeline()
    assert not run.finished, f"the Node SDK finished a stalled stream: {run}\n{timeline}"
    assert run.wall >= bound
    assert run.events == [*OPENING, "content_block_delta", "content_block_delta"], timeline
    assert len(server.attempts) == 1


def test_proxy_cutoff_before_headers_is_a_retried_504(node: tuple[str, str]) -> None:
    with served("proxy_cutoff:60") as server:
        run = run_node(node, server.base_url, timeout=600, stream=False, max_retries=1)
    assert (run.outcome, run.result.get("status")) == ("GatewayTimeoutError", 504), (run, server.timeline())
    assert "504 Gateway Time-out" in run.result["message"]
    assert len(server.attempts) == 2


def test_proxy_cutoff_mid_stream_raises_from_the_iteration(node: tuple[str, str]) -> None:
    """The proxy closes a stream idle for 30 s after ``message_start`` (FIN, no final
    chunk): undici's ``TypeError: terminated`` (cause: ``SocketError: other side closed``)
escapes the iteration, not an ``APIError``, and is not retried."""
    with served(pct.ProxyCutoff(30, upstream=75, ping_interval=None)) as server:
        run = run_node(node, server.base_url, timeout=600, stream=True, max_retries=1)
    assert run.events == ["message_start"], (run, server.timeline())
    assert (run.outcome, run.result["message"]) == ("TypeError", "terminated"), run
    assert any("other side closed" in cause for cause in run.result["causes"]), run
    assert len(server.attempts) == 1


def test_truncated_stream_ends_without_error(node: tuple[str, str]) -> None:
    """A stream that ends cleanly after two deltas, without ``message_stop``: the Node SDK
    reports success with a partial text, as the Python SDK does (silent data loss)."""
    with served(pct.TruncatedStream(deltas=2)) as server:
        run = run_node(node, server.base_url, timeout=600, stream=True)
    assert run.outcome == "ok", (run, server.timeline())
    assert run.events == [*OPENING, "content_block_delta", "content_block_delta"]


def test_proxy_cutoff_with_pings_streams_through(node: tuple[str, str]) -> None:
    with served(pct.ProxyCutoff(30, upstream=75, ping_interval=10)) as server:
        run = run_node(node, server.base_url, timeout=600, stream=True)
    assert run.outcome == "ok", (run, server.timeline())
    assert run.events[-1] == "message_stop"


def test_rate_limited_honours_retry_after(node: tuple[str, str]) -> None:
    """A 429 with ``retry-after: 30`` (scaled by the fault server to 0.6 s): the Node SDK
    waits that long, then retries and gets the answer."""
    with served(pct.RateLimited(retry_after=30)) as server:
        run = run_node(node, server.base_url, timeout=600, stream=False, max_retries=1)
    assert run.outcome == "ok", (run, server.timeline())
    first, second = server.attempts
    assert first.status == 429
    assert first.end is not None and second.start - first.end >= 30, server.timeline()


def test_rate_limited_every_attempt_ends_in_rate_limit_error(node: tuple[str, str]) -> None:
    with served(pct.RateLimited(retry_after=1, attempts=None)) as server:
        run = run_node(node, server.base_url, timeout=600, stream=False, max_retries=1)
    assert (run.outcome, run.result.get("status")) == ("RateLimitError", 429), (run, server.timeline())
    assert len(server.attempts) == 2


def test_connection_refused_is_a_connection_error(node: tuple[str, str]) -> None:
    with served() as server:  # a port that was just free: nothing listens there now
        url = server.base_url
    run = run_node(node, url, timeout=600, stream=False, max_retries=0)
    assert run.outcome == "APIConnectionError", run
    assert any("ECONNREFUSED" in cause for cause in run.result["causes"]), run


README_SECTION = "### Testing a Node.js client with the fault server"


def test_readme_node_example(node: tuple[str, str], tmp_path: Path) -> None:
    """README.md's Node example, as written: its ``serve`` command, then its script with
    ``ANTHROPIC_BASE_URL`` set to the URL the command printed."""
    readme = (ROOT / "README.md").read_text()
    assert README_SECTION in readme, f"README.md has no section {README_SECTION!r}"
    section = readme.split(README_SECTION, 1)[1].split("\n#", 1)[0]
    command = re.search(r"^```sh\n(python -m pytest_claude_timeout serve [^\n]*)\n", section, re.M)
    script = re.search(r"^```js\n(.*?)^```", section, re.S | re.M)
    assert command and script, "the section shows a ```sh serve command and a ```js script"
    (tmp_path / "node_modules").symlink_to(Path(node[1]) / "node_modules")
    (tmp_path / "check_timeout.mjs").write_text(script.group(1))
    argv = [sys.executable, *shlex.split(command.group(1))[1:]]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        assert url.startswith("http://127.0.0.1:"), url
        env = {**os.environ, "ANTHROPIC_BASE_URL": url}
        done = subprocess.run(
            [node[0], "check_timeout.mjs"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        server.terminate()
        _, timeline = server.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("timed out:"), (done.stdout, timeline)
    assert "attempt 2:" in timeline and "attempt 3:" not in timeline, timeline
