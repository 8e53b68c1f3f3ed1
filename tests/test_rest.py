"""REST endpoints: publish (JSON and bytes), channels, history, presence; their errors."""

from __future__ import annotations

from typing import Any

import httpx


async def test_publish_returns_position_and_history_returns_it(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        acks = [
            (await http.post(server.http("realtime/api/channels/h"), json={"n": n})).json()
            for n in range(5)
        ]
        assert [a["offset"] for a in acks] == [1, 2, 3, 4, 5]
        assert {a["channel"] for a in acks} == {"h"} and len({a["epoch"] for a in acks}) == 1
        newest = (await http.get(server.http("realtime/api/channels/h/history") + "?limit=2")).json()
        since = (
            await http.get(
                server.http("realtime/api/channels/h/history")
                + f"?since=1&epoch={acks[0]['epoch']}&limit=2"
            )
        ).json()
        no_epoch = (await http.get(server.http("realtime/api/channels/h/history") + "?since=4")).json()
        other = (await http.get(server.http("realtime/api/channels/h/history") + "?since=4&epoch=zz")).json()
    assert [p["data"]["n"] for p in newest["publications"]] == [3, 4]
    assert [p["offset"] for p in since["publications"]] == [2, 3]
    assert [p["offset"] for p in no_epoch["publications"]] == [5]
    assert other["recovered"] is False
    assert newest["epoch"] == acks[0]["epoch"] and newest["offset"] == 5


async def test_binary_publish_is_kept_as_bytes(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        await http.post(
            server.http("realtime/api/channels/b"),
            content=b"\x89PNG",
            headers={"Content-Type": "application/octet-stream"},
        )
        hist = (await http.get(server.http("realtime/api/channels/b/history"))).json()
    assert hist["publications"][0]["data_b64"] == "iVBORw=="


async def test_channels_lists_offsets_and_subscribers(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        await http.post(server.http("realtime/api/channels/c1"), json=1)
        await http.post(server.http("realtime/api/channels/c2"), json=1)
        await http.post(server.http("realtime/api/channels/c2"), json=2)
        body = (await http.get(server.http("realtime/api/channels"))).json()
    assert [(c["channel"], c["offset"], c["subscribers"]) for c in body["channels"]] == [
        ("c1", 1, 0),
        ("c2", 2, 0),
    ]


async def test_errors_have_contract_codes(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        malformed = await http.post(server.http("realtime/api/channels/e"), content=b"{oops")
        empty = await http.post(server.http("realtime/api/channels/e"), content=b"")
        bad_name = await http.post(server.http("realtime/api/channels/a%20b"), json=1)
        too_large = await http.post(
            server.http("realtime/api/channels/e"), content=b'"' + b"x" * (1 << 20) + b'"'
        )
        bad_limit = await http.get(server.http("realtime/api/channels/e/history") + "?limit=0")
        bad_since = await http.get(server.http("realtime/api/channels/e/history") + "?since=x")
    for response, status, code in [
        (malformed, 400, "bad_request"),
        (empty, 400, "bad_request"),
        (bad_name, 400, "bad_request"),
        (too_large, 413, "too_large"),
        (bad_limit, 400, "bad_request"),
        (bad_since, 400, "bad_request"),
    ]:
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]


async def test_unauthenticated_rest_is_refused_without_redirect(server: Any) -> None:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        post = await http.post(server.http("realtime/api/channels/x"), json=1)
        get = await http.get(server.http("realtime/api/channels"))
        wrong = await http.get(
            server.http("realtime/api/channels"), headers={"Authorization": "token nope"}
        )
    assert [r.status_code for r in (post, get, wrong)] == [403, 403, 403]
    assert get.json()["error"]["code"] == "forbidden"
