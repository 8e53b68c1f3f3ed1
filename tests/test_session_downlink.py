"""HTTP sessions announce a subscription's position on the downlink, behind its replay.

The POST reply and the stream travel on two connections, so the POST reply may arrive
before the replay: a client that moved its position on the reply skipped the replay.
The position now comes on the stream, after the replayed publications; the reply only
acknowledges. And a stateless poll whose cursor is of an old epoch moves to the new one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest

from jupyter_realtime.protocol import Position, decode_cursor, encode_cursor


async def lines(http: httpx.AsyncClient, url: str, sse: bool) -> AsyncIterator[dict[str, Any]]:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if sse:
                if line.startswith("data: "):
                    yield orjson.loads(line[6:])
            elif line.strip():
                yield orjson.loads(line)


async def read_until_subscribed(frames: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with anyio.fail_after(10):
        async for frame in frames:
            out.append(frame)
            if frame.get("event") == "subscribed":
                return out
    raise AssertionError(f"no subscribed event in {out}")


async def publish(http: httpx.AsyncClient, server: Any, channel: str, n: int) -> Position:
    for i in range(n):
        r = await http.post(server.http(f"realtime/api/channels/{channel}"), json={"i": i})
        assert r.status_code == 200
    body = r.json()
    return Position(body["epoch"], body["offset"])


@pytest.mark.parametrize("path", ["realtime/sse", "realtime/stream"])
async def test_stream_session_subscribe_announces_after_replay(server: Any, path: str) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        last = await publish(http, server, "dl", 6)
        frames = lines(http, server.http(path) + "?session=1", sse=path.endswith("sse"))
        opened = await anext(frames)
        assert opened["event"] == "session"
        uplink = server.http(f"realtime/session/{opened['session']}")
        since = {"epoch": last.epoch, "offset": 2}
        r = await http.post(uplink, json={"id": 1, "op": "subscribe", "channel": "dl", "since": since})
        assert r.json() == {"id": 1, "result": {"channel": "dl", "announced": True}}
        got = await read_until_subscribed(frames)
        await frames.aclose()
    assert [f["offset"] for f in got[:-1]] == [3, 4, 5, 6]
    assert got[-1] == {
        "event": "subscribed", "channel": "dl", "epoch": last.epoch, "offset": 6,
        "recovered": True, **({"cursor": got[-1]["cursor"]} if "cursor" in got[-1] else {}),
    }


async def test_poll_session_subscribe_announces_after_replay(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        last = await publish(http, server, "dp", 4)
        sid = (await http.get(server.http("realtime/poll") + "?session=1")).json()["session"]
        since = {"epoch": last.epoch, "offset": 1}
        r = await http.post(
            server.http(f"realtime/session/{sid}"),
            json={"id": 1, "op": "subscribe", "channel": "dp", "since": since},
        )
        assert r.json()["result"] == {"channel": "dp", "announced": True}
        body = (await http.get(server.http("realtime/poll") + f"?session={sid}&timeout=5")).json()
    messages = body["messages"]
    assert [m.get("offset") for m in messages[:-1]] == [2, 3, 4]
    assert messages[-1]["event"] == "subscribed" and messages[-1]["offset"] == 4


async def test_session_resume_from_a_lost_epoch_reports_the_gap_first(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        last = await publish(http, server, "dg", 2)
        sid = (await http.get(server.http("realtime/poll") + "?session=1")).json()["session"]
        since = {"epoch": "gone", "offset": 9}
        await http.post(
            server.http(f"realtime/session/{sid}"),
            json={"id": 1, "op": "subscribe", "channel": "dg", "since": since},
        )
        body = (await http.get(server.http("realtime/poll") + f"?session={sid}&timeout=5")).json()
    events = [m.get("event", "publication") for m in body["messages"]]
    assert events == ["publication", "publication", "gap", "subscribed"]
    assert body["messages"][-1]["recovered"] is False
    assert body["messages"][-1]["epoch"] == last.epoch


async def test_stateless_poll_leaves_an_old_epoch_behind(server: Any) -> None:
    """A cursor from an old epoch gets one gap, then a cursor in the new epoch: the next
    poll waits for news instead of answering the same gap at once, forever."""
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        await http.post(server.http("realtime/api/channels/ps-old"), json=1)
        stale = encode_cursor({"ps-old": Position("gone", 5)})
        poll = server.http("realtime/poll") + "?channel=ps-old&timeout=0.3&cursor="
        first = (await http.get(poll + stale)).json()
        second = (await http.get(poll + first["cursor"])).json()
    gaps = [m for m in first["messages"] if m.get("event") == "gap"]
    assert len(gaps) == 1 and set(gaps[0]) == {"event", "channel", "epoch", "offset"}
    assert decode_cursor(first["cursor"])["ps-old"].epoch != "gone"
    assert second["messages"] == [] and second["cursor"] == first["cursor"]
