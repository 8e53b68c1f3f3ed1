"""``max_user_bytes``: the bytes of data a user may add, on every transport and REST.

A real server with the memory broker (the Redis count across servers is in
``test_hubservice_redis.py`` and the broker contract). The user who reaches the limit gets
``rate_limited`` and her connection keeps serving (another user keeping his own budget,
across two service replicas, is in ``test_hubservice_redis.py``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import orjson
import pytest
import websockets

LIMIT = 1000
DATA = "x" * 298  # 300 bytes as JSON


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"max_user_bytes": LIMIT, "broker_url": "memory://", "token_user": "alice"}


async def ws_publishes(server: Any, count: int) -> list[dict[str, Any]]:
    async with websockets.connect(
        server.ws("realtime/ws"), additional_headers=server.headers
    ) as ws:
        replies = []
        for i in range(count):
            await ws.send(json.dumps({"id": i, "op": "publish", "channel": "ws", "data": DATA}))
            while (frame := orjson.loads(await asyncio.wait_for(ws.recv(), 10))).get("id") != i:
                pass
            replies.append(frame)
        ping = {"id": 99, "op": "ping"}
        await ws.send(json.dumps(ping))
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {"id": 99, "result": {}}
    return replies


async def session_publishes(server: Any, transport: str, count: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(headers=server.headers, timeout=20) as http:
        if transport == "poll":
            opened = (await http.get(server.http("realtime/poll"), params={"session": "1"}))
            return await uplink(http, server, opened.json()["session"], transport, count)
        async with http.stream(
            "GET", server.http(f"realtime/{transport}"), params={"session": "1"}
        ) as stream:
            async for line in stream.aiter_lines():
                text = line[5:] if transport == "sse" else line
                if text.strip().startswith("{") and '"session"' in text:
                    sid = orjson.loads(text)["session"]
                    return await uplink(http, server, sid, transport, count)
    raise AssertionError(f"no session on {transport}")


async def uplink(
    http: httpx.AsyncClient, server: Any, sid: str, channel: str, count: int
) -> list[dict[str, Any]]:
    cmds = [{"id": i, "op": "publish", "channel": channel, "data": DATA} for i in range(count)]
    replies = (await http.post(server.http(f"realtime/session/{sid}"), json=cmds)).json()
    ping = (await http.post(server.http(f"realtime/session/{sid}"),
                            json={"id": 99, "op": "ping"})).json()
    assert ping == {"id": 99, "result": {}}  # the session keeps serving
    return list(replies)


@pytest.mark.parametrize("transport", ["ws", "sse", "stream", "poll"])
async def test_a_user_adds_at_most_max_user_bytes_then_gets_rate_limited(
    server: Any, transport: str
) -> None:
    if transport == "ws":
        replies = await ws_publishes(server, 4)
    else:
        replies = await session_publishes(server, transport, 4)
    assert [r["result"]["offset"] for r in replies[:3]] == [1, 2, 3]
    error = replies[3]["error"]
    assert error["code"] == "rate_limited"
    assert error["message"] == (
        "user 'alice' may add 1000 bytes every 3600 s; 300 more would pass it"
    )
    # REST is the same budget, already spent: 100 bytes still fit, 300 do not
    async with httpx.AsyncClient(headers=server.headers, timeout=20) as http:
        refused = await http.post(server.http("realtime/api/channels/rest"), json=DATA)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        small = await http.post(server.http("realtime/api/channels/rest"), json="y" * 98)
        assert small.status_code == 200, small.text
