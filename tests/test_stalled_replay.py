"""A reader that stalls during a paced replay is cut off as a slow consumer, like any
other: the replay does not wait for it forever while the hub keeps live publications."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from jupyter_realtime.protocol import Position, encode_cursor


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"outbox_limit": 256 * 1024, "max_message_size": 32 * 1024, "heartbeat_interval": 0.5}


async def test_a_stalled_sse_resume_is_dropped(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        for _ in range(300):  # 9 MB: more than the kernel buffers and 35 outboxes
            r = await http.post(server.http("realtime/api/channels/stall"), json="x" * 30_000)
        cursor = encode_cursor({"stall": Position(r.json()["epoch"], 0)})
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        path = urlsplit(server.http("realtime/sse")).path
        sock.sendall(  # and never read
            f"GET {path}?channel=stall&last_event_id={cursor} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {server.token}\r\n\r\n".encode()
        )
        try:

            async def subscribers() -> int:
                channels = (await http.get(server.http("realtime/api/channels"))).json()
                return sum(c["subscribers"] for c in channels["channels"] if c["channel"] == "stall")

            with anyio.fail_after(30):
                while await subscribers() == 0:  # the stream subscribes ...
                    await asyncio.sleep(0.05)
                while await subscribers() == 1:  # ... and is cut off once it stalls
                    await asyncio.sleep(0.2)
        finally:
            sock.close()
