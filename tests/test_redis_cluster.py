"""Two Jupyter servers on a real Redis Cluster of three primaries.

Channels whose slots are on different shards reach subscribers on both servers, in order;
a shard's primary that restarts (with its append-only file) loses nothing acknowledged,
and live delivery resumes by itself. The broker contract suite also runs on a cluster
(``test_broker_contract.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis_fixtures import JupyterProcess, RedisCluster, RedisServer, wait_for
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


class Deployment:
    def __init__(self, workdir: Path) -> None:
        self.redis = RedisCluster(workdir / "redis")
        self.servers = [JupyterProcess(workdir, self.redis.url) for _ in range(2)]

    def start(self) -> None:
        self.redis.start()
        for server in self.servers:
            server.start(wait=False)
        for server in self.servers:
            wait_for(server.ready, 60, f"jupyter server on port {server.port}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()

    def channel_on(self, node: RedisServer, stem: str) -> str:
        """A channel name whose keys live on ``node``."""
        for i in range(1000):
            name = f"{stem}-{i}"
            if self.redis.node_of(f"jupyter_realtime:{{{name}}}") is node:
                return name
        raise LookupError(f"no channel on node {node.port}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    found = Deployment(tmp_path_factory.mktemp("redis-cluster-servers"))
    try:
        found.start()
        yield found
    finally:
        found.stop()


async def subscribe(ws: ClientConnection, channels: list[str]) -> None:
    for i, channel in enumerate(channels):
        await ws.send(orjson.dumps({"id": i, "op": "subscribe", "channel": channel}).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert "result" in reply, reply


async def receive(ws: ClientConnection, count: int) -> list[tuple[str, int, Any]]:
    got = []
    for _ in range(count):
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
        got.append((frame["channel"], frame["offset"], frame["data"]))
    return got


async def publish(http: httpx.AsyncClient, server: JupyterProcess, channel: str, data: Any) -> int:
    """Publish, retrying while the cluster is unavailable; the key makes retries safe."""
    key = {"Idempotency-Key": f"{channel}-{data}"}
    for _ in range(100):
        reply = await http.post(server.http(f"realtime/api/channels/{channel}"),
                                json=data, headers={**server.headers, **key})
        if reply.status_code == 200:
            return int(reply.json()["offset"])
        assert reply.status_code == 503, reply.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"could not publish to {channel}")


async def test_channels_on_every_shard_reach_subscribers_on_both_servers(
    deployment: Deployment,
) -> None:
    one, two = deployment.servers
    channels = [deployment.channel_on(node, "spread") for node in deployment.redis.nodes]
    async with connect(one.ws(), additional_headers=one.headers) as ws_one, connect(
        two.ws(), additional_headers=two.headers
    ) as ws_two, httpx.AsyncClient(timeout=20) as http:
        await subscribe(ws_one, channels)
        await subscribe(ws_two, channels)
        for n in range(1, 6):
            for i, channel in enumerate(channels):
                await publish(http, (one, two)[(n + i) % 2], channel, n)
        got = [await receive(ws, 15) for ws in (ws_one, ws_two)]
    for frames in got:
        for channel in channels:
            assert [(o, d) for c, o, d in frames if c == channel] == [(n, n) for n in range(1, 6)]


async def test_a_primary_restart_loses_nothing_acknowledged(deployment: Deployment) -> None:
    one, two = deployment.servers
    node = deployment.redis.nodes[1]
    channel = deployment.channel_on(node, "restart")
    async with connect(one.ws(), additional_headers=one.headers) as ws, httpx.AsyncClient(
        timeout=20
    ) as http:
        await subscribe(ws, [channel])
        for n in range(1, 6):
            assert await publish(http, two, channel, n) == n
        assert [d for _, _, d in await receive(ws, 5)] == [1, 2, 3, 4, 5]
        deployment.redis.restart_node(node)
        for n in range(6, 11):
            assert await publish(http, two, channel, n) == n  # the offsets went on
        rest = await receive(ws, 5)
        history = (await http.get(one.http(f"realtime/api/channels/{channel}/history"),
                                  headers=one.headers)).json()
    assert [(o, d) for _, o, d in rest] == [(n, n) for n in range(6, 11)]
    assert [p["data"] for p in history["publications"]] == list(range(1, 11))


async def test_shared_documents_live_in_the_cluster(deployment: Deployment) -> None:
    """Each document is a hash on its channel's shard; the other server reads it too, and
    neither server writes a document file."""
    from pycrdt import Doc, Text
    from redis.asyncio import Redis

    from jupyter_realtime.documents import update_message

    one, two = deployment.servers
    octets = {**one.headers, "Content-Type": "application/octet-stream"}
    async with httpx.AsyncClient(timeout=20) as http:
        for node in deployment.redis.nodes:
            channel = deployment.channel_on(node, "doc")
            writer: Doc = Doc()
            writer.get("source", type=Text).insert(0, f"kept on {node.port}")
            reply = await http.post(one.http(f"realtime/api/channels/{channel}"),
                                    content=update_message(writer.get_update()), headers=octets)
            assert reply.status_code == 200, reply.text
            key = f"jupyter_realtime:{{{channel}}}:document"
            assert deployment.redis.node_of(key) is node
            shard = Redis(host="127.0.0.1", port=node.port)
            try:
                for _ in range(200):  # saved within documents_save_delay (2 s)
                    fields = await shard.hgetall(key)
                    if fields:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await shard.aclose()
            stored: Doc = Doc()
            stored.apply_update(fields[b"state"])
            assert str(stored.get("source", type=Text)) == f"kept on {node.port}"
            assert int(fields[b"offset"]) == 1
            for server in (one, two):
                body = (await http.get(server.http(f"realtime/api/documents/{channel}"),
                                       headers=server.headers)).json()
                assert body["offset"] == 1 and body["epoch"] == fields[b"epoch"].decode()
    data = one.workdir / "home" / ".local" / "share" / "jupyter" / "realtime"
    assert not (data / "documents").exists()


class Recorder:
    def __init__(self) -> None:
        self.offsets: list[int] = []

    def on_publication(self, pub: Any) -> None:
        self.offsets.append(pub.offset)

    def on_join(self, channel: str, info: Any) -> None: ...

    def on_leave(self, channel: str, info: Any) -> None: ...

    def on_gap(self, channel: str, position: Any) -> None:
        raise AssertionError(f"gap on {channel} at {position}")


async def test_killed_pubsub_links_are_replaced_and_catch_up(deployment: Deployment) -> None:
    from jupyter_realtime.brokers.redis import RedisBroker

    broker = RedisBroker(url=deployment.redis.url, key_prefix="links")
    got = Recorder()
    broker.set_handler(got)
    await broker.start()
    try:
        await broker.subscribe("c")
        for n in range(3):
            await broker.publish("c", b"%d" % n, binary=False, sender=None, ts=time.time())
        killed = 0
        for node in deployment.redis.nodes:  # every sharded pub/sub connection drops
            reply = deployment.redis.info(node, b"CLIENT KILL TYPE pubsub\r\n")
            killed += int(reply[1:].split(b"\r\n")[0])
        assert killed >= 3  # this broker's links at least
        for n in range(3, 6):  # published while the links are down or coming back
            await broker.publish("c", b"%d" % n, binary=False, sender=None, ts=time.time())
        deadline = time.monotonic() + 20
        while len(got.offsets) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert got.offsets == [1, 2, 3, 4, 5, 6]  # once each, in order
        await broker.publish("c", b"6", binary=False, sender=None, ts=time.time())
        while len(got.offsets) < 7 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert got.offsets[-1] == 7  # live again
    finally:
        await broker.close()
