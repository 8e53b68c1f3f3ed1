"""Presence operations of one client run in order, with the Redis broker.

A connection that closes while its join is on the way to Redis used to send its leave
at once, on another pooled connection: the leave (a no-op, nothing there yet) landed
first, then the join, and the entry stayed with no one to reap or announce it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis_fixtures import RedisServer, redis_server  # noqa: F401
from test_hub import FakeSession

from jupyter_realtime.brokers.redis import RedisBroker
from jupyter_realtime.hub import Hub

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


class SlowJoinBroker(RedisBroker):
    """A join that takes its time on the way to Redis (a busy network, a busy Redis)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.joining = asyncio.Event()
        self.arrive = asyncio.Event()

    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        self.joining.set()
        await self.arrive.wait()
        await super().add_presence(channel, client, info)


async def test_a_connection_closed_during_its_join_leaves_no_ghost(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    broker = SlowJoinBroker(url=redis_server.url)
    hub = Hub(broker)
    await hub.start()
    try:
        watcher, leaver = FakeSession("watcher"), FakeSession("leaver")
        await hub.subscribe(watcher, "room")
        subscribe = asyncio.ensure_future(
            hub.subscribe(leaver, "room", presence={"client": "leaver", "user": "bob"})
        )
        await broker.joining.wait()
        dropped = asyncio.ensure_future(hub.drop(leaver, ["room"]))  # the socket closed
        await asyncio.sleep(0.2)  # let the leave reach Redis first, if it goes at once
        broker.arrive.set()
        await asyncio.gather(subscribe, dropped, return_exceptions=True)
        assert await broker.presence("room") == []
        assert not hub.is_subscribed(leaver, "room")
    finally:
        await hub.close()
