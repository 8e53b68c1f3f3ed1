"""The Redis broker beyond the contract: several servers, lost pub/sub, a lost Redis.

Each test starts its own ``redis-server``; a "server" here is a :class:`RedisBroker`
instance, as each Jupyter server has one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis_fixtures import RedisServer, free_port, redis_server  # noqa: F401
from test_broker_contract import Recorder, until

from jupyter_realtime.brokers.redis import RedisBroker, redact
from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.protocol import Position

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


class GapRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.gaps: list[tuple[str, Position]] = []

    def on_gap(self, channel: str, position: Position) -> None:
        self.gaps.append((channel, position))


@pytest.fixture
def brokers(
    redis_server: RedisServer,  # noqa: F811
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> Iterator[list[RedisBroker]]:
    """Two started brokers (two servers) on one Redis, each with a GapRecorder."""
    made = []
    for _ in range(2):
        broker = RedisBroker(url=redis_server.url, presence_ttl=0.6)
        broker.set_handler(GapRecorder())
        made.append(broker)
    jp_asyncio_loop.run_until_complete(asyncio.gather(*(b.start() for b in made)))
    yield made
    for broker in made:
        jp_asyncio_loop.run_until_complete(broker.close())


def rec(broker: RedisBroker) -> GapRecorder:
    assert isinstance(broker.handler, GapRecorder)
    return broker.handler


async def publish(broker: RedisBroker, channel: str, n: int, ts: float | None = None) -> Any:
    return await broker.publish(
        channel, b"%d" % n, binary=False, sender="alice", ts=ts or time.time()
    )


async def test_servers_share_offsets_history_and_live_delivery(brokers: list[RedisBroker]):
    a, b = brokers
    await a.subscribe("c")
    await b.subscribe("c")
    sent = await asyncio.gather(*(publish((a, b)[i % 2], "c", i) for i in range(40)))
    assert sorted(p.offset for p in sent) == list(range(1, 41))
    await until(lambda: len(rec(a).pubs) == 40 and len(rec(b).pubs) == 40)
    assert rec(a).offsets("c") == rec(b).offsets("c") == list(range(1, 41))
    assert [p.payload for p in rec(a).pubs] == [p.payload for p in rec(b).pubs]
    assert (await a.history("c", limit=5)).publications[0].payload == rec(b).pubs[35].payload
    assert await a.position("c") == await b.position("c")


async def test_a_restarted_server_keeps_the_epoch(
    brokers: list[RedisBroker],
    redis_server: RedisServer,  # noqa: F811
):
    a, _ = brokers
    first = await publish(a, "c", 1)
    await a.close()
    again = RedisBroker(url=redis_server.url)
    await again.start()
    try:
        result = await again.history("c", since=Position(first.epoch, 0))
        assert result.recovered and [p.offset for p in result.publications] == [1]
        assert (await publish(again, "c", 2)).position == Position(first.epoch, 2)
    finally:
        await again.close()


async def test_pubsub_loss_is_filled_from_the_stream(
    brokers: list[RedisBroker],
    redis_server: RedisServer,  # noqa: F811
):
    a, b = brokers
    await b.subscribe("c")
    for i in range(20):
        await publish(a, "c", i)
    await until(lambda: len(rec(b).pubs) == 20)
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await admin.client_kill_filter(_type="pubsub") >= 2
        for i in range(20, 60):  # some land while b is disconnected
            await publish(a, "c", i)
        await until(lambda: len(rec(b).pubs) == 60)
    finally:
        await admin.aclose()
    await asyncio.sleep(0.1)
    assert rec(b).offsets("c") == list(range(1, 61))
    assert [p.payload for p in rec(b).pubs] == [b"%d" % i for i in range(60)]
    assert rec(b).gaps == []


async def test_redis_restart_unavailable_then_new_epoch_and_live_again(
    brokers: list[RedisBroker],
    redis_server: RedisServer,  # noqa: F811
):
    a, b = brokers
    await a.subscribe("c")
    old = await publish(b, "c", 1)
    await until(lambda: len(rec(a).pubs) == 1)
    redis_server.stop()
    with pytest.raises(RealtimeError) as info:
        await publish(b, "c", 2)
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert redis_server.url in info.value.message
    with pytest.raises(RealtimeError):
        await b.history("c")
    redis_server.start()  # same port, no data: history was lost
    await until(lambda: a.connected and b.connected, timeout=10)
    new = await publish(b, "c", 3)
    assert new.epoch != old.epoch and new.offset == 1
    await until(lambda: len(rec(a).pubs) == 2)
    assert [(p.epoch, p.offset) for p in rec(a).pubs] == [old.position, new.position]
    # the gap names the new epoch, or the start of any epoch when it was seen first
    assert rec(a).gaps and rec(a).gaps[0][1] in (Position(new.epoch, 0), Position("", 0))
    lost = await b.history("c", since=old.position)
    assert not lost.recovered and [p.offset for p in lost.publications] == [1]


async def test_start_without_redis_names_the_url():
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    broker = RedisBroker(url=url)
    with pytest.raises(RealtimeError) as info:
        await broker.start()
    await broker.close()
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert redact(url) in info.value.message and "secret" not in info.value.message
    assert redact(url) == url.replace(":secret@", ":***@")


async def test_a_dead_servers_clients_leave(brokers: list[RedisBroker]):
    a, b = brokers
    await a.subscribe("c")
    await b.subscribe("c")
    info = {"client": "x", "user": "alice", "name": "alice", "color": None}
    await a.add_presence("c", "x", info)
    await until(lambda: len(rec(b).events) == 1)
    assert await b.presence("c") == [info]
    # a crashes: it stops beating and never withdraws its clients
    for task in a._tasks:
        task.cancel()
    await until(lambda: ("leave", "c", info) in rec(b).events, timeout=5)
    assert await b.presence("c") == []
    assert rec(b).events.count(("leave", "c", info)) == 1


async def test_presence_comes_back_after_redis_lost_it(
    brokers: list[RedisBroker],
    redis_server: RedisServer,  # noqa: F811
):
    a, b = brokers
    await b.subscribe("c")
    info = {"client": "x", "user": "alice", "name": "alice", "color": None}
    await a.subscribe("c")
    await a.add_presence("c", "x", info)
    redis_server.restart()
    await until(lambda: a.connected and b.connected, timeout=10)
    await until(lambda: rec(b).events.count(("join", "c", info)) == 2, timeout=5)
    assert await b.presence("c") == [info]


async def test_reads_of_unknown_channels_leave_no_key_in_redis(
    brokers: list[RedisBroker],
    redis_server: RedisServer,  # noqa: F811
):
    a, _ = brokers
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        before = set(await admin.keys("*"))
        for i in range(20):
            await a.position(f"ghost-{i}")
            await a.history(f"ghost-{i}", limit=5)
            await a.history(f"ghost-{i}", since=Position("e", 3))
            await a.presence(f"ghost-{i}")
        assert set(await admin.keys("*")) == before  # the servers' heartbeats only
    finally:
        await admin.aclose()


async def test_a_teardown_that_outlives_its_cancellation_does_not_hold_a_close():
    """redis-py finishes a pub/sub teardown even when cancelled; a stuck one must not
    hold the broker's close (asyncio.wait_for would wait for it forever)."""
    from jupyter_realtime.brokers._redis_core import let_finish

    release = asyncio.Event()

    async def stubborn_teardown() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # as a shielded teardown does

    started = time.monotonic()
    assert await let_finish(stubborn_teardown(), 0.2) is False
    assert time.monotonic() - started < 2
    release.set()
    assert await let_finish(asyncio.sleep(0), 1.0) is True


async def test_the_byte_counter_follows_the_stream_through_trims_and_expiry(
    redis_server: RedisServer,  # noqa: F811
):
    from jupyter_realtime.brokers._redis_scripts import ENTRY_OVERHEAD
    from jupyter_realtime.brokers.retention import Retention, Rule

    rules = Retention(Rule(bytes=20_000), [("short:*", Rule(bytes=20_000, age=0.5))])
    broker = RedisBroker(url=redis_server.url, retention=rules)
    broker.set_handler(GapRecorder())
    await broker.start()
    admin = aioredis.Redis.from_url(redis_server.url)

    async def counted(channel: str) -> tuple[int, int]:
        """The meta key's byte counter, and the bytes the stream really holds."""
        meta, stream = (f"jupyter_realtime:{{{channel}}}:{k}" for k in ("meta", "history"))
        entries = await admin.xrange(stream)
        held = sum(len(fields[b"m"]) + ENTRY_OVERHEAD for _, fields in entries)
        return int(await admin.hget(meta, "b") or 0), held

    try:
        for i in range(60):  # two servers' worth of sizes: 100 to 1,000 bytes
            payload = b'"%s"' % (b"x" * (100 + 150 * (i % 7)))
            await broker.publish("long", payload, binary=False, sender="a", ts=time.time())
        size, held = await counted("long")
        assert size == held and 15_000 < held <= 20_000
        big = b'"%s"' % (b"y" * 500)
        await broker.publish("short:1", big, binary=False, sender="a", ts=time.time())
        assert (await counted("short:1"))[0] > 0
        await asyncio.sleep(1.2)  # the stream expires whole (PEXPIRE by the rule's age)
        assert await admin.exists("jupyter_realtime:{short:1}:history") == 0
        await broker.publish("short:1", b'"z"', binary=False, sender="a", ts=time.time())
        size, held = await counted("short:1")
        assert size == held < 200  # only the new entry is counted, not the expired one
        result = await broker.history("short:1", since=Position("", 0))
        assert [p.offset for p in result.publications] == [2] and not result.recovered
        # a stream written before the counter existed is counted before it is added to
        await admin.hdel("jupyter_realtime:{long}:meta", "b")
        await broker.publish("long", b'"%s"' % (b"x" * 900), binary=False, sender="a",
                             ts=time.time())
        size, held = await counted("long")
        assert size == held and 15_000 < held <= 20_000
    finally:
        await admin.aclose()
        await broker.close()
