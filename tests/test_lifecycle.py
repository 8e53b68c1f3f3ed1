"""Channels have a lifecycle, through a real server and ordinary clients.

Reads of unknown names create nothing; idle channels' history expires on a timer and the
channel is let go; a resume after that is told the truth; ``max_channels`` counts live
channels only. The broker-level guarantees are in ``test_broker_contract.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"history_ttl": 1.0, "max_channels": 3}


def broker_of(serverapp: Any) -> Any:
    (app,) = serverapp.extension_manager.extension_apps["jupyter_realtime"]
    return app.hub.broker


async def call(ws: ClientConnection, cmd: dict[str, Any]) -> dict[str, Any]:
    await ws.send(orjson.dumps(cmd).decode())
    while True:
        frame = orjson.loads(await ws.recv())
        if frame.get("id") == cmd["id"]:
            return frame  # type: ignore[no-any-return]


async def listed(http: httpx.AsyncClient, server: Any) -> list[str]:
    reply = await http.get(server.http("realtime/api/channels"))
    return [c["channel"] for c in reply.json()["channels"]]


async def test_reads_of_unknown_names_create_no_channel(server: Any, jp_serverapp: Any) -> None:
    broker = broker_of(jp_serverapp)
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        for i in range(100):
            reply = await http.get(server.http(f"realtime/api/channels/nobody-{i}/history"))
            assert reply.status_code == 200
            assert reply.json() == {
                "publications": [], "epoch": "", "offset": 0, "recovered": True, "more": False
            }
            poll = await http.get(server.http("realtime/poll") + f"?channel=poll-{i}")
            assert poll.status_code == 200, poll.text
            if i % 10 == 0:  # a stateless poll with that cursor subscribes for a moment
                cursor = poll.json()["cursor"]
                query = f"?channel=poll-{i}&cursor={cursor}&timeout=0.1"
                again = await http.get(server.http("realtime/poll") + query)
                assert again.status_code == 200 and again.json()["messages"] == []
        async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
            for i in range(50):
                reply = await call(ws, {"id": i, "op": "history", "channel": f"ws-{i}"})
                assert reply["result"]["publications"] == []
        assert await listed(http, server) == []
    assert broker._channels == {}
    # only the stateless polls with a cursor subscribed for a moment: their epochs are kept
    # for channel_meta_ttl, as any channel let go
    assert set(broker._retired) == {f"poll-{i}" for i in range(0, 100, 10)}


async def test_idle_history_expires_and_a_resume_after_is_told_the_truth(
    server: Any, jp_serverapp: Any
) -> None:
    broker = broker_of(jp_serverapp)
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        reply = await http.post(server.http("realtime/api/channels/run-1"), json={"loss": 1})
        seen = reply.json()
        deadline = time.monotonic() + 15
        while "run-1" in await listed(http, server) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # nothing reads run-1's history meanwhile
        assert await listed(http, server) == []
        assert "run-1" not in broker._channels
    since = {"epoch": seen["epoch"], "offset": seen["offset"]}
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        cmd = {"id": 1, "op": "subscribe", "channel": "run-1", "since": since}
        result = (await call(ws, cmd))["result"]
        assert result == {**since, "recovered": True}  # it had seen everything
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        cmd["since"] = {"epoch": seen["epoch"], "offset": 0}
        result = (await call(ws, cmd))["result"]
        assert result["recovered"] is False  # offset 1 expired unseen


async def test_max_channels_counts_live_channels_only(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        for i in range(3):
            reply = await http.post(server.http(f"realtime/api/channels/old-{i}"), json=i)
            assert reply.status_code == 200, reply.text
        refused = await http.post(server.http("realtime/api/channels/new-0"), json=0)
        assert refused.status_code == 429
        assert "maximum of 3 live channels" in refused.json()["error"]["message"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the old channels' history expires
            reply = await http.post(server.http("realtime/api/channels/new-0"), json=0)
            if reply.status_code == 200:
                break
            await asyncio.sleep(0.3)
        assert reply.status_code == 200, reply.text
