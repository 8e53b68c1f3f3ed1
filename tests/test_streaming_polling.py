"""XHR streaming (NDJSON), long polling and JSONP polling against a real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"jsonp_enabled": True}


async def ndjson(http: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, Any]]:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        async for line in response.aiter_lines():
            if line.strip():
                yield orjson.loads(line)


async def take(stream: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with anyio.fail_after(5):
        async for frame in stream:
            out.append(frame)
            if len(out) == n:
                break
    return out


async def test_ndjson_stream_in_order_and_resume_from_cursor(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http("realtime/stream") + "?channel=n"
        stream = ndjson(http, url)
        (subscribed,) = await take(stream, 1)
        assert subscribed["event"] == "subscribed" and subscribed["cursor"]
        for i in range(5):
            await http.post(server.http("realtime/api/channels/n"), json=i)
        got = await take(stream, 5)
        await stream.aclose()
        assert [f["data"] for f in got] == [0, 1, 2, 3, 4]
        assert all(f["cursor"] for f in got)
        for i in range(5, 8):
            await http.post(server.http("realtime/api/channels/n"), json=i)
        stream = ndjson(http, url + f"&cursor={got[-1]['cursor']}")
        replay = await take(stream, 4)
        await stream.aclose()
    assert [f["data"] for f in replay[:3]] == [5, 6, 7]
    assert replay[3]["event"] == "subscribed" and replay[3]["offset"] == 8


async def test_long_poll_without_cursor_returns_at_once(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        await http.post(server.http("realtime/api/channels/p0"), json=1)
        r = await http.get(server.http("realtime/poll") + "?channel=p0&timeout=30")
    body = r.json()
    assert body["messages"] == [] and body["cursor"]


async def test_long_poll_waits_for_the_next_publication(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        first = (await http.get(server.http("realtime/poll") + "?channel=p1")).json()
        url = server.http("realtime/poll") + f"?channel=p1&cursor={first['cursor']}&timeout=10"
        waiting = asyncio.ensure_future(http.get(url))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await http.post(server.http("realtime/api/channels/p1"), json={"v": 1})
        body = (await waiting).json()
        assert [m["data"] for m in body["messages"]] == [{"v": 1}]
        # meanwhile published: the next poll answers at once from its cursor
        for v in (2, 3):
            await http.post(server.http("realtime/api/channels/p1"), json={"v": v})
        body2 = (await http.get(server.http("realtime/poll") + f"?channel=p1&cursor={body['cursor']}")).json()
    assert [m["data"]["v"] for m in body2["messages"]] == [2, 3]
    assert [m["offset"] for m in body2["messages"]] == [2, 3]


async def test_long_poll_times_out_empty(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        first = (await http.get(server.http("realtime/poll") + "?channel=p2")).json()
        start = time.monotonic()
        r = await http.get(server.http("realtime/poll") + f"?channel=p2&cursor={first['cursor']}&timeout=0.3")
        elapsed = time.monotonic() - start
    # the channel did not exist when the first cursor was taken (epoch ""); subscribing gave
    # it an epoch, so the cursor may move to it, but nothing came
    assert r.json()["messages"] == []
    assert 0.25 < elapsed < 3


async def test_polling_session_with_uplink(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        opened = (await http.get(server.http("realtime/poll") + "?session=1")).json()
        sid = opened["session"]
        uplink = server.http(f"realtime/session/{sid}")
        r = await http.post(uplink, json={"id": 1, "op": "subscribe", "channel": "ps", "presence": True})
        assert r.json()["result"] == {"channel": "ps", "announced": True}
        await http.post(uplink, json={"id": 2, "op": "publish", "channel": "ps", "data": "hello"})
        body = (await http.get(server.http("realtime/poll") + f"?session={sid}&timeout=5")).json()
        kinds = [m.get("event", "publication") for m in body["messages"]]
        assert kinds == ["join", "subscribed", "publication"]
        assert body["messages"][2]["data"] == "hello"
        empty = (await http.get(server.http("realtime/poll") + f"?session={sid}&timeout=0.1")).json()
        assert empty["messages"] == []
        r = await http.get(server.http("realtime/poll") + "?session=nope")
        assert r.status_code == 404


async def test_jsonp_wraps_the_poll_answer(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        r = await http.get(server.http("realtime/jsonp") + "?channel=j&callback=app.onData")
        assert r.headers["content-type"].startswith("application/javascript")
        assert r.text.startswith("/**/app.onData({") and r.text.endswith("});")
        bad = await http.get(server.http("realtime/jsonp") + "?channel=j&callback=alert(1)")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


async def test_malformed_cursor_and_timeout_are_bad_requests(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        r1 = await http.get(server.http("realtime/poll") + "?channel=x&cursor=***")
        r2 = await http.get(server.http("realtime/poll") + "?channel=x&timeout=soon")
        r3 = await http.get(server.http("realtime/poll"))
    assert [r.status_code for r in (r1, r2, r3)] == [400, 400, 400]
