"""claude_network: the simulated network itself. Healthy on its own; every scenario
fixture adds its scenario to it. ``attempts`` and ``timeline()`` tell what happened."""

import app

KEY = "sk-ant-test"


def test_a_healthy_network_answers_at_once(claude_network):
    assert app.summarize(app.make_client(api_key=KEY), "A short note")

    (attempt,) = claude_network.attempts
    assert attempt.status == 200
    assert attempt.timeouts.read == 120  # the app's configuration, as the HTTP stack applied it
    assert attempt.timeouts.connect == 5
    assert claude_network.elapsed == 0


def test_timeline_of_a_restarted_stream(stalled_stream, claude_network):
    app.stream_summary(app.make_client(api_key=KEY), "A long document ...")

    timeline = claude_network.timeline()
    print(timeline)  # shown by pytest -s, or in the report when the test fails
    assert "scenario: stalled_stream(stall=forever, deltas=2, attempts=1)" in timeline
    assert "client gave up: no progress for 120 s (read timeout)" in timeline
    assert "=> ReadTimeout (read timeout 120 s) in body" in timeline
    assert timeline.rstrip().endswith("=> 200, body complete")


def test_scenarios_compose(claude_network):
    # add scenarios by object or by spec before the first request
    claude_network.add("slow_prefill:30")
    claude_network.add("dns_failure")

    assert app.summarize(app.make_client(api_key=KEY), "A short note")
    assert [a.error for a in claude_network.attempts] == ["ConnectError", None]
    assert claude_network.attempts[1].end - claude_network.attempts[1].start == 30
