"""The tests behind the report in docs/html-report.png (see docs/html-report.md): a client
with a 60 s timeout, non-streaming and streaming, under a slow prefill, a proxy's idle
cutoff and a stalled stream, with their survival envelopes. Some runs fail on purpose.

    pytest docs/demo_report.py -p no:cacheprovider --claude-timeout-html=report.html
"""

import anthropic
import pytest

REQUEST = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": "Summarize ..."}]}


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", envelope={"high": 3600})
def test_non_streaming(claude_network):
    anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.create(**REQUEST)


@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30", "stalled_stream", envelope={"high": 3600})
def test_streaming(claude_network):
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**REQUEST) as stream:
        stream.get_final_message()
