"""The Broker contract (``brokers/base.py``), run against every broker.

Pure broker tests: no Jupyter server. The Redis broker runs against a real
``redis-server`` started on a free port, and against a real Redis Cluster of three
primaries (``redis_fixtures.py``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_fixtures import RedisServer, redis_cluster_module  # noqa: F401 (a fixture)

from jupyter_realtime.brokers.base import Broker, Duplicate
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.brokers.recovery import BEFORE_START
from jupyter_realtime.brokers.retention import Retention, Rule
from jupyter_realtime.brokers.sqlite import SQLiteBroker
from jupyter_realtime.protocol import Position, Publication

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """A broker event handler that remembers what it was told."""

    def __init__(self) -> None:
        self.pubs: list[Publication] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def on_publication(self, pub: Publication) -> None:
        self.pubs.append(pub)

    def on_join(self, channel: str, info: dict[str, Any]) -> None:
        self.events.append(("join", channel, info))

    def on_leave(self, channel: str, info: dict[str, Any]) -> None:
        self.events.append(("leave", channel, info))

    def offsets(self, channel: str) -> list[int]:
        return [p.offset for p in self.pubs if p.channel == channel]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


BrokerFactory = Callable[..., Any]


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
def new_broker(
    request: pytest.FixtureRequest, tmp_path: Path, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[BrokerFactory]:
    """``await new_broker(**options)``: a started broker with a :class:`Recorder`.

    ``sqlite`` keeps each broker's channels in a file of its own under ``tmp_path``.
    ``redis-cluster`` is a Redis Cluster of three primaries, shared by the module's tests
    (each test under a key prefix of its own)."""
    url, prefix = "", f"t{secrets.token_hex(4)}"
    if request.param == "redis":
        server = RedisServer(tmp_path)
        server.start()
        request.addfinalizer(server.stop)
        url = server.url
    elif request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_module").url
    brokers: list[Broker] = []

    async def make(**options: Any) -> Broker:
        broker: Broker
        if request.param.startswith("redis"):
            from jupyter_realtime.brokers.redis import RedisBroker

            broker = RedisBroker(url=url, key_prefix=prefix, **options)
        elif request.param == "sqlite":
            broker = SQLiteBroker(path=tmp_path / f"broker{len(brokers)}.sqlite3", **options)
        else:
            broker = MemoryBroker(**options)
        broker.set_handler(Recorder())
        await broker.start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        jp_asyncio_loop.run_until_complete(broker.close())


def recorder(broker: Broker) -> Recorder:
    assert isinstance(broker.handler, Recorder)
    return broker.handler


async def publish(broker: Broker, channel: str, data: bytes, **kw: Any) -> Publication:
    kw.setdefault("binary", False)
    kw.setdefault("sender", "alice")
    kw.setdefault("ts", time.time())
    return await broker.publish(channel, data, **kw)


async def test_offsets_start_at_one_and_grow_by_one_in_one_epoch(new_broker: BrokerFactory):
    broker = await new_broker()
    assert await broker.position("c") == BEFORE_START
    pubs = [await publish(broker, "c", b'{"n":%d}' % i) for i in range(3)]
    assert [p.offset for p in pubs] == [1, 2, 3]
    assert len({p.epoch for p in pubs}) == 1 and pubs[0].epoch != ""
    assert await broker.position("c") == Position(pubs[0].epoch, 3)
    assert await broker.position("other") == BEFORE_START


async def test_history_newest_limit_oldest_first(new_broker: BrokerFactory):
    broker = await new_broker()
    for i in range(5):
        await publish(broker, "c", b"%d" % i)
    result = await broker.history("c", limit=2)
    assert [p.offset for p in result.publications] == [4, 5]
    assert [p.data for p in result.publications] == [3, 4]
    assert result.position.offset == 5 and result.recovered
    everything = await broker.history("c")
    assert [p.offset for p in everything.publications] == [1, 2, 3, 4, 5]


async def test_history_since_returns_first_limit_after_it(new_broker: BrokerFactory):
    broker = await new_broker()
    epoch = (await publish(broker, "c", b"1")).epoch
    for i in range(2, 7):
        await publish(broker, "c", b"%d" % i)
    result = await broker.history("c", since=Position(epoch, 2), limit=3)
    assert [p.offset for p in result.publications] == [3, 4, 5]
    assert result.recovered and result.position == Position(epoch, 6)
    result = await broker.history("c", since=Position(epoch, 6))
    assert result.publications == [] and result.recovered
    result = await broker.history("c", since=Position(epoch, 0))
    assert [p.offset for p in result.publications] == [1, 2, 3, 4, 5, 6] and result.recovered


async def test_history_is_bounded_by_size_and_says_when_since_is_out_of_reach(
    new_broker: BrokerFactory,
):
    broker = await new_broker(history_size=3)
    epoch = (await publish(broker, "c", b"1")).epoch
    for i in range(2, 6):
        await publish(broker, "c", b"%d" % i)
    assert [p.offset for p in (await broker.history("c")).publications] == [3, 4, 5]
    reachable = await broker.history("c", since=Position(epoch, 2))
    assert [p.offset for p in reachable.publications] == [3, 4, 5] and reachable.recovered
    lost = await broker.history("c", since=Position(epoch, 1))
    assert [p.offset for p in lost.publications] == [3, 4, 5] and not lost.recovered


async def test_history_is_bounded_by_age(new_broker: BrokerFactory):
    broker = await new_broker(history_ttl=60)
    old = await publish(broker, "c", b'"old"', ts=time.time() - 120)
    await publish(broker, "c", b'"new"')
    assert [p.data for p in (await broker.history("c")).publications] == ["new"]
    result = await broker.history("c", since=Position(old.epoch, 0))
    assert [p.offset for p in result.publications] == [2] and not result.recovered


def kept_offsets(result: Any) -> list[int]:
    return [p.offset for p in result.publications]


async def test_history_is_bounded_by_bytes_and_the_first_kept_offset_decides_recovery(
    new_broker: BrokerFactory,
):
    budget = 20_000  # each broker counts its own bookkeeping on top of the payload
    broker = await new_broker(retention=Retention(Rule(bytes=budget)))
    epoch = ""
    for i in range(40):
        epoch = (await publish(broker, "c", b'"%s"' % (b"%02d" % i * 500))).epoch
    offsets = kept_offsets(await broker.history("c"))
    first = offsets[0]
    assert offsets == list(range(first, 41)), offsets  # the newest, without a hole
    assert 10 <= len(offsets) < 20  # over half of the budget is payload, and none above it
    # a resume from just before the first kept offset lost nothing...
    resumed = await broker.history("c", since=Position(epoch, first - 1))
    assert kept_offsets(resumed) == offsets and resumed.recovered
    # ...one from before that lost the trimmed one
    lost = await broker.history("c", since=Position(epoch, first - 2))
    assert kept_offsets(lost) == offsets and not lost.recovered


async def test_a_small_publication_under_the_byte_bound_is_never_trimmed(
    new_broker: BrokerFactory,
):
    broker = await new_broker(retention=Retention(Rule(bytes=100_000)))
    epoch = (await publish(broker, "c", b'"small"')).epoch
    for _ in range(3):
        await publish(broker, "c", b'"%s"' % (b"x" * 1000))
    result = await broker.history("c", since=Position(epoch, 0))
    assert kept_offsets(result) == [1, 2, 3, 4] and result.recovered


async def test_retention_rules_apply_per_channel_pattern_first_match_wins(
    new_broker: BrokerFactory,
):
    default = Rule(age=60)
    rules = Retention.from_config(
        {
            "chat:*": {"count": 3},
            "train:*": {"age": None},  # keeps the default's other bounds, not its age
            "re:live:[0-9]+": {"count": 0},
            "chat:big": {"count": 100},  # after chat:*: never decides
        },
        default,
    )
    broker = await new_broker(retention=rules)
    old = time.time() - 3600
    for channel in ("chat:a", "chat:big", "train:run", "other"):
        await publish(broker, channel, b'"old"', ts=old)
        for i in range(5):
            await publish(broker, channel, b"%d" % i)
    assert kept_offsets(await broker.history("chat:a")) == [4, 5, 6]
    assert kept_offsets(await broker.history("chat:big")) == [4, 5, 6]
    assert kept_offsets(await broker.history("train:run")) == [1, 2, 3, 4, 5, 6]
    assert kept_offsets(await broker.history("other")) == [2, 3, 4, 5, 6]  # the old one aged
    # count 0: delivered live and given offsets, but no history, so no resume reaches back
    await broker.subscribe("live:7")
    live = [await publish(broker, "live:7", b"%d" % i) for i in range(2)]
    assert [p.offset for p in live] == [1, 2]
    await until(lambda: recorder(broker).offsets("live:7") == [1, 2])
    result = await broker.history("live:7", since=Position(live[0].epoch, 1))
    assert result.publications == [] and not result.recovered
    caught_up = await broker.history("live:7", since=Position(live[0].epoch, 2))
    assert caught_up.recovered
    trained = await broker.history("train:run", since=Position(live[0].epoch, 0))
    assert not trained.recovered  # another channel's epoch
    chat_epoch = (await broker.position("chat:a")).epoch
    chat = await broker.history("chat:a", since=Position(chat_epoch, 3))
    assert kept_offsets(chat) == [4, 5, 6] and chat.recovered


async def test_count_age_and_bytes_together_whichever_bound_is_hit(new_broker: BrokerFactory):
    broker = await new_broker(retention=Retention(Rule(bytes=10_000, age=60, count=4)))
    line = b'"%s"' % (b"x" * 300)
    await publish(broker, "c", line, ts=time.time() - 120)
    for _ in range(3):
        await publish(broker, "c", line)
    assert kept_offsets(await broker.history("c")) == [2, 3, 4]  # age
    for _ in range(3):
        await publish(broker, "c", line)
    assert kept_offsets(await broker.history("c")) == [4, 5, 6, 7]  # count
    await publish(broker, "c", b'"%s"' % (b"x" * 9_500))
    offsets = kept_offsets(await broker.history("c"))
    assert offsets[-1] == 8 and offsets[0] >= 7, offsets  # bytes: count alone keeps 5..8


async def test_since_from_another_epoch_is_not_recovered(new_broker: BrokerFactory):
    broker = await new_broker()
    await publish(broker, "c", b"1")
    result = await broker.history("c", since=Position("not-an-epoch", 1))
    assert not result.recovered
    assert [p.offset for p in result.publications] == [1]


async def test_fields_and_binary_payloads_round_trip(new_broker: BrokerFactory):
    broker = await new_broker()
    await broker.subscribe("c")
    raw = bytes(range(256)) + b"\n\r\x00 end"
    ts = int(time.time()) + 0.125
    sent = await publish(broker, "c", raw, binary=True, sender=None, ts=ts)
    await publish(
        broker, "c", '{"é": "\\n", "x": [1, 2.5]}'.encode(), sender="bob",
        sender_name="Bob \"B\"\n<i>é</i>",
    )
    got = recorder(broker)
    await until(lambda: len(got.pubs) == 2)
    for pubs in (got.pubs, (await broker.history("c")).publications):
        binary, text = pubs
        assert (binary.payload, binary.binary, binary.sender) == (raw, True, None)
        assert binary.sender_name is None
        assert (binary.epoch, binary.offset, binary.ts) == (sent.epoch, 1, ts)
        assert text.data == {"é": "\n", "x": [1, 2.5]} and not text.binary
        assert text.sender == "bob" and text.channel == "c"
        assert text.sender_name == 'Bob "B"\n<i>é</i>'
        assert "sender_name" not in binary.header() and text.header()["sender_name"]


async def test_live_delivery_in_offset_order_exactly_once(new_broker: BrokerFactory):
    broker = await new_broker()
    await broker.subscribe("a")
    await broker.subscribe("b")
    sent = await asyncio.gather(*(publish(broker, "ab"[i % 2], b"%d" % i) for i in range(60)))
    got = recorder(broker)
    await until(lambda: len(got.pubs) == 60)
    assert got.offsets("a") == list(range(1, 31))
    assert got.offsets("b") == list(range(1, 31))
    assert sorted((p.channel, p.offset) for p in sent) == sorted(
        (p.channel, p.offset) for p in got.pubs
    )


async def test_position_after_subscribe_then_everything_newer_is_delivered(
    new_broker: BrokerFactory,
):
    broker = await new_broker()
    await publish(broker, "c", b"1")
    await broker.subscribe("c")
    position = await broker.position("c")
    await publish(broker, "c", b"2")
    got = recorder(broker)
    await until(lambda: any(p.offset > position.offset for p in got.pubs))
    assert [p.offset for p in got.pubs if p.offset > position.offset] == [2]


async def test_presence_joins_and_leaves(new_broker: BrokerFactory):
    broker = await new_broker()
    await broker.subscribe("c")
    alice = {"client": "c1", "user": "alice", "name": "Alice", "color": None}
    bob = {"client": "c2", "user": "bob", "name": "Bob", "color": "#f00"}
    await broker.add_presence("c", "c1", alice)
    await broker.add_presence("c", "c2", bob)
    clients = await broker.presence("c")
    assert sorted(clients, key=lambda c: c["client"]) == [alice, bob]
    await broker.remove_presence("c", "c1")
    await broker.remove_presence("c", "c1")  # absent: no second leave
    got = recorder(broker)
    await until(lambda: len(got.events) == 3)
    await asyncio.sleep(0.05)
    assert got.events == [("join", "c", alice), ("join", "c", bob), ("leave", "c", alice)]
    assert await broker.presence("c") == [bob]
    assert await broker.presence("empty") == []


async def test_channels_lists_history_and_positions(new_broker: BrokerFactory):
    broker = await new_broker()
    pub = await publish(broker, "one", b"1")
    await publish(broker, "two", b"1")
    await publish(broker, "two", b"2")
    infos = {info.channel: info.position for info in await broker.channels()}
    assert infos["one"] == Position(pub.epoch, 1)
    assert infos["two"].offset == 2


async def test_epoch_is_stable_while_history_is_kept(new_broker: BrokerFactory):
    broker = await new_broker(history_size=2)
    epoch = (await publish(broker, "c", b"1")).epoch
    for i in range(10):
        await publish(broker, "c", b"%d" % i)
    assert (await broker.position("c")).epoch == epoch
    assert (await broker.history("c")).position == Position(epoch, 11)


# -- lifecycle: reads create nothing, idle channels are let go, resumes told the truth --


async def test_reads_of_unknown_channels_create_nothing(new_broker: BrokerFactory):
    broker = await new_broker()
    for i in range(50):
        name = f"unknown-{i}"
        assert await broker.position(name) == BEFORE_START
        result = await broker.history(name, limit=10)
        assert result.publications == [] and result.position == BEFORE_START
        resumed = await broker.history(name, since=Position("old-epoch", 3))
        assert resumed.publications == [] and not resumed.recovered
        assert await broker.presence(name) == []
        assert not broker.is_live(name)
    assert await broker.channels() == []


async def test_a_position_read_before_the_channel_existed_resumes_recovered(
    new_broker: BrokerFactory,
):
    broker = await new_broker(history_size=3)
    before = await broker.position("c")
    await publish(broker, "c", b"1")
    await publish(broker, "c", b"2")
    result = await broker.history("c", since=before)
    assert [p.offset for p in result.publications] == [1, 2] and result.recovered
    for i in range(3, 6):
        await publish(broker, "c", b"%d" % i)
    result = await broker.history("c", since=before)  # offsets 1 and 2 were pushed out
    assert [p.offset for p in result.publications] == [3, 4, 5] and not result.recovered


async def test_a_subscription_gives_an_unknown_channel_its_epoch(new_broker: BrokerFactory):
    broker = await new_broker()
    await broker.subscribe("c")
    position = await broker.position("c")
    assert position.epoch != "" and position.offset == 0
    pub = await publish(broker, "c", b"1")
    assert pub.position == Position(position.epoch, 1)  # a subscriber sees no new epoch


async def test_idle_history_expires_untouched_and_the_channel_is_let_go(
    new_broker: BrokerFactory,
):
    broker = await new_broker(history_ttl=1.0, meta_ttl=600)
    pub = await publish(broker, "idle", b"1")
    await publish(broker, "busy", b"1")
    assert broker.is_live("idle")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # no read of "idle" meanwhile: nothing touches it
        await publish(broker, "busy", b"2")
        if "idle" not in {info.channel for info in await broker.channels()}:
            break
        await asyncio.sleep(0.2)
    assert "idle" not in {info.channel for info in await broker.channels()}
    assert not broker.is_live("idle")
    # its position is kept: a client that saw offset 1 lost nothing, one that did not did
    assert await broker.position("idle") == pub.position
    assert (await broker.history("idle", since=pub.position)).recovered
    lost = await broker.history("idle", since=Position(pub.epoch, 0))
    assert lost.publications == [] and not lost.recovered
    again = await publish(broker, "idle", b"3")
    assert again.position == Position(pub.epoch, 2)  # used again: the same epoch goes on


async def test_a_channel_without_subscribers_presence_or_history_is_let_go(
    new_broker: BrokerFactory,
):
    broker = await new_broker(history_size=0)
    await broker.subscribe("c")
    pub = await publish(broker, "c", b"1")
    await broker.add_presence("c", "c1", {"client": "c1"})
    assert broker.is_live("c")
    await broker.unsubscribe("c")
    assert broker.is_live("c")  # presence holds it
    await broker.remove_presence("c", "c1")
    assert not broker.is_live("c")
    assert await broker.position("c") == pub.position
    assert (await broker.history("c", since=pub.position)).recovered
    assert not (await broker.history("c", since=Position(pub.epoch, 0))).recovered


async def test_a_channel_forgotten_after_meta_ttl_starts_a_new_epoch(
    new_broker: BrokerFactory,
):
    broker = await new_broker(history_ttl=0.5, meta_ttl=1.0)
    pub = await publish(broker, "c", b"1")
    deadline = time.monotonic() + 10
    while await broker.position("c") != BEFORE_START and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await broker.position("c") == BEFORE_START
    again = await publish(broker, "c", b"2")
    assert again.offset == 1 and again.epoch != pub.epoch
    result = await broker.history("c", since=pub.position)
    assert not result.recovered and [p.offset for p in result.publications] == [1]


# -- idempotency keys: a publish repeated with its key is stored once --


async def test_a_publish_repeated_with_its_key_is_stored_once(new_broker: BrokerFactory):
    broker = await new_broker()
    await broker.subscribe("c")
    first = await publish(broker, "c", b'"a"', idempotency_key="k1")
    again = await publish(broker, "c", b'"a"', idempotency_key="k1")
    other = await publish(broker, "c", b'"b"', idempotency_key="k2")
    plain = await publish(broker, "c", b'"c"')
    assert not isinstance(first, Duplicate) and isinstance(again, Duplicate)
    assert again.position == first.position == Position(first.epoch, 1)
    assert (other.offset, plain.offset) == (2, 3) and not isinstance(other, Duplicate)
    got = recorder(broker)
    await until(lambda: len(got.pubs) == 3)
    await asyncio.sleep(0.1)
    assert [p.data for p in got.pubs] == ["a", "b", "c"]
    assert [p.data for p in (await broker.history("c")).publications] == ["a", "b", "c"]


async def test_publishes_racing_with_one_key_store_it_once(new_broker: BrokerFactory):
    broker = await new_broker()
    results = await asyncio.gather(
        *(publish(broker, "c", b"%d" % i, idempotency_key="same") for i in range(20))
    )
    assert sum(not isinstance(r, Duplicate) for r in results) == 1
    assert {r.position for r in results} == {Position(results[0].epoch, 1)}
    assert [p.offset for p in (await broker.history("c")).publications] == [1]


async def test_idempotency_keys_are_per_channel(new_broker: BrokerFactory):
    broker = await new_broker()
    a = await publish(broker, "a", b"1", idempotency_key="k")
    b = await publish(broker, "b", b"1", idempotency_key="k")
    assert not isinstance(a, Duplicate) and not isinstance(b, Duplicate)
    assert isinstance(await publish(broker, "b", b"1", idempotency_key="k"), Duplicate)


async def test_idempotency_keys_expire_after_their_ttl(new_broker: BrokerFactory):
    broker = await new_broker(idempotency_ttl=0.5)
    first = await publish(broker, "c", b"1", idempotency_key="k")
    assert isinstance(await publish(broker, "c", b"1", idempotency_key="k"), Duplicate)
    await asyncio.sleep(0.8)
    later = await publish(broker, "c", b"1", idempotency_key="k")
    assert not isinstance(later, Duplicate) and later.offset == first.offset + 1


async def test_idempotency_keys_per_channel_are_capped_oldest_first(new_broker: BrokerFactory):
    broker = await new_broker(idempotency_keys=3)
    for i in range(1, 5):
        await publish(broker, "c", b"%d" % i, idempotency_key=f"k{i}")
    for i in (2, 3, 4):  # the newest three are remembered
        assert isinstance(await publish(broker, "c", b"0", idempotency_key=f"k{i}"), Duplicate)
    forgotten = await publish(broker, "c", b"1", idempotency_key="k1")
    assert not isinstance(forgotten, Duplicate) and forgotten.offset == 5


async def test_without_an_idempotency_ttl_keys_are_not_remembered(new_broker: BrokerFactory):
    broker = await new_broker(idempotency_ttl=0)
    await publish(broker, "c", b"1", idempotency_key="k")
    second = await publish(broker, "c", b"1", idempotency_key="k")
    assert not isinstance(second, Duplicate) and second.offset == 2


async def test_a_burst_of_concurrent_operations_is_served(new_broker: BrokerFactory):
    """Hundreds of clients subscribing and publishing at once (more than any connection
    pool holds) are served, not refused as unavailable."""
    broker = await new_broker()
    names = [f"burst-{i}" for i in range(300)]
    await asyncio.gather(*(broker.subscribe(name) for name in names))
    pubs = await asyncio.gather(*(publish(broker, name, b"1") for name in names))
    assert [p.offset for p in pubs] == [1] * 300
    got = recorder(broker)
    await until(lambda: len(got.pubs) == 300, timeout=20)


async def test_usage_counters_add_up_to_their_limit_and_refuse_past_it(
    new_broker: BrokerFactory,
):
    broker = await new_broker()
    results = await asyncio.gather(
        *(broker.add_usage("bytes:alice", 300, 1000, 3600) for _ in range(5))
    )
    assert sorted(r for r in results if r is not None) == [300, 600, 900]
    assert results.count(None) == 2  # nothing counted for a refusal
    assert await broker.add_usage("bytes:alice", 100, 1000, 3600) == 1000
    assert await broker.add_usage("bytes:alice", 1, 1000, 3600) is None
    assert await broker.add_usage("bytes:bob", 1000, 1000, 3600) == 1000  # his own count
    # a new window starts from zero
    assert await broker.add_usage("bytes:carol", 5, 5, 0.5) == 5
    await asyncio.sleep(1.0)
    assert await broker.add_usage("bytes:carol", 5, 5, 0.5) == 5


# -- keyed publications: the latest of each key outlives history (compaction) --


async def test_the_latest_of_a_key_outlives_history(new_broker: BrokerFactory):
    broker = await new_broker(history_size=5)
    await broker.subscribe("c")
    await publish(broker, "c", b'"old"', key="cpu")
    latest = await publish(broker, "c", b'"new"', key="cpu", sender="bob")
    await publish(broker, "c", b'"mem"', key="mem")
    for i in range(20):
        await publish(broker, "c", b"%d" % i)
    got = await broker.latest("c", "cpu")
    assert [(p.offset, p.data, p.sender, p.key) for p in got.publications] == [
        (latest.offset, "new", "bob", "cpu")
    ]
    assert got.position == Position(latest.epoch, 23)
    assert [p.data for p in (await broker.latest("c", "mem")).publications] == ["mem"]
    assert (await broker.latest("c", "nope")).publications == []
    # a keyed publication is also an ordinary one: offsets, history and delivery
    history = await broker.history("c", since=Position(latest.epoch, 0))
    assert not history.recovered and len(history.publications) == 5
    await until(lambda: len(recorder(broker).pubs) == 23)
    assert [p.key for p in recorder(broker).pubs[:3]] == ["cpu", "cpu", "mem"]


async def test_keyed_history_carries_the_key(new_broker: BrokerFactory):
    broker = await new_broker()
    await publish(broker, "c", b"\x00\x01", binary=True, key="blob")
    await publish(broker, "c", b"2")
    pubs = (await broker.history("c")).publications
    assert [(p.key, p.binary) for p in pubs] == [("blob", True), (None, False)]
    assert (await broker.latest("c", "blob")).publications[0].payload == b"\x00\x01"


async def test_keys_per_channel_are_capped_least_recently_published_first(
    new_broker: BrokerFactory,
):
    broker = await new_broker(latest_keys=3)
    for name in ("a", "b", "c", "a", "d"):  # "a" again: "b" is now the oldest
        await publish(broker, "ch", b'"%s"' % name.encode(), key=name)
    assert (await broker.latest("ch", "b")).publications == []
    for name in ("a", "c", "d"):
        assert [p.data for p in (await broker.latest("ch", name)).publications] == [name]


async def test_keys_are_per_channel_and_reads_create_nothing(new_broker: BrokerFactory):
    broker = await new_broker()
    await publish(broker, "one", b"1", key="k")
    assert (await broker.latest("two", "k")).publications == []
    assert (await broker.latest("two", "k")).position == BEFORE_START
    assert not broker.is_live("two")
    assert "two" not in [info.channel for info in await broker.channels()]


async def test_keyed_values_outlive_the_history_ttl(new_broker: BrokerFactory):
    broker = await new_broker(history_ttl=0.3)
    first = await publish(broker, "c", b'"kept"', key="k")
    await asyncio.sleep(0.6)
    assert (await broker.history("c")).publications == []
    got = await broker.latest("c", "k")
    assert [(p.offset, p.data) for p in got.publications] == [(first.offset, "kept")]
    later = await publish(broker, "c", b"1")
    assert later.epoch == first.epoch and later.offset == first.offset + 1


async def test_without_latest_keys_nothing_is_kept_beyond_history(new_broker: BrokerFactory):
    broker = await new_broker(latest_keys=0, history_size=1)
    await publish(broker, "c", b"1", key="k")
    await publish(broker, "c", b"2")
    assert (await broker.latest("c", "k")).publications == []


async def test_the_latest_of_every_key_with_a_prefix(new_broker: BrokerFactory):
    broker = await new_broker(history_size=3)
    for name, n in (("progress:a", 1), ("progress:b", 1), ("cell:x", 0), ("progress:a", 2)):
        await publish(broker, "c", b'{"n": %d}' % n, key=name)
    for i in range(10):
        await publish(broker, "c", b"%d" % i)
    got = await broker.latest_by_prefix("c", "progress:")
    assert [(p.key, p.data, p.offset) for p in got.publications] == [
        ("progress:b", {"n": 1}, 2), ("progress:a", {"n": 2}, 4)
    ]
    assert got.position.offset == 14
    one = await broker.latest_by_prefix("c", "progress:", limit=1)
    assert [p.key for p in one.publications] == ["progress:a"]
    assert (await broker.latest_by_prefix("c", "none:")).publications == []
    assert (await broker.latest_by_prefix("unknown", "progress:")).position == BEFORE_START
