"""Configuration: disabled transports and JSONP off by default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"transports": ["poll"], "max_message_size": 16}


async def test_disabled_transports_answer_not_found(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        sse = await http.get(server.http("realtime/sse") + "?channel=a")
        stream = await http.get(server.http("realtime/stream") + "?channel=a")
        jsonp = await http.get(server.http("realtime/jsonp") + "?channel=a&callback=f")
        poll = await http.get(server.http("realtime/poll") + "?channel=a")
    assert [r.status_code for r in (sse, stream, jsonp, poll)] == [404, 404, 404, 200]
    assert sse.json()["error"]["code"] == "not_found"
    # a browser cannot read an upgrade's status: the socket opens, then closes with 4501
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as sock:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await sock.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4501


async def test_configured_message_size_limit(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        ok = await http.post(server.http("realtime/api/channels/s"), json="short")
        big = await http.post(server.http("realtime/api/channels/s"), json="much too long to pass")
    assert ok.status_code == 200
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    "value", [["sse", "poll"], ["sse,poll"], ['["sse","poll"]'], ["sse", "poll,"]]
)
def test_transports_accept_every_command_line_form(value: list[str]) -> None:
    from jupyter_realtime.app import RealtimeApp

    assert RealtimeApp(transports=value).transports == ["sse", "poll"]


def test_unknown_transport_is_a_clear_error() -> None:
    from traitlets import TraitError

    from jupyter_realtime.app import RealtimeApp

    with pytest.raises(TraitError, match="unknown transports \\['carrier-pigeon'\\]"):
        RealtimeApp(transports=["carrier-pigeon"])
