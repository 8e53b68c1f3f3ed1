"""Several Jupyter servers sharing channels through a real Redis, over real sockets.

The servers are ``jupyter server`` subprocesses (``redis_fixtures.JupyterProcess``) so
that a test can kill one, restart it, or take Redis away under it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from redis_fixtures import (  # noqa: F401
    Cluster,
    JupyterProcess,
    RedisServer,
    cluster,
    cluster_module,
)
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


class WS:
    """A WebSocket client of the wire protocol: commands with ids, frames kept in order."""

    def __init__(self, server: JupyterProcess) -> None:
        self.server = server
        self.frames: list[dict[str, Any]] = []
        self._id = 0

    async def __aenter__(self) -> WS:
        self.conn: ClientConnection = await connect(self.server.ws())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        self._id += 1
        await self.conn.send(orjson.dumps({"id": self._id, "op": op, **fields}).decode())
        while True:
            frame = orjson.loads(await asyncio.wait_for(self.conn.recv(), 10))
            if frame.get("id") == self._id:
                return frame
            self.frames.append(frame)

    async def wait(self, count: int, kind: str = "offset", timeout: float = 10) -> list[Any]:
        """The first ``count`` frames that have ``kind`` (publications: ``offset``)."""
        deadline = time.monotonic() + timeout

        def matches(frame: dict[str, Any]) -> bool:
            # a publication has an offset and is not an event (a gap event has one too)
            return kind in frame and (kind != "offset" or "event" not in frame)

        while len(matching := [f for f in self.frames if matches(f)]) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {matching} after {timeout} s, wanted {count}")
            try:
                self.frames.append(orjson.loads(await asyncio.wait_for(self.conn.recv(), left)))
            except asyncio.TimeoutError:
                pass
        return matching[:count]


async def sse_frames(events: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``count`` (id, frame) of SSE events, skipping ``retry:``-only events."""
    frames = []
    while len(frames) < count:
        event = await asyncio.wait_for(anext(events), 10)
        if event.data:
            frames.append((event.id, orjson.loads(event.data)))
    return frames


async def rest_publish(server: JupyterProcess, channel: str, data: Any) -> httpx.Response:
    async with httpx.AsyncClient(headers=server.headers) as client:
        return await client.post(server.http(f"realtime/api/channels/{channel}"), json=data)


async def rest_get(server: JupyterProcess, path: str) -> Any:
    async with httpx.AsyncClient(headers=server.headers) as client:
        reply = await client.get(server.http(path))
        assert reply.status_code == 200, reply.text
        return reply.json()


async def test_two_servers_share_a_channel_history_and_presence(
    cluster: Cluster,  # noqa: F811
):
    one, two = cluster.servers
    async with WS(one) as w1, WS(two) as w2:
        assert "result" in await w2.call("subscribe", channel="lab")
        assert "result" in await w1.call("subscribe", channel="lab", presence=True)
        (join,) = await w2.wait(1, "event")
        assert join["event"] == "join" and join["client"]["user"]
        for i in range(10):
            if i % 2:
                assert "result" in await w2.call("publish", channel="lab", data={"i": i})
            else:
                assert (await rest_publish(one, "lab", {"i": i})).status_code == 200
        got1, got2 = await w1.wait(10), await w2.wait(10)
        assert [p["offset"] for p in got1] == [p["offset"] for p in got2] == list(range(1, 11))
        expected = [{"i": i} for i in range(10)]
        assert [p["data"] for p in got1] == [p["data"] for p in got2] == expected
        path = "realtime/api/channels/lab/history?limit=3"
        history = [await rest_get(server, path) for server in (one, two)]
        assert history[0] == history[1]
        assert [p["offset"] for p in history[0]["publications"]] == [8, 9, 10]
        presence = await rest_get(two, "realtime/api/channels/lab/presence")
        assert presence["clients"] == [join["client"]]


async def test_resume_on_the_other_server_and_after_a_restart(
    cluster: Cluster,  # noqa: F811
):
    one, two = cluster.servers
    params = {"channel": "resume"}
    async with httpx.AsyncClient(headers=one.headers, timeout=10) as client:
        async with aconnect_sse(client, "GET", one.http("realtime/sse"), params=params) as sse:
            events = sse.aiter_sse()
            ((_, subscribed),) = await sse_frames(events, 1)
            assert subscribed["event"] == "subscribed" and subscribed["offset"] == 0
            for i in range(3):
                await rest_publish(two, "resume", i)
            seen = await sse_frames(events, 3)
    assert [frame["offset"] for _, frame in seen] == [1, 2, 3]
    one.stop()  # the server a client was on goes away
    for i in range(3, 6):
        await rest_publish(two, "resume", i)
    headers = {**two.headers, "Last-Event-ID": seen[-1][0]}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        async with aconnect_sse(client, "GET", two.http("realtime/sse"), params=params) as sse:
            frames = [frame for _, frame in await sse_frames(sse.aiter_sse(), 4)]
    assert [f.get("offset") for f in frames[:3]] == [4, 5, 6]
    assert [f["data"] for f in frames[:3]] == [3, 4, 5]
    assert frames[3]["event"] == "subscribed" and frames[3]["recovered"] is True
    one.start()  # restarted: it resumes from Redis, not from its own memory
    epoch = frames[0]["epoch"]
    async with WS(one) as ws:
        reply = await ws.call("subscribe", channel="resume", since={"epoch": epoch, "offset": 5})
        assert reply["result"] == {"epoch": epoch, "offset": 6, "recovered": True}
        await rest_publish(two, "resume", 6)
        assert [p["offset"] for p in await ws.wait(2)] == [6, 7]


async def test_redis_restart_gives_unavailable_then_a_new_epoch_live(
    cluster: Cluster,  # noqa: F811
):
    (one, two), redis_server = cluster.servers, cluster.redis
    async with WS(one) as w1, WS(two) as w2:
        await w1.call("subscribe", channel="r")
        old = (await w2.call("publish", channel="r", data="before"))["result"]
        await w1.wait(1)
        redis_server.stop()
        reply = await w2.call("publish", channel="r", data="lost")
        assert reply["error"]["code"] == "unavailable"
        assert redis_server.url in reply["error"]["message"]
        assert (await w2.call("ping"))["result"] == {}  # the connection stays open
        response = await rest_publish(one, "r", "lost")
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        redis_server.start()  # without its data
        deadline = time.monotonic() + 15
        while "error" in (reply := await w2.call("publish", channel="r", data="after")):
            assert time.monotonic() < deadline, reply
            await asyncio.sleep(0.2)
        new = reply["result"]
        assert new["epoch"] != old["epoch"] and new["offset"] == 1
        live = (await w1.wait(2))[1]  # delivery to the server that kept its subscription
        assert (live["epoch"], live["offset"], live["data"]) == (new["epoch"], 1, "after")
        # the subscriber that stayed connected is told that publications were lost
        gaps = [f for f in w1.frames if f.get("event") == "gap"]
        assert gaps and gaps[0]["channel"] == "r"
        assert w1.frames.index(gaps[0]) < w1.frames.index(live)
        since = {"epoch": old["epoch"], "offset": old["offset"]}
        resumed = await w2.call("subscribe", channel="r", since=since)
        assert resumed["result"]["recovered"] is False


async def test_a_killed_servers_clients_leave_presence(
    cluster: Cluster,  # noqa: F811
):
    one, two = cluster.servers
    async with WS(two) as watcher:
        await watcher.call("subscribe", channel="p")
        async with WS(one) as ws:
            await ws.call("subscribe", channel="p", presence=True)
            (join,) = await watcher.wait(1, "event")
            one.stop(signal.SIGKILL)  # no goodbye: only its heartbeat stops
            events = await watcher.wait(2, "event", timeout=10)
        assert events[1] == {"event": "leave", "channel": "p", "client": join["client"]}
    assert (await rest_get(two, "realtime/api/channels/p/presence"))["clients"] == []


async def test_redis_missing_at_start_is_logged_with_its_url_then_healed(tmp_path: Path):
    redis_server = RedisServer(tmp_path)  # not started yet
    server = JupyterProcess(tmp_path, redis_server.url)
    server.start()
    try:
        log = server.output()
        assert "jupyter_realtime" in log and redis_server.url in log
        response = await rest_publish(server, "x", 1)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        redis_server.start()
        deadline = time.monotonic() + 15
        while (response := await rest_publish(server, "x", 1)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.2)
        assert response.json()["offset"] == 1
    finally:
        server.stop()
        redis_server.stop()
