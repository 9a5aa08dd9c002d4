"""The plugin composes with the HTTP mocks a suite already has, in either fixture order and
under the marker: respx (``respx_mock``), pytest-httpx (``httpx_mock``), and the httpx2
mock plugins (pytest-httpx2 or httpx2-pytest, both named ``httpx2_mock``; they cannot be
installed together). Routes for other hosts keep working; the SDK's calls reach the
simulated network; a test's own route for the Messages API is what the healthy API
answers, and the scenarios shape it."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import anthropic
import pytest
from conftest import MSG, SDK_MAJOR, http_stack

import pytest_claude_timeout as pct
from pytest_claude_timeout.api import content, sse, wire


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# The mock fixtures that reach the SDK's own stack on this line, and those for another stack.
SDK_STACK = "httpx2" if SDK_MAJOR >= 1 else "httpx"
MOCKS: dict[str, str] = {"respx_mock": "httpx"}  # fixture -> the stack its routes serve
if _installed("pytest-httpx"):
    MOCKS["httpx_mock"] = "httpx"
if _installed("pytest-httpx2") or _installed("httpx2-pytest"):
    MOCKS["httpx2_mock"] = "httpx2"
SDK_MOCKS = [name for name, stack in MOCKS.items() if stack == SDK_STACK]
TRANSPORT_STYLE = {"httpx_mock"} | ({"httpx2_mock"} if _installed("httpx2-pytest") else set())

OWN_TEXT = "Our own mocked answer, word by word, for the composed test."
OTHER_URL = "https://example.com/api/items"


def own_message() -> dict[str, Any]:
    return content.to_message(OWN_TEXT, model="claude-sonnet-4-6", input_tokens=3, message_id="msg_own")


def own_sse() -> bytes:
    return b"".join(payload for _, payload in sse.events(own_message()))


def add_route(mock_name: str, mock: Any, url: str, *, status: int = 200, json_body: Any = None, sse: bytes | None = None, method: str = "GET") -> None:
    """One route in the mock's own API."""
    headers = {"content-type": "text/event-stream"} if sse is not None else None
    if mock_name in TRANSPORT_STYLE:
        if sse is not None:
            mock.add_response(method=method, url=url, status_code=status, content=sse, headers=headers, is_reusable=True, is_optional=True)
        else:
            mock.add_response(method=method, url=url, status_code=status, json=json_body, is_reusable=True, is_optional=True)
        return
    route = mock.route(method=method, url=url)
    if sse is not None:
        route.respond(status, content=sse, headers=headers)
    else:
        route.respond(status, json=json_body)


def other_host_get(mock_name: str) -> Any:
    stack = importlib.import_module(MOCKS[mock_name])
    with stack.Client() as client:
        return client.get(OTHER_URL)


@pytest.fixture(params=["network-first", "mock-first"])
def order(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def composed(request: pytest.FixtureRequest, order: str, mock_name: str, *scenarios: str) -> tuple[Any, pct.SimulatedNetwork]:
    names = ["claude_network", mock_name] if order == "network-first" else [mock_name, "claude_network"]
    values = {name: request.getfixturevalue(name) for name in names}
    network = values["claude_network"]
    for spec in scenarios:
        network.add(spec)
    return values[mock_name], network


@pytest.mark.parametrize("mock_name", list(MOCKS))
def test_other_hosts_routes_keep_working(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name)
    add_route(mock_name, mock, OTHER_URL, json_body={"items": [1, 2]})
    assert other_host_get(mock_name).json() == {"items": [1, 2]}
    assert network.attempts == []


@pytest.mark.parametrize("mock_name", list(MOCKS))
def test_the_sdks_calls_reach_the_network(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name, "slow_prefill")
    add_route(mock_name, mock, OTHER_URL, json_body={"ok": True})
    message = anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
    assert message.content[0].text == pct.FakeApi().text
    assert [a.status for a in network.attempts] == [200]
    assert network.elapsed == 75
    assert other_host_get(mock_name).json() == {"ok": True}


@pytest.mark.parametrize("mock_name", SDK_MOCKS)
def test_a_users_route_is_delayed_by_a_slow_prefill(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name, "slow_prefill")
    add_route(mock_name, mock, "https://api.anthropic.com/v1/messages", method="POST", json_body=own_message())
    client = anthropic.Anthropic(api_key="sk-ant-test", timeout=60)
    with pytest.raises(anthropic.APITimeoutError):
        client.messages.create(**MSG)
    assert [a.error for a in network.attempts] == ["ReadTimeout"] * 3
    message = client.with_options(timeout=120).messages.create(**MSG)
    assert message.content[0].text == OWN_TEXT
    assert network.attempts[-1].end - network.attempts[-1].start == pytest.approx(75)


@pytest.mark.parametrize("mock_name", SDK_MOCKS)
def test_a_users_stream_stalls_after_its_first_deltas(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name, "stalled_stream")
    add_route(mock_name, mock, "https://api.anthropic.com/v1/messages", method="POST", sse=own_sse())
    received: list[str] = []
    with pytest.raises(http_stack().ReadTimeout):
        with anthropic.Anthropic(api_key="sk-ant-test", timeout=30).messages.stream(**MSG) as stream:
            received.extend(stream.text_stream)
    assert received == wire.chunk_text(OWN_TEXT)[:2]
    assert network.elapsed == 30


@pytest.mark.parametrize("mock_name", SDK_MOCKS)
def test_a_proxy_answers_504_in_front_of_a_users_route(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name, "proxy_cutoff:30")
    add_route(mock_name, mock, "https://api.anthropic.com/v1/messages", method="POST", json_body=own_message())
    with pytest.raises(anthropic.InternalServerError) as info:
        anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.create(**MSG)
    assert info.value.status_code == 504
    assert [a.status for a in network.attempts] == [504] * 3


@pytest.mark.parametrize("mock_name", SDK_MOCKS)
def test_async_with_a_users_route(request: pytest.FixtureRequest, order: str, mock_name: str) -> None:
    mock, network = composed(request, order, mock_name, "slow_prefill")
    add_route(mock_name, mock, "https://api.anthropic.com/v1/messages", method="POST", sse=own_sse())

    async def call() -> str:
        async with anthropic.AsyncAnthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
            return "".join([text async for text in stream.text_stream])

    assert network.run(call()) == OWN_TEXT
    assert network.elapsed == 75


# -- under the marker (its fixture is always set up first) --------------------------------------


@pytest.mark.skipif("respx_mock" not in SDK_MOCKS, reason="respx routes the SDK's stack on anthropic 0.x only")
@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30")
def test_marker_with_respx(respx_mock: Any) -> None:
    respx_mock.get(OTHER_URL).respond(json={"ok": True})
    respx_mock.post("https://api.anthropic.com/v1/messages").respond(content=own_sse(), headers={"content-type": "text/event-stream"})
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.stream(**MSG) as stream:
        assert stream.get_final_message().content[0].text == OWN_TEXT
    assert other_host_get("respx_mock").json() == {"ok": True}


@pytest.mark.parametrize("mock_name", [m for m in SDK_MOCKS if m != "respx_mock"])
@pytest.mark.claude_timeout("slow_prefill", "proxy_cutoff:30")
def test_marker_with_the_other_mocks(request: pytest.FixtureRequest, mock_name: str) -> None:
    mock = request.getfixturevalue(mock_name)
    add_route(mock_name, mock, OTHER_URL, json_body={"ok": True})
    add_route(mock_name, mock, "https://api.anthropic.com/v1/messages", method="POST", sse=own_sse())
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=120).messages.stream(**MSG) as stream:
        assert stream.get_final_message().content[0].text == OWN_TEXT
    assert other_host_get(mock_name).json() == {"ok": True}


def test_respx_started_before_the_network_is_back_after_it() -> None:
    import respx

    with respx.mock(assert_all_mocked=False) as router:
        router.get(OTHER_URL).respond(json={"before": True})
        with pct.SimulatedNetwork():
            assert other_host_get("respx_mock").json() == {"before": True}
        assert other_host_get("respx_mock").json() == {"before": True}  # respx's own mocker again
        assert router.calls.call_count == 2
