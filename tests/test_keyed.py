"""Keyed publications on every way in: the ``key`` of a publish (WebSocket text and binary,
an HTTP session's uplink over SSE, XHR streaming and polling, REST's ``?key=``), the
``history`` command's ``key`` and REST ``history?key=``; bad keys get ``bad_key`` and the
connection keeps serving. The history here holds 10 publications, so only the keyed
latest reaches back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from jupyter_realtime.client import AsyncClient, BadKey, Client, Position
from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.protocol import pack_binary, unpack_binary, validate_command

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"history_size": 10, "broker_url": "memory://"}


def test_keys_are_validated() -> None:
    frame = {"op": "publish", "channel": "c", "data": 1}
    for good in ("cpu", "cell/2:In", "a=b,c+d", "x" * 200, "Tab_1.2@host-3"):
        assert validate_command({**frame, "key": good})["key"] == good
        assert validate_command({"op": "history", "channel": "c", "key": good})["key"] == good
    assert validate_command(frame)["key"] is None
    for bad in ("", "x" * 201, "with space", "é", "a\nb", 7, ["k"], True, None and 0):
        if bad is None:
            continue
        with pytest.raises(RealtimeError) as info:
            validate_command({**frame, "key": bad})
        assert info.value.code is ErrorCode.BAD_KEY and "key must be 1 to 200" in info.value.message


async def call(ws: ClientConnection, frame: dict[str, Any] | bytes, cid: int) -> dict[str, Any]:
    await ws.send(frame if isinstance(frame, bytes) else orjson.dumps(frame).decode())
    while True:
        raw = await asyncio.wait_for(ws.recv(), 10)
        msg = orjson.loads(raw) if isinstance(raw, str) else unpack_binary(raw)[0]
        if msg.get("id") == cid:
            return msg  # type: ignore[no-any-return]


async def flood(http: httpx.AsyncClient, server: Any, channel: str, n: int) -> None:
    for i in range(n):
        r = await http.post(server.http(f"realtime/api/channels/{channel}"), json={"i": i})
        assert r.status_code == 200, r.text


async def lines(http: httpx.AsyncClient, url: str, sse: bool) -> AsyncIterator[dict[str, Any]]:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if sse:
                if line.startswith("data: "):
                    yield orjson.loads(line[6:])
            elif line.strip():
                yield orjson.loads(line)


async def ws_commands(server: Any, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        return [await call(ws, {"id": i, **cmd}, i) for i, cmd in enumerate(commands)]


async def http_commands(
    server: Any, transport: str, commands: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run commands on an HTTP session whose downlink is ``transport``."""
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http(f"realtime/{transport}") + "?session=1"
        if transport == "poll":
            sid = (await http.get(url)).json()["session"]
            frames = None
        else:
            frames = lines(http, url, transport == "sse")
            sid = (await anext(frames))["session"]
        uplink = server.http(f"realtime/session/{sid}")
        replies = [
            (await http.post(uplink, json={"id": i, **cmd})).json()
            for i, cmd in enumerate(commands)
        ]
        if frames is not None:
            await frames.aclose()
        return replies


@pytest.mark.parametrize("transport", ["ws", "sse", "stream", "poll"])
async def test_the_history_command_returns_the_latest_of_a_key(server: Any, transport: str):
    channel = f"k-{transport}"
    commands = [
        {"op": "publish", "channel": channel, "data": {"cpu": 1}, "key": "cpu"},
        {"op": "publish", "channel": channel, "data": {"cpu": 2}, "key": "cpu"},
        {"op": "publish", "channel": channel, "data": {"mem": 3}, "key": "mem"},
    ]
    run = ws_commands if transport == "ws" else lambda s, c: http_commands(s, transport, c)
    published = await run(server, commands)
    assert [r["result"]["offset"] for r in published] == [1, 2, 3]
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        await flood(http, server, channel, 25)  # history (10) no longer reaches the keys
    replies = await run(server, [
        {"op": "history", "channel": channel, "key": "cpu", "limit": 1},
        {"op": "history", "channel": channel, "key": "mem"},
        {"op": "history", "channel": channel, "key": "none"},
        {"op": "history", "channel": channel, "key": "bad key"},
        {"op": "publish", "channel": channel, "data": 0, "key": "x" * 201},
        {"op": "history", "channel": channel, "limit": 1},  # still serving
        {"op": "history", "channel": channel, "key_prefix": "m"},
        {"op": "history", "channel": channel, "key_prefix": "bad prefix"},
    ])
    cpu, mem, none, bad, bad_publish, plain, prefixed, bad_prefix = replies
    assert [p["key"] for p in prefixed["result"]["publications"]] == ["mem"]
    assert bad_prefix["error"]["code"] == "bad_key"
    epoch = published[0]["result"]["epoch"]
    assert [(p["offset"], p["data"], p["key"]) for p in cpu["result"]["publications"]] == [
        (2, {"cpu": 2}, "cpu")
    ]
    assert (cpu["result"]["epoch"], cpu["result"]["offset"]) == (epoch, 28)
    assert [p["data"] for p in mem["result"]["publications"]] == [{"mem": 3}]
    assert none["result"]["publications"] == []
    for error in (bad["error"], bad_publish["error"]):
        assert error["code"] == "bad_key" and "key must be 1 to 200 characters" in error["message"]
    assert [p["offset"] for p in plain["result"]["publications"]] == [28]
    assert "key" not in plain["result"]["publications"][0]


async def test_rest_publishes_with_a_key_and_reads_its_latest(server: Any) -> None:
    url = server.http("realtime/api/channels/rest-k")
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        first = await http.post(url + "?key=state", json={"step": 1})
        await http.post(url + "?key=state", content=b"\x00", headers={
            "Content-Type": "application/octet-stream"})
        await flood(http, server, "rest-k", 30)
        latest = await http.get(url + "/history?key=state&limit=1")
        bad = await http.get(url + "/history?key=" + "%20x")
        bad_publish = await http.post(url + "?key=" + "y" * 201, json=1)
        plain = await http.get(url + "/history?limit=100")
        prefixed = await http.get(url + "/history?key_prefix=st")
    assert first.status_code == 200 and first.json()["offset"] == 1
    body = latest.json()
    assert latest.status_code == 200 and body["offset"] == 32
    assert [(p["offset"], p["data_b64"], p["key"]) for p in body["publications"]] == [
        (2, "AA==", "state")
    ]
    for r in (bad, bad_publish):
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_key"
    assert len(plain.json()["publications"]) == 10
    assert [p["offset"] for p in prefixed.json()["publications"]] == [2]


async def test_subscribers_see_the_key_and_racing_writers_leave_the_newest(server: Any) -> None:
    """Two writers publish one key at once (text and binary); every subscriber sees each
    publication's key, and the latest kept is the one with the highest offset."""
    headers = server.headers
    async with connect(server.ws("realtime/ws"), additional_headers=headers) as sub, \
            connect(server.ws("realtime/ws"), additional_headers=headers) as a, \
            connect(server.ws("realtime/ws"), additional_headers=headers) as b:
        await call(sub, {"id": 0, "op": "subscribe", "channel": "race"}, 0)

        async def write(ws: ClientConnection, who: str, binary: bool) -> list[int]:
            offsets = []
            for i in range(1, 21):
                if binary:
                    head = {"id": i, "op": "publish", "channel": "race", "key": "shared"}
                    reply = await call(ws, pack_binary(head, who.encode()), i)
                else:
                    cmd = {"op": "publish", "channel": "race", "data": who, "key": "shared"}
                    reply = await call(ws, {"id": i, **cmd}, i)
                offsets.append(reply["result"]["offset"])
            return offsets

        offsets_a, offsets_b = await asyncio.gather(write(a, "a", False), write(b, "b", True))
        got: list[dict[str, Any]] = []
        with anyio.fail_after(10):
            while len(got) < 40:
                frame = await sub.recv()
                got.append(
                    orjson.loads(frame) if isinstance(frame, str) else unpack_binary(frame)[0]
                )
        latest = await call(sub, {"id": 99, "op": "history", "channel": "race",
                                  "key": "shared"}, 99)
    assert sorted(offsets_a + offsets_b) == list(range(1, 41))
    assert {m["key"] for m in got} == {"shared"} and [m["offset"] for m in got] == list(
        range(1, 41)
    )
    (newest,) = latest["result"]["publications"]
    assert newest["offset"] == 40
    assert newest.get("data") == "a" if 40 in offsets_a else newest["data_b64"] == "Yg=="


async def test_the_python_client_publishes_keyed_and_reads_the_latest(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("client-keys")
        async with ch.subscribe() as sub:
            await ch.publish({"step": 1}, key="bar-1")
            ch.publish_nowait({"step": 2}, key="bar-1")
            ch.publish_nowait(b"\x01", key="bar-2")
            await ch.flush()
            got = [await sub.__anext__() for _ in range(3)]
        assert [(m.key, m.data) for m in got] == [
            ("bar-1", {"step": 1}), ("bar-1", {"step": 2}), ("bar-2", b"\x01")
        ]
        await ch.publish_many(range(20))
        latest = await ch.latest("bar-1")
        assert latest is not None and (latest.offset, latest.data) == (2, {"step": 2})
        assert [m.data for m in await ch.history(5, key="bar-2")] == [b"\x01"]
        assert await ch.latest("none") is None
        with pytest.raises(BadKey) as bad:
            ch.publish_nowait(1, key="no spaces")  # refused before it is queued
        assert bad.value.code is ErrorCode.BAD_KEY
        with pytest.raises(BadKey):  # the server's bad_key, typed
            await client.request("history", channel="client-keys", key="é")


async def test_the_blocking_client_publishes_keyed(server: Any) -> None:
    await asyncio.to_thread(_blocking_keys, server.http(), server.token)


def _blocking_keys(url: str, token: str) -> None:
    with Client(url, token) as client:
        ch = client.channel("sync-keys")
        first = ch.publish("a", key="k")
        ch.publish_nowait("b", key="k")
        ch.flush()
        for n in range(15):
            ch.publish(n)
        latest = ch.latest("k")
        assert latest is not None and (latest.position, latest.data) == (
            Position(first.epoch, 2), "b"
        )
        assert [m.key for m in ch.history(1, key="k")] == ["k"]
