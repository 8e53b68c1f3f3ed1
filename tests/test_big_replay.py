"""Anything that fits in history gets through: 200 publications of 60 KiB (12 MB, three
times the default 4 MiB outbox) reach a client on every transport, in order, through a
resume and through history paging. Each test uses an ordinary client over a real socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect

from jupyter_realtime.protocol import Position, encode_cursor

N = 200
PAYLOAD = "x" * (60 << 10)
CHANNEL = "big"
DEADLINE = 60  # seconds for one whole transfer on a busy machine


async def fill(server: Any) -> str:
    """Publish N big publications to CHANNEL; its epoch."""
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        for i in range(N):
            await ws.send(orjson.dumps({"op": "publish", "channel": CHANNEL, "data": [i, PAYLOAD]}).decode())
        reply = await call(ws, {"id": "last", "op": "publish", "channel": CHANNEL, "data": "end"})
    assert reply["result"]["offset"] == N + 1
    return str(reply["result"]["epoch"])


def check(pubs: list[dict[str, Any]], epoch: str) -> None:
    """Offsets 1..N of the epoch, in order, each with its data intact."""
    assert [p["offset"] for p in pubs[:N]] == list(range(1, N + 1))
    assert all(p["epoch"] == epoch and p["data"] == [i, PAYLOAD] for i, p in enumerate(pubs[:N]))


async def call(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(orjson.dumps(frame).decode())
    with anyio.fail_after(DEADLINE):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg.get("id") == frame["id"]:
                return msg


def ws_connect(server: Any) -> Any:
    return connect(server.ws("realtime/ws"), additional_headers=server.headers, max_size=None)


async def test_websocket_resume_gets_everything(server: Any) -> None:
    epoch = await fill(server)
    async with ws_connect(server) as ws:
        since = {"epoch": epoch, "offset": 0}
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": CHANNEL, "since": since}).decode())
        got: list[dict[str, Any]] = []
        with anyio.fail_after(DEADLINE):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg.get("id") == 1:
                    break
                got.append(msg)
    assert msg["result"]["recovered"] is True and msg["result"]["offset"] == N + 1
    check(got, epoch)


async def page_through(fetch: Any, epoch: str) -> list[dict[str, Any]]:
    """Follow ``more`` from offset 0: every publication once, in order."""
    pubs: list[dict[str, Any]] = []
    since = {"epoch": epoch, "offset": 0}
    pages = 0
    with anyio.fail_after(DEADLINE):
        while True:
            page = await fetch(since)
            pages += 1
            assert page["recovered"] is True and page["epoch"] == epoch
            pubs.extend(page["publications"])
            if not page["more"]:
                break
            since = {"epoch": epoch, "offset": pubs[-1]["offset"]}
    assert pages > 1  # 12 MB does not fit one page
    return pubs


async def test_websocket_history_pages_by_bytes(server: Any) -> None:
    epoch = await fill(server)
    async with ws_connect(server) as ws:
        ids = iter(range(1, 1000))

        async def fetch(since: dict[str, Any]) -> dict[str, Any]:
            cmd = {"id": next(ids), "op": "history", "channel": CHANNEL, "since": since, "limit": 1000}
            return (await call(ws, cmd))["result"]

        pubs = await page_through(fetch, epoch)
        newest = (await call(ws, {"id": "n", "op": "history", "channel": CHANNEL, "limit": 1000}))
    check(pubs, epoch)
    assert newest["result"]["more"] is True and newest["result"]["publications"][0]["offset"] == 1


async def test_rest_history_pages_by_bytes(server: Any) -> None:
    epoch = await fill(server)
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http:

        async def fetch(since: dict[str, Any]) -> dict[str, Any]:
            url = server.http(f"realtime/api/channels/{CHANNEL}/history")
            query = f"?limit=1000&epoch={since['epoch']}&since={since['offset']}"
            r = await http.get(url + query)
            assert r.status_code == 200
            return dict(r.json())

        check(await page_through(fetch, epoch), epoch)


async def ndjson(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.strip():
            yield orjson.loads(line)


async def until_subscribed(frames: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    got = []
    with anyio.fail_after(DEADLINE):
        async for frame in frames:
            if frame.get("event") == "subscribed":
                assert frame["recovered"] is True
                return got
            assert "event" not in frame, frame
            got.append(frame)
    raise AssertionError("the stream ended before its subscribed event")


async def sse_frames(source: Any) -> AsyncIterator[dict[str, Any]]:
    async for event in source.aiter_sse():
        if event.data:  # the retry: line comes as an event without data
            yield orjson.loads(event.data)


async def test_sse_resume_gets_everything(server: Any) -> None:
    epoch = await fill(server)
    cursor = encode_cursor({CHANNEL: Position(epoch, 0)})
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http, aconnect_sse(
        http, "GET", server.http("realtime/sse") + f"?channel={CHANNEL}",
        headers={"Last-Event-ID": cursor},
    ) as source:
        assert source.response.status_code == 200
        check(await until_subscribed(sse_frames(source)), epoch)


async def test_stream_resume_gets_everything(server: Any) -> None:
    epoch = await fill(server)
    cursor = encode_cursor({CHANNEL: Position(epoch, 0)})
    url = server.http("realtime/stream") + f"?channel={CHANNEL}&cursor={cursor}"
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http:
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            check(await until_subscribed(ndjson(response)), epoch)


async def test_stateless_poll_pages_with_its_cursor(server: Any) -> None:
    epoch = await fill(server)
    cursor = encode_cursor({CHANNEL: Position(epoch, 0)})
    got: list[dict[str, Any]] = []
    polls = 0
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http:
        with anyio.fail_after(DEADLINE):
            while len(got) < N:
                url = server.http("realtime/poll") + f"?channel={CHANNEL}&timeout=5&cursor={cursor}"
                body = (await http.get(url)).json()
                polls += 1
                assert body["messages"], "a poll behind the history answered nothing"
                got.extend(body["messages"])
                cursor = body["cursor"]
    assert polls > 1
    check(got, epoch)


async def test_poll_session_resume_gets_everything(server: Any) -> None:
    epoch = await fill(server)
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http:
        sid = (await http.get(server.http("realtime/poll") + "?session=1")).json()["session"]
        since = {"epoch": epoch, "offset": 0}
        subscribe = asyncio.ensure_future(http.post(
            server.http(f"realtime/session/{sid}"),
            json={"id": 1, "op": "subscribe", "channel": CHANNEL, "since": since},
        ))

        async def frames() -> AsyncIterator[dict[str, Any]]:
            while True:
                url = server.http("realtime/poll") + f"?session={sid}&timeout=5"
                for message in (await http.get(url)).json()["messages"]:
                    yield message

        got = await until_subscribed(frames())
        reply = (await subscribe).json()
    assert reply == {"id": 1, "result": {"channel": CHANNEL, "announced": True}}
    check(got, epoch)


@pytest.mark.parametrize("path", ["realtime/sse", "realtime/stream"])
async def test_stream_session_history_pages_by_bytes(server: Any, path: str) -> None:
    epoch = await fill(server)
    async with httpx.AsyncClient(headers=server.headers, timeout=DEADLINE) as http:
        async with http.stream("GET", server.http(path) + "?session=1") as response:
            sid, lines = None, response.aiter_lines()  # kept: closing it closes the stream
            async for line in lines:  # SSE: "data: {...}"; NDJSON: "{...}"
                text = line.removeprefix("data: ").strip()
                if text.startswith("{"):
                    sid = orjson.loads(text)["session"]
                    break
            uplink = server.http(f"realtime/session/{sid}")
            ids = iter(range(1, 1000))

            async def fetch(since: dict[str, Any]) -> dict[str, Any]:
                cmd = {"id": next(ids), "op": "history", "channel": CHANNEL, "since": since,
                       "limit": 1000}
                answer = (await http.post(uplink, json=cmd)).json()
                assert "result" in answer, answer
                return dict(answer["result"])

            pubs = await page_through(fetch, epoch)
    check(pubs, epoch)


async def test_python_client_history_follows_the_pages(server: Any) -> None:
    from jupyter_realtime.client import AsyncClient

    epoch = await fill(server)
    async with AsyncClient(server.http(), server.token) as client:
        channel = client.channel(CHANNEL)
        newest = await channel.history(1000)
        after = await channel.history(150, since=(epoch, 10))
    assert [m.offset for m in newest] == list(range(1, N + 2))
    assert [m.offset for m in after] == list(range(11, 161))
    assert after[0].data == [10, PAYLOAD]
