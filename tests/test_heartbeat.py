"""Server-wide heartbeats: WebSocket pings with a pong timeout."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from websockets.asyncio.client import connect


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"heartbeat_interval": 0.2}


async def test_a_peer_that_answers_pings_stays_connected(server: Any) -> None:
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as ws:
        await asyncio.sleep(1.5)  # several timeouts long; the client answers every ping
        await ws.send('{"id": 1, "op": "ping"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"id":1,"result":{}}'


async def test_a_peer_that_never_answers_pings_is_closed_with_a_reason(server: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = urlsplit(server.ws("realtime/ws")).path
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: token {server.token}\r\n\r\n".encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    pings = 0
    with anyio.fail_after(10):
        while True:
            head = await reader.readexactly(2)
            size = head[1] & 0x7F
            payload = await reader.readexactly(size)
            opcode = head[0] & 0x0F
            if opcode == 0x9:
                pings += 1  # and never answer
            elif opcode == 0x8:
                code = struct.unpack(">H", payload[:2])[0]
                break
    writer.close()
    assert pings >= 1
    assert (code, payload[2:]) == (4003, b"ping_timeout")
