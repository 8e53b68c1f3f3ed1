"""A client that stops reading fills only its own outbox, then is disconnected."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import connect

N = 300
PAYLOAD = "x" * 30_000


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"outbox_limit": 256 * 1024, "max_message_size": 32 * 1024}


def stalled_sse_socket(server: Any) -> socket.socket:
    """An SSE request on a socket that never reads (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    path = urlsplit(server.http("realtime/sse")).path
    sock.sendall(
        f"GET {path}?channel=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {server.token}\r\n\r\n".encode()
    )
    return sock


async def subscriber_count(http: httpx.AsyncClient, server: Any) -> int:
    channels = (await http.get(server.http("realtime/api/channels"))).json()["channels"]
    return next((c["subscribers"] for c in channels if c["channel"] == "slow"), 0)


async def test_stalled_readers_are_cut_off_and_others_get_everything(server: Any) -> None:
    sock = stalled_sse_socket(server)
    stalled_ws = await connect(
        server.ws("realtime/ws"), additional_headers=server.headers, max_queue=1
    )
    await stalled_ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "slow"}).decode())
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http, connect(
        server.ws("realtime/ws"), additional_headers=server.headers, max_size=None
    ) as good:
        await good.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "slow"}).decode())
        assert orjson.loads(await good.recv())["id"] == 1
        for _ in range(50):
            if await subscriber_count(http, server) == 3:
                break
            await asyncio.sleep(0.05)
        assert await subscriber_count(http, server) == 3

        received: list[int] = []

        async def read_all() -> None:
            while len(received) < N:
                received.append(orjson.loads(await good.recv())["offset"])

        async def close_frame_once_cut_off() -> websockets.ConnectionClosed:
            """Once both stalled readers are cut off, read the stalled WebSocket: the server
            aborts a connection that does not take its close frame within a few seconds."""
            for _ in range(1200):
                if await subscriber_count(http, server) == 1:
                    break
                await asyncio.sleep(0.025)
            try:
                for _ in range(N + 2):
                    await asyncio.wait_for(stalled_ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed
            raise AssertionError("the stalled WebSocket was never closed")

        reader = asyncio.ensure_future(read_all())
        closing = asyncio.ensure_future(close_frame_once_cut_off())
        for i in range(N):
            r = await http.post(server.http("realtime/api/channels/slow"), json=PAYLOAD)
            assert r.status_code == 200, i
        await asyncio.wait_for(reader, 20)
        assert received == list(range(1, N + 1))
        # both stalled readers were disconnected: only the good one is left
        assert await subscriber_count(http, server) == 1
        closed = await asyncio.wait_for(closing, 30)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "slow_consumer")
    sock.close()
    await stalled_ws.close()


async def test_a_poll_session_cut_off_keeps_what_it_queued(server: Any) -> None:
    """A poll session whose queue overflowed still hands out what it queued, then the
    disconnect; a resume after the last publication it got loses nothing."""
    async with httpx.AsyncClient(headers=server.headers, timeout=20) as http:

        async def poll_session(sid: str) -> list[dict[str, Any]]:
            url = server.http("realtime/poll") + f"?session={sid}&timeout=5"
            return list((await http.get(url)).json()["messages"])

        async def open_session(**subscribe: Any) -> str:
            sid = (await http.get(server.http("realtime/poll") + "?session=1")).json()["session"]
            cmd = {"id": 1, "op": "subscribe", "channel": "pq", **subscribe}
            # the answer comes once the replay is queued: keep polling meanwhile
            posts.append(asyncio.ensure_future(
                http.post(server.http(f"realtime/session/{sid}"), json=cmd)
            ))
            return str(sid)

        posts: list[asyncio.Future[httpx.Response]] = []
        sid = await open_session()
        assert [m["event"] for m in await poll_session(sid)] == ["subscribed"]
        for _ in range(20):  # 600 KB into a 256 KiB queue nobody polls
            r = await http.post(server.http("realtime/api/channels/pq"), json=PAYLOAD)
        epoch = r.json()["epoch"]
        got: list[dict[str, Any]] = []
        while not got or "event" not in got[-1]:
            got += await poll_session(sid)
        *pubs, last = got
        assert last["event"] == "disconnect" and last["reason"] == "slow_consumer"
        assert pubs and [p["offset"] for p in pubs] == list(range(1, len(pubs) + 1))
        gone = await http.get(server.http("realtime/poll") + f"?session={sid}&timeout=0")
        assert gone.status_code == 404  # ended once its disconnect was handed out
        sid = await open_session(since={"epoch": epoch, "offset": pubs[-1]["offset"]})
        while "event" not in got[-1] or got[-1]["event"] != "subscribed":
            got += await poll_session(sid)
        replies = [(await post).json() for post in posts]
    offsets = [m["offset"] for m in got if "offset" in m and "event" not in m]
    assert offsets == list(range(1, 21))
    assert [reply["result"]["announced"] for reply in replies] == [True, True]
