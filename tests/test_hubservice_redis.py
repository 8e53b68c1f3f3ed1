"""Two replicas of JupyterHub's realtime service on one real redis-server: the bytes a user
may add are counted in Redis, so the limit holds across replicas, even under a burst."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hub_fixtures import RealtimeHub, start_hub
from redis_fixtures import RedisServer

pytestmark = pytest.mark.timeout(240)

LIMIT = 10 * 1024  # bytes a user may add in the window
PAYLOAD = b"x" * 1024


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RealtimeHub]:
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    running = None
    try:
        running = start_hub(
            tmp_path / "hub",
            broker_url=redis.url,
            replicas=2,
            service_config=f"c.RealtimeApp.max_user_bytes = {LIMIT}\n",
            timeout=90,
        )
        yield running
    finally:
        if running is not None:
            running.stop()
        redis.stop()


async def publish(http: httpx.AsyncClient, service: str, token: str, channel: str) -> int:
    reply = await http.post(
        f"{service}realtime/api/channels/{channel}",
        content=PAYLOAD,
        headers={"Authorization": f"token {token}", "Content-Type": "application/octet-stream"},
    )
    if reply.status_code == 429:
        assert reply.json()["error"]["code"] == "rate_limited", reply.text
        assert "may add 10240 bytes" in reply.json()["error"]["message"]
    return reply.status_code


async def test_a_users_byte_limit_holds_across_two_replicas_under_a_burst(
    hub: RealtimeHub,
) -> None:
    alice, bob = hub.token("alice"), hub.token("bob")
    replicas = [hub.replica(1), hub.replica(2)]
    async with httpx.AsyncClient(timeout=60) as http:
        # alice, hostile: 40 publications of 1 KiB at once, spread over both replicas
        statuses = await asyncio.gather(*(
            publish(http, replicas[i % 2], alice, f"chat:flood-{i % 3}") for i in range(40)
        ))
        assert sorted(statuses) == [200] * 10 + [429] * 30
        # bob, acting at the same time as alice's next attempts, has his own budget
        bobs, late = await asyncio.gather(
            asyncio.gather(*(publish(http, replicas[i % 2], bob, "chat:bob") for i in range(4))),
            publish(http, replicas[1], alice, "chat:flood-0"),
        )
        assert list(bobs) == [200] * 4 and late == 429
        # what alice did add is shared: each replica's history shows all of it
        counts = []
        for service in replicas:
            reply = await http.get(
                f"{service}realtime/api/channels",
                headers={"Authorization": f"token {bob}"},
            )
            offsets = {c["channel"]: c["offset"] for c in reply.json()["channels"]}
            counts.append(sum(v for k, v in offsets.items() if k.startswith("chat:flood")))
        assert counts == [10, 10]
