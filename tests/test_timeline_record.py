"""What the network records of each attempt for the HTML report, against the real SDK: the
phases (connecting, uploading, waiting for the first byte, streaming or the body), each
event's kind and who acted, and where each timeout would fire or fired."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from conftest import MSG

from pytest_claude_timeout import ConnectTimeout, ProxyCutoff, SimulatedNetwork, SlowPrefill, SlowUpload, StalledStream


def record(*scenarios: Any, stream: bool = False, **options: Any) -> list[dict[str, Any]]:
    with SimulatedNetwork(*scenarios, seed=0) as network:
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, **options)
        try:
            if stream:
                with client.messages.stream(**MSG) as response:
                    response.get_final_message()
            else:
                client.messages.create(**MSG)
        except Exception:  # noqa: BLE001 (the outcome is not what these tests check)
            pass
    return [a.as_dict() for a in network.attempts]


def phases(attempt: dict[str, Any]) -> list[tuple[str, float, float]]:
    return [(p["name"], p["start"], p["end"]) for p in attempt["phases"]]


def kinds(attempt: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["kind"], e["by"]) for e in attempt["events"]]


def test_a_slow_upload_then_the_wait_for_the_first_byte() -> None:
    (attempt,) = record(SlowUpload(rate=100, extra_bytes=1900), SlowPrefill(10), timeout=120)
    ((name, start, end), waiting, body) = phases(attempt)
    assert (name, start) == ("upload", 0) and 19 < end < 25  # 1900 bytes and the request's own at 100 B/s
    assert waiting == ("waiting", end, 10 + end) and body[0] == "body"
    assert attempt["deadlines"]["read"] == pytest.approx(10 + end + 120)  # restarted by the body's bytes


def test_a_connect_timeout_fires_where_it_was_armed() -> None:
    (attempt,) = record(ConnectTimeout(), timeout=anthropic.Timeout(60, connect=5))
    assert phases(attempt) == [("connect", 0, 5)]
    assert attempt["deadlines"] == {"connect": 5}
    assert kinds(attempt) == [("sent", ""), ("connect", ""), ("timeout", "")]


def test_the_read_timeout_fires_at_the_end_of_the_silence() -> None:
    (attempt,) = record(SlowPrefill(75), timeout=60)
    assert phases(attempt) == [("waiting", 0, 60)]
    assert attempt["deadlines"] == {"read": 60}
    assert kinds(attempt) == [("sent", ""), ("wait", ""), ("timeout", "")]


def test_a_stream_pings_then_streams() -> None:
    (attempt,) = record(SlowPrefill(35), stream=True, timeout=60)
    assert phases(attempt) == [("waiting", 0, 0), ("streaming", 0, 35)]
    pings = [e["at"] for e in attempt["events"] if e["kind"] == "ping"]
    assert pings == [10, 20, 30, 35]  # three while it prefills, and the stream's own
    assert {e["kind"] for e in attempt["events"]} >= {"head", "data", "ping", "wait"}
    assert attempt["deadlines"]["read"] == 35 + 60  # the last byte at 35 s


def test_who_acted_the_proxy_and_the_stall() -> None:
    (proxied,) = record(ProxyCutoff(30), timeout=120)
    assert ("head", "proxy") in kinds(proxied) and ("wait", "proxy") in kinds(proxied)
    (cut,) = record(ProxyCutoff(30, ping_interval=None), stream=True, timeout=120)
    assert kinds(cut)[-1] == ("hangup", "proxy")
    (stalled,) = record(StalledStream(), stream=True, timeout=30)
    assert ("wait", "stall") in kinds(stalled) and kinds(stalled)[-1] == ("timeout", "")
    assert phases(stalled)[-1] == ("streaming", 0, 30)
