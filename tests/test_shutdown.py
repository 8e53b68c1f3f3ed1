"""Stopping the extension: open connections are closed and leave their channels first."""

from __future__ import annotations

import json
from typing import Any

import websockets

from jupyter_realtime import session


async def test_stop_waits_for_closed_sessions_to_leave_their_channels(
    server: Any, jp_serverapp: Any
) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_realtime"]
    url = server.ws("realtime/ws")
    async with websockets.connect(url, additional_headers=server.headers) as ws:
        await ws.send(json.dumps({"id": 1, "op": "subscribe", "channel": "bye", "presence": True}))
        while json.loads(await ws.recv()).get("id") != 1:
            pass
        assert len(await app.hub.presence("bye")) == 1

        await app.stop_extension()

        # the session's cleanup ran to the end before the broker was closed
        assert not [task for task in session._background if not task.done()]
        assert await app.hub.presence("bye") == []
        closed = await ws.wait_closed() or ws.close_code
    assert (closed, ws.close_reason) == (1001, "shutdown")
