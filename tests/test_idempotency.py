"""Idempotent publishing on every way in: WebSocket (text and binary), an HTTP session's
uplink, and REST's ``Idempotency-Key``; a repeat is stored once and answered with the
first one's position and ``"duplicate": true``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from jupyter_realtime.brokers.base import Duplicate
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.errors import RealtimeError
from jupyter_realtime.protocol import pack_binary, unpack_binary, validate_command


async def call(ws: ClientConnection, frame: dict[str, Any] | bytes) -> dict[str, Any]:
    """Send a command (or a binary frame) and return its reply, skipping anything else."""
    await ws.send(frame if isinstance(frame, bytes) else orjson.dumps(frame).decode())
    cid = (unpack_binary(frame)[0] if isinstance(frame, bytes) else frame)["id"]
    while True:
        msg = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(msg, str) and orjson.loads(msg).get("id") == cid:
            return orjson.loads(msg)  # type: ignore[no-any-return]


async def history(http: httpx.AsyncClient, server: Any, channel: str) -> list[Any]:
    r = await http.get(server.http(f"realtime/api/channels/{channel}/history"))
    return [p.get("data", p.get("data_b64")) for p in r.json()["publications"]]


def test_the_key_is_validated() -> None:
    frame = {"op": "publish", "channel": "c", "data": 1}
    assert validate_command({**frame, "idempotency_key": "k"})["idempotency_key"] == "k"
    assert validate_command(frame)["idempotency_key"] is None
    assert validate_command({**frame, "idempotency_key": "é" * 200})["idempotency_key"]
    for bad in ("", "x" * 201, 7, ["k"], True):
        with pytest.raises(RealtimeError, match="idempotency_key must be a string of 1 to 200"):
            validate_command({**frame, "idempotency_key": bad})


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"idempotency_ttl": 120.0, "idempotency_keys_max": 50}


async def test_websocket_publish_repeated_with_its_key_is_stored_once(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        frame = {"op": "publish", "channel": "w", "data": {"n": 1}, "idempotency_key": "k1"}
        first = await call(ws, {"id": 1, **frame})
        again = await call(ws, {"id": 2, **frame})
        other = await call(ws, {"id": 3, **frame, "idempotency_key": "k2"})
        head = {"op": "publish", "channel": "w", "idempotency_key": "b1"}
        binary = await call(ws, pack_binary({"id": 4, **head}, b"\x00\x01"))
        binary_again = await call(ws, pack_binary({"id": 5, **head}, b"\x00\x01"))
        bad = await call(ws, {"id": 6, **frame, "idempotency_key": ""})
    assert first["result"] == {"epoch": first["result"]["epoch"], "offset": 1}
    assert again["result"] == {**first["result"], "duplicate": True}
    assert other["result"]["offset"] == 2 and "duplicate" not in other["result"]
    assert binary["result"]["offset"] == 3
    assert binary_again["result"] == {**binary["result"], "duplicate": True}
    assert bad["error"]["code"] == "bad_request" and "idempotency_key" in bad["error"]["message"]
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        assert await history(http, server, "w") == [{"n": 1}, {"n": 1}, "AAE="]


async def test_a_subscriber_gets_a_repeated_publication_once(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as sub, \
            connect(server.ws("realtime/ws"), additional_headers=server.headers) as pub:
        await call(sub, {"id": 1, "op": "subscribe", "channel": "s"})
        for i in range(3):
            await call(pub, {"id": i, "op": "publish", "channel": "s", "data": "x",
                             "idempotency_key": "once"})
        await call(pub, {"id": 9, "op": "publish", "channel": "s", "data": "end"})
        got = [orjson.loads(await asyncio.wait_for(sub.recv(), 10)) for _ in range(2)]
    assert [(m["offset"], m["data"]) for m in got] == [(1, "x"), (2, "end")]


async def test_session_uplink_publish_repeated_with_its_key_is_stored_once(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        sid = (await http.get(server.http("realtime/poll") + "?session=1")).json()["session"]
        uplink = server.http(f"realtime/session/{sid}")
        cmd = {"op": "publish", "channel": "u", "data": 5, "idempotency_key": "uk"}
        first = (await http.post(uplink, json={"id": 1, **cmd})).json()
        batch = (await http.post(uplink, json=[{"id": 2, **cmd}, {"id": 3, **cmd}])).json()
        bad = (await http.post(uplink, json={"id": 4, **cmd, "idempotency_key": 12})).json()
        assert await history(http, server, "u") == [5]
    assert first["result"]["offset"] == 1 and "duplicate" not in first["result"]
    assert [r["result"] for r in batch] == [{**first["result"], "duplicate": True}] * 2
    assert bad["error"]["code"] == "bad_request"


async def test_rest_publish_repeated_with_its_key_is_stored_once(server: Any) -> None:
    url = server.http("realtime/api/channels/r")
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        key = {"Idempotency-Key": "rest-1"}
        first = await http.post(url, json={"v": 1}, headers=key)
        again = await http.post(url, json={"v": 1}, headers=key)
        raw = {"Idempotency-Key": "rest-2", "Content-Type": "application/octet-stream"}
        binary = await http.post(url, content=b"\xff", headers=raw)
        binary_again = await http.post(url, content=b"\xff", headers=raw)
        unkeyed = [await http.post(url, json={"v": 2}) for _ in range(2)]
        too_long = await http.post(url, json={"v": 3}, headers={"Idempotency-Key": "x" * 201})
        assert await history(http, server, "r") == [{"v": 1}, "/w==", {"v": 2}, {"v": 2}]
    assert first.status_code == again.status_code == 200
    assert first.json() == {"channel": "r", "epoch": first.json()["epoch"], "offset": 1}
    assert again.json() == {**first.json(), "duplicate": True}
    assert binary_again.json() == {**binary.json(), "duplicate": True}
    assert [r.json()["offset"] for r in unkeyed] == [3, 4]
    error = too_long.json()["error"]
    assert too_long.status_code == 400 and error["code"] == "bad_request"
    assert "idempotency_key" in error["message"]


async def test_the_app_configures_the_broker(server: Any, jp_serverapp: Any) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_realtime"]
    broker = app.hub.broker
    assert (broker.idempotency_ttl, broker.idempotency_keys) == (120.0, 50)


async def test_keys_hold_a_channel_without_history_until_they_expire() -> None:
    now = [1000.0]
    broker = MemoryBroker(history_size=0, idempotency_ttl=60, clock=lambda: now[0])
    first = await broker.publish("c", b"1", binary=False, sender=None, ts=now[0],
                                 idempotency_key="k")
    broker.sweep()
    assert broker.is_live("c")  # the key alone keeps the channel and its epoch
    again = await broker.publish("c", b"1", binary=False, sender=None, ts=now[0],
                                 idempotency_key="k")
    assert isinstance(again, Duplicate) and again.position == first.position
    now[0] += 61
    broker.sweep()
    assert not broker.is_live("c")
    assert await broker.position("c") == first.position  # let go, its position kept
