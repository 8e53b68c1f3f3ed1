"""Two Jupyter servers on one Redis, racing with one idempotency key: stored once.

The key is checked and stored inside the publish script, so it does not matter which
server a retry reaches (a client that reconnects behind a load balancer lands anywhere).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from redis_fixtures import Cluster, cluster, cluster_module  # noqa: F401 (fixtures)
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


async def test_rest_publishes_racing_on_two_servers_store_each_key_once(
    cluster: Cluster,  # noqa: F811
) -> None:
    one, two = cluster.servers
    async with httpx.AsyncClient(headers=one.headers, timeout=20) as http:

        async def post(server: Any, key: str) -> dict[str, Any]:
            url = server.http("realtime/api/channels/race")
            reply = await http.post(url, json=key, headers={"Idempotency-Key": key})
            assert reply.status_code == 200, reply.text
            return reply.json()  # type: ignore[no-any-return]

        keys = [f"key-{i}" for i in range(40)]
        answers = await asyncio.gather(
            *(post(server, key) for key in keys for server in (one, two, one, two))
        )
        history = (
            await http.get(two.http("realtime/api/channels/race/history?limit=1000"))
        ).json()["publications"]
    assert sorted(p["data"] for p in history) == sorted(keys)  # each key stored once
    stored = {p["data"]: p["offset"] for p in history}
    for i, key in enumerate(keys):
        mine = answers[4 * i : 4 * i + 4]
        assert {a["offset"] for a in mine} == {stored[key]}  # all four name the one stored
        assert sum("duplicate" not in a for a in mine) == 1


async def test_a_retry_on_the_other_server_is_a_duplicate_and_subscribers_see_one(
    cluster: Cluster,  # noqa: F811
) -> None:
    one, two = cluster.servers
    async with connect(one.ws(), additional_headers=one.headers) as sub_one, connect(
        two.ws(), additional_headers=two.headers
    ) as sub_two:
        for ws in (sub_one, sub_two):
            await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "retry"}).decode())
            assert "result" in orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        async with httpx.AsyncClient(headers=one.headers, timeout=20) as http:
            first = await http.post(one.http("realtime/api/channels/retry"), json="line 1",
                                    headers={"Idempotency-Key": "mirror-1"})
            retry = await http.post(two.http("realtime/api/channels/retry"), json="line 1",
                                    headers={"Idempotency-Key": "mirror-1"})
            await http.post(two.http("realtime/api/channels/retry"), json="line 2")
        got = [
            [orjson.loads(await asyncio.wait_for(ws.recv(), 10))["data"] for _ in range(2)]
            for ws in (sub_one, sub_two)
        ]
    assert retry.json() == {**first.json(), "duplicate": True}
    assert got == [["line 1", "line 2"]] * 2
