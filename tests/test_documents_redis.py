"""Shared documents with the Redis broker: the snapshot lives in Redis, beside its channel
(``{prefix}:{channel}:document``), so another server continues from it and from the
channel's history (a Redis Stream) after it; an older snapshot never replaces a newer one,
and a document an earlier version kept at ``{prefix}:document:{channel}`` is still read."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, Text
from redis_fixtures import RedisServer, redis_server  # noqa: F401

from jupyter_realtime.brokers.redis import RedisBroker
from jupyter_realtime.documents import DocumentService, Snapshot, update_message
from jupyter_realtime.hub import Hub


async def server(url: str) -> tuple[Hub, DocumentService]:
    hub = Hub(RedisBroker(url=url))
    await hub.start()
    return hub, DocumentService(hub, hub.broker.document_storage())


async def test_another_server_continues_from_the_snapshot(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    writer: Doc = Doc()
    text = writer.get("source", type=Text)
    updates: list[bytes] = []
    writer.observe(lambda event: updates.append(event.update))

    async def publish(hub: Hub) -> None:
        for update in updates:
            await hub.publish("team:etl", update_message(update), binary=True, sender="t")
        updates.clear()

    hub_a, docs_a = await server(redis_server.url)
    text += "saved by A\n"
    await publish(hub_a)
    await docs_a.load("team:etl")
    await docs_a.close()  # saves to Redis
    await hub_a.close()
    text += "published after A saved\n"
    hub_b, docs_b = await server(redis_server.url)
    try:
        await publish(hub_b)
        assert await docs_b.text("team:etl") == "saved by A\npublished after A saved\n"
        state = await docs_b.state("team:etl")
        assert state.position.offset == 2  # the snapshot's, then the stream after it
    finally:
        await docs_b.close()
        await hub_b.close()


async def test_an_older_snapshot_never_replaces_a_newer_one(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    broker = RedisBroker(url=redis_server.url, key_prefix="t")
    store = broker.document_storage()
    try:
        await store.save("d", Snapshot("e1", 5, b"five"))
        await store.save("d", Snapshot("e1", 3, b"three"))
        assert await store.load("d") == Snapshot("e1", 5, b"five")
        await store.save("d", Snapshot("e2", 1, b"new epoch"))
        assert await store.load("d") == Snapshot("e2", 1, b"new epoch")
        assert await store.load("other") is None
        raw = await broker._redis.hgetall("t:{d}:document")
        assert raw[b"state"] == b"new epoch"
        # a document of an earlier version's layout
        await broker._redis.hset("t:document:old", mapping={"epoch": "e", "offset": 2,
                                                             "state": b"kept"})
        assert await store.load("old") == Snapshot("e", 2, b"kept")
    finally:
        await broker.close()


async def test_two_servers_edit_one_document(redis_server: RedisServer) -> None:  # noqa: F811
    (hub_a, docs_a), (hub_b, docs_b) = await asyncio.gather(
        server(redis_server.url), server(redis_server.url)
    )
    try:
        docs: list[Any] = []
        for hub in (hub_a, hub_b):
            doc: Doc = Doc()
            t = doc.get("source", type=Text)
            t += f"from {len(docs)}\n"
            await hub.publish("both", update_message(doc.get_update()), binary=True)
            docs.append(doc)
        for _ in range(100):
            a, b = await docs_a.text("both"), await docs_b.text("both")
            if a == b and len(a) == 14:
                break
            await asyncio.sleep(0.05)
        assert a == b and sorted(a.splitlines()) == ["from 0", "from 1"]
    finally:
        for service, hub in ((docs_a, hub_a), (docs_b, hub_b)):
            await service.close()
            await hub.close()
