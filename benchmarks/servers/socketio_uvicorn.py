"""Reference (e): python-socketio (ASGI) under uvicorn.

Subscribers connect with Engine.IO v4 over WebSocket (``/socket.io/?EIO=4&transport=websocket``)
and join the room ``bench``; ``POST /publish`` emits the event ``pub`` to the room.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio
import uvicorn

from benchmarks.servers.common import ACK, Publisher, parse_port, raise_nofile

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False)
publisher = Publisher()


async def connect(sid: str, environ: dict[str, Any]) -> None:
    await sio.enter_room(sid, "bench")


sio.on("connect", connect)


async def publish_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """``POST /publish`` (anything else is 404)."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status = 404
    if scope["path"] == "/publish" and scope["method"] == "POST":
        await sio.emit("pub", publisher.frame(body), room="bench")
        status = 200
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ACK))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": ACK})


app = socketio.ASGIApp(sio, other_asgi_app=publish_app)

if __name__ == "__main__":
    port = parse_port(__doc__ or "")
    raise_nofile()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="asyncio",
        ws_ping_interval=None,
        backlog=2048,
    )
