"""A stream whose replay fails after its headers went out says why, on the stream."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from jupyter_realtime.brokers.base import HistoryResult
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.protocol import Position, encode_cursor


class HistoryDownBroker(MemoryBroker):
    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        raise RealtimeError(ErrorCode.UNAVAILABLE, "the store is down")


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"broker_class": "test_stream_errors.HistoryDownBroker"}


@pytest.mark.parametrize("path", ["realtime/sse", "realtime/stream"])
async def test_a_failed_replay_ends_the_stream_with_a_disconnect(server: Any, path: str) -> None:
    cursor = encode_cursor({"c": Position("e", 1)})
    query = f"?channel=c&cursor={cursor}&last_event_id={cursor}"
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        response = await http.get(server.http(path) + query)
    assert response.status_code == 200  # the headers go out before the replay
    frames = [
        orjson.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.strip().startswith(("{", "data: {"))
    ]
    assert frames == [
        {"event": "disconnect", "code": 1011, "reason": "unavailable", "reconnect": True}
    ]
