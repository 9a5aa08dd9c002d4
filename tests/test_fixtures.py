"""The fixtures in inner pytest sessions (pytester): each scenario fixture and
``claude_network``, sync and async, indirect parametrization, parameters set before the
first request, bad parameters, and the virtual horizon's option and ini setting."""

from __future__ import annotations

import re

import pytest
from pytester_helpers import INI, inner, run, sync_and_async  # noqa: F401 (inner: a fixture)

# What each fixture does to the real SDK, checked inside the inner test.
FIXTURE_BODIES = {
    "slow_prefill": """
        assert claude_network.scenarios == [slow_prefill]
        assert isinstance(slow_prefill, pct.SlowPrefill)
        with pytest.raises(anthropic.APITimeoutError):
            AWAIT Client(api_key="sk-ant-test", timeout=60).messages.create(**MSG)
        assert len(claude_network.attempts) == 3
        assert 181 <= claude_network.elapsed <= 182
    """,
    "stalled_stream": """
        assert claude_network.scenarios == [stalled_stream]
        received = []
        with pytest.raises(stack.ReadTimeout):
            ASYNC with Client(api_key="sk-ant-test", timeout=30).messages.stream(**MSG) as stream:
                ASYNC for text in stream.text_stream:
                    received.append(text)
        assert received == ["Timeouts ", "are "]
        assert len(claude_network.attempts) == 1
        assert claude_network.elapsed == 30
    """,
    "proxy_cutoff": """
        assert claude_network.scenarios == [proxy_cutoff]
        with pytest.raises(anthropic.InternalServerError) as info:
            AWAIT Client(api_key="sk-ant-test").messages.create(**MSG)
        assert info.value.status_code == 504
        assert len(claude_network.attempts) == 3
    """,
    "dns_failure": """
        assert claude_network.scenarios == [dns_failure]
        message = AWAIT Client(api_key="sk-ant-test").messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert [a.error for a in claude_network.attempts] == ["ConnectError", None]
    """,
    "claude_network": """
        assert claude_network.scenarios == []
        assert claude_network.horizon == 86400
        message = AWAIT Client(api_key="sk-ant-test").messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert len(claude_network.attempts) == 1
        assert claude_network.elapsed == 0
    """,
}


@pytest.mark.parametrize("fixture", list(FIXTURE_BODIES))
def test_fixture_sync_and_async(inner: pytest.Pytester, fixture: str) -> None:
    params = fixture if fixture == "claude_network" else f"{fixture}, claude_network"
    result = run(inner, sync_and_async(fixture, params, FIXTURE_BODIES[fixture]))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*::test_{fixture}_sync PASSED*", f"*::test_{fixture}_async PASSED*"])


def test_indirect_parametrization_with_numbers_and_dicts(inner: pytest.Pytester) -> None:
    numbers = sync_and_async(
        "number",
        "proxy_cutoff, claude_network, request",
        """
        assert proxy_cutoff.idle == request.node.callspec.params["proxy_cutoff"]
        with pytest.raises(anthropic.InternalServerError):
            AWAIT Client(api_key="sk-ant-test", max_retries=0).messages.create(**MSG)
        assert claude_network.attempts[0].end == proxy_cutoff.idle  # the proxy's 504 at its cutoff
        """,
        decorators='@pytest.mark.parametrize("proxy_cutoff", [30, 60], indirect=True)',
    )
    dicts = sync_and_async(
        "dict",
        "proxy_cutoff, claude_network",
        """
        assert (proxy_cutoff.idle, proxy_cutoff.upstream) == (30, 20)
        message = AWAIT Client(api_key="sk-ant-test").messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert claude_network.elapsed == 20  # the upstream answered before the cutoff
        """,
        decorators='@pytest.mark.parametrize("proxy_cutoff", [{"idle": 30, "upstream": 20}], indirect=True)',
    )
    result = run(inner, numbers + dicts)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines_random(
        [
            "*::test_number_sync[[]30[]] PASSED*",
            "*::test_number_sync[[]60[]] PASSED*",
            "*::test_number_async[[]30[]] PASSED*",
            "*::test_number_async[[]60[]] PASSED*",
            "*::test_dict_sync[[]proxy_cutoff0[]] PASSED*",
            "*::test_dict_async[[]proxy_cutoff0[]] PASSED*",
        ]
    )


def test_parameter_changed_before_the_first_request(inner: pytest.Pytester) -> None:
    source = sync_and_async(
        "changed",
        "slow_prefill, claude_network",
        """
        slow_prefill.seconds = 20
        message = AWAIT Client(api_key="sk-ant-test", timeout=30).messages.create(**MSG)
        assert message.content[0].text == TEXT
        assert len(claude_network.attempts) == 1
        assert claude_network.elapsed == 20
        with pytest.raises(pct.ScenarioError, match="after the network served its first request"):
            slow_prefill.seconds = 5
        """,
    )
    run(inner, source).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "param, message",
    [
        ('"soon"', "slow_prefill: expected a number (its seconds), a dict of parameters or a SlowPrefill, not 'soon'"),
        ("-5", "slow_prefill: seconds must be a non-negative number of seconds, not -5"),
        ('{"secs": 5}', "slow_prefill: unknown parameter(s) ['secs']; known: ['ping_interval', 'seconds']"),
    ],
    ids=["string", "negative", "unknown-key"],
)
def test_bad_indirect_parameter_is_a_setup_error(inner: pytest.Pytester, param: str, message: str) -> None:
    source = f"""

@pytest.mark.parametrize("slow_prefill", [{param}], indirect=True)
def test_never_runs(slow_prefill):
    raise AssertionError("the test body ran")
"""
    result = run(inner, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_never_runs*"])
    # One line naming the test, the fixture and the parameter; no traceback through the plugin.
    assert re.search(rf"test_inner.py::test_never_runs\[.*\]: bad slow_prefill parameter .*: {re.escape(message)}", result.stdout.str())
    assert "pytest_claude_timeout/" not in result.stdout.str()
    assert "the test body ran" not in result.stdout.str()


HORIZON_BODY = """
    assert claude_network.horizon == 100
    with pytest.raises(pct.HorizonExceeded) as info:
        ASYNC with Client(api_key="sk-ant-test", timeout=None).messages.stream(**MSG) as stream:
            ASYNC for text in stream.text_stream:
                pass
    assert info.value.forever
    assert claude_network.elapsed == 100
"""


@pytest.mark.parametrize(
    "args, ini",
    [
        (["--claude-timeout-horizon=100"], None),
        ([], "claude_timeout_horizon = 100"),
        (["--claude-timeout-horizon", "100"], "claude_timeout_horizon = 50"),
    ],
    ids=["option", "ini", "option-over-ini"],
)
def test_horizon_option_and_ini(pytester: pytest.Pytester, args: list[str], ini: str | None) -> None:
    pytester.makeini(INI + (f"{ini}\n" if ini else ""))
    result = run(pytester, sync_and_async("horizon", "stalled_stream, claude_network", HORIZON_BODY), *args)
    result.assert_outcomes(passed=2)


def test_horizon_must_be_a_number(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "claude_timeout_horizon = soon\n")
    result = run(pytester, "\n\ndef test_uses_network(claude_network):\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # at startup, not an error in every test
    result.stderr.fnmatch_lines(["ERROR: ini claude_timeout_horizon: expected a positive, finite number of virtual seconds *not 'soon'"])
