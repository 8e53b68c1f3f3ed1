"""Coalesced writes through a real server: a burst published in one event-loop turn
reaches each client intact and in order, in fewer writes than publications.

The server's socket of the client's connection is wrapped to count ``send`` calls (the
bytes still go through the real socket); the client is an ordinary one (websockets,
httpx, httpx-sse) reading over loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect

BURST = 50


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    """The in-memory broker delivers and returns inside ``publish``, so a loop of publishes
    is one event-loop turn; the SQLite broker's ``publish`` also waits for its commit."""
    return {"broker_url": "memory://"}


class CountingSocket:
    """The server's socket, with its ``send`` calls counted."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.sends = 0

    def send(self, data: Any, *args: Any) -> int:
        self.sends += 1
        return int(self._sock.send(data, *args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def context_of(serverapp: Any) -> Any:
    (app,) = serverapp.extension_manager.extension_apps["jupyter_realtime"]
    return app.context


def count_sends(context: Any, kind: str) -> CountingSocket:
    """Wrap the socket of the one open ``kind`` connection."""
    (transport,) = [t for t in context.streams if t.kind == kind]
    counting = CountingSocket(transport.stream.socket)
    transport.stream.socket = counting
    return counting


async def burst(context: Any, channel: str) -> None:
    """Publish ``BURST`` publications without yielding to the loop (the memory broker
    delivers inside ``publish``): one turn."""
    for i in range(BURST):
        await context.hub.publish(channel, orjson.dumps({"i": i, "pad": "x" * 150}))


def check(frames: list[dict[str, Any]], counting: CountingSocket) -> None:
    assert [f["data"]["i"] for f in frames] == list(range(BURST))
    offsets = [f["offset"] for f in frames]
    assert offsets == list(range(offsets[0], offsets[0] + BURST))
    # the first frame at once, the rest of the turn joined (a few more writes if the
    # kernel took only part); it was one write per publication
    assert 1 <= counting.sends <= 3, counting.sends


async def test_websocket_burst_in_one_write(server: Any, jp_serverapp: Any) -> None:
    context = context_of(jp_serverapp)
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "c:ws"}).decode())
        assert "result" in orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        counting = count_sends(context, "ws")
        await burst(context, "c:ws")
        frames = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(BURST)]
        check(frames, counting)
        # and after the burst a reply still comes back, behind it
        await ws.send(orjson.dumps({"id": 2, "op": "ping"}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {"id": 2, "result": {}}


async def _read_http(
    server: Any, context: Any, kind: str, path: str, parse: Callable[[str], dict[str, Any]]
) -> None:
    channel = f"c:{kind}"
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http(path) + f"?channel={channel}"
        if kind == "sse":
            async with aconnect_sse(http, "GET", url) as source:
                events = source.aiter_sse()
                lines = (e.data async for e in events if e.data)
                await _check_lines(context, kind, channel, lines, parse)
        else:
            async with http.stream("GET", url) as response:
                lines = (line async for line in response.aiter_lines() if line.strip())
                await _check_lines(context, kind, channel, lines, parse)


async def _check_lines(
    context: Any, kind: str, channel: str, lines: Any, parse: Callable[[str], dict[str, Any]]
) -> None:
    with anyio.fail_after(10):
        first = parse(await anext(lines))
        assert first["event"] == "subscribed"
        counting = count_sends(context, kind)
        await burst(context, channel)
        frames = [parse(await anext(lines)) for _ in range(BURST)]
    check(frames, counting)


async def test_sse_burst_in_one_write(server: Any, jp_serverapp: Any) -> None:
    await _read_http(server, context_of(jp_serverapp), "sse", "realtime/sse", orjson.loads)


async def test_ndjson_stream_burst_in_one_write(server: Any, jp_serverapp: Any) -> None:
    await _read_http(
        server, context_of(jp_serverapp), "stream", "realtime/stream", orjson.loads
    )


async def test_burst_larger_than_a_write_stays_bounded(server: Any, jp_serverapp: Any) -> None:
    """Past ``FLUSH_AT`` the pending bytes go out at once: a reader that keeps up gets a
    burst many times that size, in order, and is not taken for a slow consumer."""
    context = context_of(jp_serverapp)
    async with connect(
        server.ws("realtime/ws"), additional_headers=server.headers, max_size=None
    ) as ws:
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "big"}).decode())
        assert "result" in orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        payload = "y" * 8000
        n = 60  # ~480 KB in one turn: several flushes of 64 KiB, under the outbox
        for i in range(n):
            await context.hub.publish("big", orjson.dumps({"i": i, "p": payload}))
        got = [orjson.loads(await asyncio.wait_for(ws.recv(), 5))["data"]["i"] for _ in range(n)]
        assert got == list(range(n))
