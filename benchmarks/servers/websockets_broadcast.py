"""Reference (d): the ``websockets`` library's ``broadcast()``.

Subscribers connect to ``/ws``. The library has no HTTP request bodies, so the publish
trigger is the control WebSocket ``/pub``: each text message is a publish body, broadcast
to every subscriber, then acknowledged on the control connection.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection, broadcast, serve

from benchmarks.servers.common import ACK, Publisher, parse_port, raise_nofile

subscribers: set[ServerConnection] = set()
publisher = Publisher()


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/pub":
        async for body in ws:
            raw = body.encode() if isinstance(body, str) else body
            broadcast(subscribers, publisher.encode(raw).decode())
            await ws.send(ACK.decode())
        return
    subscribers.add(ws)
    try:
        await ws.wait_closed()
    finally:
        subscribers.discard(ws)


async def main(port: int) -> None:
    raise_nofile()
    async with serve(
        handler, "127.0.0.1", port, compression=None, ping_interval=None, backlog=1024
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(parse_port(__doc__ or "")))
