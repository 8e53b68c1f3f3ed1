"""WebSocket transport against a real Jupyter server, with the `websockets` client."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from jupyter_realtime.protocol import pack_binary, unpack_binary


async def recv(ws: ClientConnection, timeout: float = 5.0) -> Any:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return raw if isinstance(raw, bytes) else orjson.loads(raw)


async def call(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a command and return its reply, collecting nothing else."""
    await ws.send(orjson.dumps(frame).decode())
    while True:
        msg = await recv(ws)
        if isinstance(msg, dict) and msg.get("id") == frame.get("id"):
            return msg


async def test_subscribe_publish_in_order(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as sub, connect(
        server.ws("realtime/ws"), additional_headers=server.headers
    ) as pub:
        reply = await call(sub, {"id": 1, "op": "subscribe", "channel": "demo"})
        assert reply["result"]["offset"] == 0 and reply["result"]["recovered"] is True
        for i in range(20):
            ack = await call(pub, {"id": i + 10, "op": "publish", "channel": "demo", "data": {"i": i}})
            assert ack["result"]["offset"] == i + 1
        got = [await recv(sub) for _ in range(20)]
    assert [m["data"]["i"] for m in got] == list(range(20))
    assert [m["offset"] for m in got] == list(range(1, 21))
    assert {m["channel"] for m in got} == {"demo"}
    assert all(m["sender"] for m in got)


async def test_token_in_query_string(server: Any) -> None:
    async with connect(server.ws("realtime/ws") + f"?token={server.token}") as ws:
        assert (await call(ws, {"id": 1, "op": "ping"})) == {"id": 1, "result": {}}


async def test_resume_after_forced_disconnect_has_no_gap_and_no_duplicate(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        ws = await connect(server.ws("realtime/ws"), additional_headers=server.headers)
        await call(ws, {"id": 1, "op": "subscribe", "channel": "r"})
        for i in range(3):
            await http.post(server.http("realtime/api/channels/r"), json=i)
        seen = [await recv(ws) for _ in range(3)]
        ws.transport.abort()  # the network drops: no close handshake
        for i in range(3, 7):
            await http.post(server.http("realtime/api/channels/r"), json=i)
        last = seen[-1]
        async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws2:
            await ws2.send(orjson.dumps({"id": 2, "op": "subscribe", "channel": "r", "since": {"epoch": last["epoch"], "offset": last["offset"]}}).decode())
            replayed = [await recv(ws2) for _ in range(5)]
            await http.post(server.http("realtime/api/channels/r"), json=7)
            live = await recv(ws2)
    assert [m["data"] for m in replayed[:4]] == [3, 4, 5, 6]
    assert replayed[4] == {"id": 2, "result": {"epoch": last["epoch"], "offset": 7, "recovered": True}}
    assert live["data"] == 7 and live["offset"] == 8


async def test_binary_publish_and_delivery(server: Any) -> None:
    # every byte value (not in the order 0x00 0x01 0x02 ...: a Yjs client would read that as
    # a sync update, which the server applies to a shared document; docs/shared-cells.md)
    payload = bytes(range(255, -1, -1))
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await call(ws, {"id": 1, "op": "subscribe", "channel": "bin"})
        await ws.send(pack_binary({"id": 2, "op": "publish", "channel": "bin"}, payload))
        frames = [await recv(ws), await recv(ws)]
    binary = next(f for f in frames if isinstance(f, bytes))
    reply = next(f for f in frames if isinstance(f, dict))
    header, data = unpack_binary(binary)
    assert data == payload
    assert header["channel"] == "bin" and header["offset"] == 1 and "data" not in header
    assert reply == {"id": 2, "result": {"epoch": header["epoch"], "offset": 1}}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{oops", "bad_request"),
        ('{"id": 3, "op": "teleport"}', "bad_request"),
        ('{"id": 3, "op": "subscribe", "channel": "no/slash"}', "bad_request"),
        ('{"id": 3, "op": "unsubscribe", "channel": "never"}', "bad_request"),
    ],
)
async def test_bad_input_gets_an_error_and_the_connection_keeps_serving(
    server: Any, frame: str, code: str
) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await ws.send(frame)
        error = await recv(ws)
        assert error["error"]["code"] == code and error["error"]["message"]
        assert (await call(ws, {"id": 9, "op": "ping"}))["result"] == {}


async def test_bad_binary_frame_gets_an_error(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await ws.send(struct.pack(">I", 99) + b"{}")
        assert (await recv(ws))["error"]["code"] == "bad_request"
        await ws.send(pack_binary({"op": "subscribe", "channel": "x"}, b""))
        assert (await recv(ws))["error"]["code"] == "bad_request"


async def test_oversized_publication_is_too_large(server: Any) -> None:
    async with connect(
        server.ws("realtime/ws"), additional_headers=server.headers, max_size=None
    ) as ws:
        big = "x" * (1 << 20)
        reply = await call(ws, {"id": 1, "op": "publish", "channel": "big", "data": big})
        assert reply["error"]["code"] == "too_large"
        assert (await call(ws, {"id": 2, "op": "ping"}))["result"] == {}


async def test_a_20_mb_binary_publication_gets_the_too_large_reply(server: Any) -> None:
    """Not a 1009 close: the documented reply, and the socket goes on serving."""
    async with connect(
        server.ws("realtime/ws"), additional_headers=server.headers, max_size=None
    ) as ws:
        await ws.send(pack_binary({"id": 1, "op": "publish", "channel": "huge"},
                                  b"\x00\x02" + b"y" * (20 << 20)))
        reply = await recv(ws, timeout=30)
        assert reply["id"] == 1 and reply["error"]["code"] == "too_large"
        assert (await call(ws, {"id": 2, "op": "ping"}))["result"] == {}


async def test_repeated_abuse_closes_with_a_reason(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        for _ in range(60):
            await ws.send("nonsense")
        with pytest.raises(websockets.ConnectionClosed) as info:
            for _ in range(100):
                await recv(ws)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "bad_frames")


async def test_no_token_is_refused(server: Any) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(server.ws("realtime/ws")):
            pass
    assert info.value.response.status_code == 403


async def test_wrong_token_is_refused(server: Any) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(server.ws("realtime/ws") + "?token=wrong"):
            pass
    assert info.value.response.status_code == 403


async def test_foreign_origin_is_refused(server: Any) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(
            server.ws("realtime/ws"), additional_headers=server.headers, origin="http://evil.example"
        ):
            pass
    assert info.value.response.status_code == 403


async def test_unsubscribe_stops_delivery(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await call(ws, {"id": 1, "op": "subscribe", "channel": "u"})
        assert (await call(ws, {"id": 2, "op": "unsubscribe", "channel": "u"}))["result"] == {}
        await call(ws, {"id": 3, "op": "publish", "channel": "u", "data": 1})
        await call(ws, {"id": 4, "op": "publish", "channel": "other", "data": 1})
        with pytest.raises(asyncio.TimeoutError):
            await recv(ws, timeout=0.3)


async def test_presence_and_history_commands(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as a, connect(
        server.ws("realtime/ws"), additional_headers=server.headers
    ) as b:
        await call(a, {"id": 1, "op": "subscribe", "channel": "room", "presence": True})
        await call(b, {"id": 1, "op": "subscribe", "channel": "room", "presence": True})
        # a's own join came before its subscribe reply (call() skipped it): this is b's
        join = await recv(a)
        assert join["event"] == "join" and join["channel"] == "room"
        clients = (await call(a, {"id": 2, "op": "presence", "channel": "room"}))["result"]["clients"]
        assert len(clients) == 2
        assert set(clients[0]) == {"client", "user", "name", "color"}
        await call(b, {"id": 3, "op": "publish", "channel": "room", "data": "hi"})
        hist = (await call(a, {"id": 4, "op": "history", "channel": "room", "limit": 5}))["result"]
        assert [p["data"] for p in hist["publications"]] == ["hi"]
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(headers=server.headers) as http:
        r = await http.get(server.http("realtime/api/channels/room/presence"))
    assert r.json() == {"clients": []}
