"""An app that fans out calls on a thread pool (``app.summarize_all``), under the marker.

While the simulated network is active, threads started by the code under test run side by
side in virtual time: three 75 s prefills on three threads end at 75 s, not 225 s, and
the SDK's backoff in a worker thread is a virtual wait that shows in the timeline.
"""

import pytest

import app

KEY = "sk-ant-test"
TEXTS = ["The first report ...", "The second report ...", "The third report ..."]


@pytest.mark.claude_timeout  # the standard set of scenarios
def test_the_fan_out_survives_every_standard_scenario(claude_network):
    summaries = app.summarize_all(app.make_client(api_key=KEY), TEXTS)
    assert len(summaries) == 3
    assert all(summaries)


@pytest.mark.claude_timeout("slow_prefill", budget=80)
def test_three_prefills_on_three_threads_take_75_s(claude_network):
    app.summarize_all(app.make_client(api_key=KEY), TEXTS)
    assert [(a.start, a.end) for a in claude_network.attempts] == [(0, 75)] * 3
    assert claude_network.elapsed == 75  # side by side, within the 80 s budget


@pytest.mark.claude_timeout("stalled_stream", budget=130)
def test_a_stall_in_one_worker_does_not_hold_up_the_others(claude_network):
    app.summarize_all(app.make_client(api_key=KEY), TEXTS)
    stalled, *others = claude_network.attempts[:3]
    assert stalled.error == "ReadTimeout" and stalled.end == 120  # the app's 120 s read timeout
    assert all(a.end == 0 for a in others)  # healthy streams finish at once
    assert len(claude_network.attempts) == 4  # the stalled stream was started again
