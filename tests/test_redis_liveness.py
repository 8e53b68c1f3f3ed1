"""A half-open pub/sub connection is detected, replaced, and caught up from the streams.

Between a :class:`RedisBroker` and a real ``redis-server`` sits a small TCP proxy that can
stop forwarding a connection without closing it (as a NAT or a load balancer that forgot
the connection does): the subscriber's reads then block forever unless it notices.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis_fixtures import RedisServer, redis_server  # noqa: F401
from test_broker_contract import until
from test_redis_broker import GapRecorder, publish, rec

from jupyter_realtime.brokers.redis import RedisBroker

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


class _Link:
    """One proxied connection; ``subscriber`` once its client sent a SUBSCRIBE."""

    def __init__(self) -> None:
        self.subscriber = False
        self.stalled = False
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []


class StallingProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`stall_subscribers` makes the
    pub/sub connections a black hole in both directions, their sockets left open."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.links: list[_Link] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        link = _Link()
        link.writers = [writer, up_writer]
        link.tasks = [
            asyncio.ensure_future(self._pipe(reader, up_writer, link, sniff=True)),
            asyncio.ensure_future(self._pipe(up_reader, writer, link, sniff=False)),
        ]
        self.links.append(link)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link, *, sniff: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if sniff and b"SUBSCRIBE" in data.upper():
                    link.subscriber = True
                if link.stalled:
                    continue  # swallowed: nothing arrives, nothing is closed
                dst.write(data)
                await dst.drain()

    def stall_subscribers(self) -> int:
        stalled = [link for link in self.links if link.subscriber and not link.stalled]
        for link in stalled:
            link.stalled = True
        return len(stalled)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for link in self.links:
            for task in link.tasks:
                task.cancel()
            for writer in link.writers:
                writer.close()
        for link in self.links:
            for task in link.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.server is not None:
            await self.server.wait_closed()


async def test_a_half_open_pubsub_connection_is_replaced_and_nothing_is_lost(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    proxy = StallingProxy(redis_server.port)
    await proxy.start()
    subscriber = RedisBroker(url=f"redis://127.0.0.1:{proxy.port}/0", ping_interval=0.5)
    subscriber.set_handler(GapRecorder())
    publisher = RedisBroker(url=redis_server.url)  # its own connections, straight to Redis
    publisher.set_handler(GapRecorder())
    await subscriber.start()
    await publisher.start()
    try:
        await subscriber.subscribe("c")
        for i in range(5):
            await publish(publisher, "c", i)
        got = rec(subscriber)
        await until(lambda: len(got.pubs) == 5)
        assert proxy.stall_subscribers() == 1  # the pub/sub connection goes silent
        for i in range(5, 30):
            await publish(publisher, "c", i)
        # PINGed after 0.5 s of silence, taken for dead 0.5 s later, replaced, caught up
        await until(lambda: len(got.pubs) >= 30, timeout=20)
        await publish(publisher, "c", 30)  # and live again on the new connection
        await until(lambda: len(got.pubs) >= 31, timeout=10)
        await asyncio.sleep(0.2)
        assert got.offsets("c") == list(range(1, 32))
        assert [p.payload for p in got.pubs] == [b"%d" % i for i in range(31)]
        assert got.gaps == []
    finally:
        await subscriber.close()
        await publisher.close()
        await proxy.close()
