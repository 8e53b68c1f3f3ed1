"""Server-Sent Events against a real server, read with httpx + httpx-sse."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"heartbeat_interval": 0.2}


async def events(
    http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[ServerSentEvent]:
    async with aconnect_sse(http, "GET", url, headers=dict(headers or {})) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            if event.data:  # a browser dispatches no event without data (the retry: line)
                yield event


async def take(stream: AsyncIterator[ServerSentEvent], n: int) -> list[ServerSentEvent]:
    out = []
    with anyio.fail_after(5):
        async for event in stream:
            out.append(event)
            if len(out) == n:
                break
    return out


async def test_publications_arrive_with_ids_and_resume_from_last_event_id(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http("realtime/sse") + "?channel=a&channel=b"
        stream = events(http, url)
        subscribed = await take(stream, 2)
        assert [orjson.loads(e.data)["event"] for e in subscribed] == ["subscribed", "subscribed"]
        for ch, value in [("a", 1), ("b", 2), ("a", 3)]:
            await http.post(server.http(f"realtime/api/channels/{ch}"), json=value)
        got = await take(stream, 3)
        await stream.aclose()
        frames = [orjson.loads(e.data) for e in got]
        assert [(f["channel"], f["data"]) for f in frames] == [("a", 1), ("b", 2), ("a", 3)]
        assert all(e.id for e in got) and len({e.id for e in got}) == 3
        last_id = got[-1].id
        for ch, value in [("b", 4), ("a", 5)]:
            await http.post(server.http(f"realtime/api/channels/{ch}"), json=value)
        resumed = events(http, url, headers={"Last-Event-ID": last_id})
        replay = [orjson.loads(e.data) for e in await take(resumed, 4)]
        await resumed.aclose()
    pubs = [f for f in replay if "offset" in f and "event" not in f]
    # order is per channel; the stream resumes each channel from its own position
    assert sorted((f["channel"], f["data"]) for f in pubs) == [("a", 5), ("b", 4)]
    assert [f["recovered"] for f in replay if f.get("event") == "subscribed"] == [True, True]


async def test_query_last_event_id_and_header_wins(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http("realtime/sse") + "?channel=q"
        stream = events(http, url)
        first = await take(stream, 1)
        await stream.aclose()
        for value in range(3):
            await http.post(server.http("realtime/api/channels/q"), json=value)
        # the query cursor is from the start; replay all three
        stream = events(http, url + f"&last_event_id={first[0].id}")
        frames = [orjson.loads(e.data) for e in await take(stream, 4)]
        await stream.aclose()
        assert [f["data"] for f in frames if "data" in f] == [0, 1, 2]
        # a header naming the newest position wins over the query: nothing to replay
        newest = frames[2]
        from jupyter_realtime.protocol import Position, encode_cursor

        header = encode_cursor({"q": Position(newest["epoch"], newest["offset"])})
        stream = events(http, url + f"&last_event_id={first[0].id}", headers={"Last-Event-ID": header})
        only = [orjson.loads(e.data) for e in await take(stream, 1)]
        await stream.aclose()
    assert only[0]["event"] == "subscribed" and only[0]["offset"] == 3


async def test_binary_publication_is_base64_on_sse(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        stream = events(http, server.http("realtime/sse") + "?channel=bin")
        await take(stream, 1)
        await http.post(
            server.http("realtime/api/channels/bin"),
            content=b"\x00\xff\x10",
            headers={"Content-Type": "application/octet-stream"},
        )
        (event,) = await take(stream, 1)
        await stream.aclose()
    frame = orjson.loads(event.data)
    assert "data" not in frame
    assert base64.b64decode(frame["data_b64"]) == b"\x00\xff\x10"


async def test_retry_and_heartbeat_comments(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        async with http.stream("GET", server.http("realtime/sse") + "?channel=hb") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            seen = b""
            with anyio.fail_after(5):
                async for chunk in response.aiter_bytes():
                    seen += chunk
                    if b": ping" in seen:
                        break
    assert seen.startswith(b"retry: 2000\n\n")
    assert b": ping\n\n" in seen


async def test_unrecoverable_resume_sends_a_gap_event(server: Any) -> None:
    from jupyter_realtime.protocol import Position, encode_cursor

    cursor = encode_cursor({"g": Position("old-epoch", 5)})
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        stream = events(http, server.http("realtime/sse") + f"?channel=g&last_event_id={cursor}")
        frames = [orjson.loads(e.data) for e in await take(stream, 2)]
        await stream.aclose()
    assert frames[0]["event"] == "gap" and frames[0]["channel"] == "g"
    assert frames[1]["event"] == "subscribed" and frames[1]["recovered"] is False


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "bad_request"),
        ("?channel=bad/name", 400, "bad_request"),
        ("?channel=a&last_event_id=%%%", 400, "bad_request"),
        ("?channel=a&channel=a", 400, "bad_request"),
    ],
)
async def test_bad_requests(server: Any, query: str, status: int, code: str) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        r = await http.get(server.http("realtime/sse") + query)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code


async def test_no_token_is_refused_without_redirect(server: Any) -> None:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        r = await http.get(server.http("realtime/sse") + "?channel=a")
    assert r.status_code in (401, 403)
    assert r.json()["error"]["code"] in ("unauthorized", "forbidden")


async def test_session_uplink_carries_every_command(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        stream = events(http, server.http("realtime/sse") + "?session=1")
        (hello,) = await take(stream, 1)
        sid = orjson.loads(hello.data)["session"]
        uplink = server.http(f"realtime/session/{sid}")
        r = await http.post(uplink, json={"id": 1, "op": "subscribe", "channel": "up"})
        assert r.json() == {"id": 1, "result": {"channel": "up", "announced": True}}
        r = await http.post(uplink, json=[{"id": 2, "op": "publish", "channel": "up", "data": "x"}, {"id": 3, "op": "nope"}])
        assert r.json()[0]["result"]["offset"] == 1
        assert r.json()[1]["error"]["code"] == "bad_request"
        subscribed, event = [orjson.loads(e.data) for e in await take(stream, 2)]
        assert subscribed["event"] == "subscribed" and subscribed["offset"] == 0
        assert event["data"] == "x"
        r = await http.post(uplink, json={"id": 4, "op": "unsubscribe", "channel": "up"})
        assert r.json() == {"id": 4, "result": {}}
        r = await http.post(server.http("realtime/session/unknown"), json={"op": "ping"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await http.post(uplink, content=b"{nope")
        assert r.status_code == 400
        r = await http.delete(uplink)
        assert r.status_code == 204
        rest = [orjson.loads(e.data) for e in await take(stream, 1)]
        await stream.aclose()
    assert rest[0]["event"] == "disconnect"
