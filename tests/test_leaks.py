"""No per-connection state outlives its connection (through a real server).

Connections churn (subscribe, publish, drop: half closed cleanly, half aborted without a
close frame, as the soak does); afterwards the hub, the context and the limits hold
nothing of them, and ``gc`` finds no session, transport or handler of that server left.
Counts of objects, not time or memory: the soak's figures are in ``docs/security.md``.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect

from jupyter_realtime import protocol
from jupyter_realtime import session as session_module
from jupyter_realtime.session import Session
from jupyter_realtime.transports.websocket import RealtimeWebSocketHandler, WebSocketTransport

CHANNELS = ["leak:0", "leak:1", "leak:2"]
CYCLES = 60


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"heartbeat_interval": 0.2, "history_size": 5}


def context_of(serverapp: Any) -> Any:
    (app,) = serverapp.extension_manager.extension_apps["jupyter_realtime"]
    return app.context


def held(context: Any) -> dict[str, int]:
    """Everything the server holds for connections, by table (empty when all are gone)."""
    hub = context.hub
    counts = {
        "context.streams": len(context.streams),
        "context.sessions": len(context.sessions),
        "context._expiry": len(context._expiry),
        "limits.connections": context.limits.open_connections(),
        "limits.users": len(context.limits.connections),
        "session._background": len(session_module._background),
    }
    for name in ("_live", "_recovering", "_subscribers", "_present"):
        counts[f"hub.{name}"] = sum(len(entries) for entries in getattr(hub, name).values())
    presence = hub.broker._channels
    counts["broker.presence"] = sum(len(ch.presence) for ch in presence.values())
    return {name: n for name, n in counts.items() if n}


def live_objects(context: Any) -> dict[str, int]:
    """Sessions, WebSocket transports and handlers of this server that ``gc`` still finds."""
    gc.collect()
    found: dict[str, int] = {}
    for obj in gc.get_objects():
        if isinstance(obj, Session):
            ours = obj.hub is context.hub
        elif isinstance(obj, WebSocketTransport):
            ours = obj.handler.context is context
        elif isinstance(obj, RealtimeWebSocketHandler):
            ours = getattr(obj, "context", None) is context
        else:
            continue
        if ours:
            found[type(obj).__name__] = found.get(type(obj).__name__, 0) + 1
    return found


async def until_released(context: Any) -> dict[str, int]:
    """Wait (bounded) until the server has let go of every connection; what it still holds."""
    for _ in range(100):
        left = held(context)
        if not left:
            return left
        await asyncio.sleep(0.05)
    return held(context)


async def call(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(orjson.dumps(frame).decode())
    while True:
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if reply.get("id") == frame["id"]:
            return reply


async def ws_cycle(server: Any, i: int) -> None:
    ws = await connect(server.ws("realtime/ws"), additional_headers=server.headers)
    channel = CHANNELS[i % len(CHANNELS)]
    reply = await call(ws, {"id": 1, "op": "subscribe", "channel": channel, "presence": i % 3 == 0})
    assert "result" in reply, reply
    if i % 4 == 0:
        reply = await call(ws, {"id": 2, "op": "publish", "channel": channel, "data": i})
        assert "result" in reply, reply
    if i % 2:
        ws.transport.abort()  # the network drops: no close frame
    else:
        await ws.close()


async def test_websocket_churn_leaves_nothing_behind(server: Any, jp_serverapp: Any) -> None:
    context = context_of(jp_serverapp)
    survivor = await connect(server.ws("realtime/ws"), additional_headers=server.headers)
    await call(survivor, {"id": 1, "op": "subscribe", "channel": CHANNELS[0], "presence": True})
    for start in range(0, CYCLES, 10):
        await asyncio.gather(*(ws_cycle(server, i) for i in range(start, start + 10)))
    await survivor.close()
    assert await until_released(context) == {}
    assert live_objects(context) == {}


async def test_sse_churn_leaves_nothing_behind(server: Any, jp_serverapp: Any) -> None:
    context = context_of(jp_serverapp)
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        for i in range(CYCLES // 3):
            url = server.http("realtime/sse") + f"?channel={CHANNELS[i % len(CHANNELS)]}"
            async with aconnect_sse(http, "GET", url) as source:
                assert source.response.status_code == 200
                async for event in source.aiter_sse():
                    if event.data and orjson.loads(event.data).get("event") == "subscribed":
                        break
    assert await until_released(context) == {}
    assert live_objects(context) == {}


def test_a_publication_kept_in_history_holds_only_its_bytes() -> None:
    """orjson hands back its whole buffer (4 KiB at least) behind a short bytes object;
    what history keeps (payload, cached JSON frame) must be the encoded bytes alone."""
    n, data = 200, {"n": 1, "pad": "x" * 200}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = []
        for i in range(n):
            cmd = protocol.decode_command(
                orjson.dumps({"op": "publish", "channel": "c", "data": data})
            )
            pub = protocol.Publication("c", "e", i + 1, cmd["payload"])
            pub.json()
            kept.append(pub)
        per_publication = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    encoded = len(kept[0].payload) + len(kept[0].json())
    assert per_publication < encoded + 1024, (per_publication, encoded)


def handshake_left(handler: Any) -> dict[str, int]:
    """What of its handshake an open connection's handler still holds, by name."""
    request = handler.request
    left = {
        "request headers": len(request.headers),
        "connection's request headers": len(getattr(request.connection, "_request_headers",
                                                    None) or {}),
        "response headers": len(handler._headers),
        "query arguments": len(request.query_arguments),
        "new cookie": int("_new_cookie" in handler.__dict__),
        "token holder": int("_token_holder" in handler.__dict__),
    }
    return {name: n for name, n in left.items() if n}


async def test_idle_connections_forget_their_handshake(server: Any, jp_serverapp: Any) -> None:
    """Hours of idling: neither a WebSocket's nor an SSE stream's handler keeps the
    headers, cookies and arguments of its handshake once the session is open."""
    context = context_of(jp_serverapp)
    headers = {**server.headers, "X-Big": "y" * 2000}
    async with connect(server.ws("realtime/ws") + "?pad=1", additional_headers=headers) as ws:
        assert "result" in await call(ws, {"id": 1, "op": "subscribe", "channel": "idle"})
        (transport,) = [t for t in context.streams if t.kind == "ws"]
        assert handshake_left(transport.handler) == {}
        assert "_current_user" not in transport.handler.__dict__
        # and the socket still works
        assert "result" in await call(ws, {"id": 2, "op": "publish", "channel": "idle", "data": 1})
    async with httpx.AsyncClient(headers=headers) as http:
        url = server.http("realtime/sse") + "?channel=idle"
        async with aconnect_sse(http, "GET", url) as source:
            async for event in source.aiter_sse():
                if event.data:
                    break
            (transport,) = [t for t in context.streams if t.kind == "sse"]
            assert handshake_left(transport.handler) == {}
            # only the name stays, for the request log when the stream ends
            user = transport.handler.current_user
            assert user.username and user.name == user.username
