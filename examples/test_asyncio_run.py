"""An app whose sync entry point runs the async client with ``asyncio.run``
(``app.summarize_blocking``), under the marker.

Every event loop that runs while the simulated network is active gets virtual time on the
same clock, whoever made it: here ``asyncio.run``, inside a plain (sync) test.
"""

import pytest

import app

KEY = "sk-ant-test"
TEXT = "A long document ..."


@pytest.mark.claude_timeout  # the standard set of scenarios
def test_the_blocking_entry_point_survives_every_standard_scenario(claude_network):
    assert app.summarize_blocking(TEXT, api_key=KEY)


@pytest.mark.claude_timeout("stalled_stream", budget=130)
def test_a_stalled_stream_is_started_again_inside_asyncio_run(claude_network):
    assert app.summarize_blocking(TEXT, api_key=KEY)
    assert len(claude_network.attempts) == 2
    assert claude_network.elapsed == 120  # the stall ran into the app's 120 s read timeout once
