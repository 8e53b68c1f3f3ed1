"""The hub without Tornado: a memory broker and fake sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_realtime.brokers.base import HistoryResult
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.hub import Hub
from jupyter_realtime.protocol import Position, Publication


class FakeSession:
    def __init__(self, sid: str) -> None:
        self.id = sid
        self.pubs: list[Publication] = []
        self.events: list[dict[str, Any]] = []
        self.failed: BaseException | None = None

    def deliver(self, pub: Publication) -> None:
        self.pubs.append(pub)

    def send_event(self, frame: dict[str, Any]) -> None:
        self.events.append(frame)

    def fail(self, exc: BaseException) -> None:
        self.failed = exc

    async def wait_writable(self) -> None:
        pass

    @property
    def offsets(self) -> list[int]:
        return [p.offset for p in self.pubs]


class SlowHistoryBroker(MemoryBroker):
    """History answers only after the test lets it, so publications race with recovery."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = asyncio.Event()

    async def history(self, channel: str, **kwargs: Any) -> HistoryResult:
        result = await super().history(channel, **kwargs)
        await self.gate.wait()
        return result


async def publish(hub: Hub, channel: str, n: int) -> list[Publication]:
    return [await hub.publish(channel, b"%d" % i) for i in range(n)]


async def test_fan_out_in_order_to_every_subscriber() -> None:
    hub = Hub(MemoryBroker())
    a, b = FakeSession("a"), FakeSession("b")
    await hub.subscribe(a, "c")
    await hub.subscribe(b, "c")
    await publish(hub, "c", 5)
    assert a.offsets == [1, 2, 3, 4, 5]
    assert b.offsets == [1, 2, 3, 4, 5]


async def test_recovery_with_publications_racing_the_history_read() -> None:
    broker = SlowHistoryBroker()
    hub = Hub(broker)
    pubs = await publish(hub, "c", 5)
    s = FakeSession("s")
    task = asyncio.ensure_future(hub.subscribe(s, "c", since=Position(pubs[0].epoch, 2)))
    await asyncio.sleep(0)
    await publish(hub, "c", 3)  # offsets 6..8 arrive while the history read is pending
    broker.gate.set()
    result = await task
    assert s.offsets == [3, 4, 5, 6, 7, 8]  # no gap, no duplicate
    assert result.recovered is True
    assert result.position.offset == 8
    await publish(hub, "c", 1)
    assert s.offsets[-1] == 9


async def test_recovery_beyond_history_says_not_recovered() -> None:
    hub = Hub(MemoryBroker(history_size=3))
    pubs = await publish(hub, "c", 10)
    s = FakeSession("s")
    result = await hub.subscribe(s, "c", since=Position(pubs[0].epoch, 2))
    assert result.recovered is False
    assert s.offsets == [8, 9, 10]


async def test_recovery_from_another_epoch_says_not_recovered() -> None:
    hub = Hub(MemoryBroker())
    await publish(hub, "c", 2)
    s = FakeSession("s")
    result = await hub.subscribe(s, "c", since=Position("gone", 1))
    assert result.recovered is False


async def test_recovery_at_the_head_replays_nothing() -> None:
    hub = Hub(MemoryBroker())
    pubs = await publish(hub, "c", 3)
    s = FakeSession("s")
    result = await hub.subscribe(s, "c", since=pubs[-1].position)
    assert (result.recovered, s.offsets, result.position.offset) == (True, [], 3)


async def test_a_failing_subscriber_is_dropped_and_others_continue() -> None:
    hub = Hub(MemoryBroker())
    bad, good = FakeSession("bad"), FakeSession("good")

    def explode(pub: Publication) -> None:
        raise RuntimeError("boom")

    await hub.subscribe(bad, "c")
    await hub.subscribe(good, "c")
    hub._live["c"]["bad"] = explode
    await publish(hub, "c", 2)
    assert isinstance(bad.failed, RuntimeError)
    assert good.offsets == [1, 2]
    assert hub.subscriber_count("c") == 1


async def test_presence_join_and_leave_events() -> None:
    hub = Hub(MemoryBroker())
    a, b = FakeSession("a"), FakeSession("b")
    await hub.subscribe(a, "room", presence={"client": "a", "user": "alice"})
    await hub.subscribe(b, "room", presence={"client": "b", "user": "bob"})
    assert [c["user"] for c in await hub.presence("room")] == ["alice", "bob"]
    assert a.events[-1] == {"event": "join", "channel": "room", "client": {"client": "b", "user": "bob"}}
    await hub.unsubscribe(b, "room")
    assert a.events[-1]["event"] == "leave"
    assert [c["user"] for c in await hub.presence("room")] == ["alice"]
    await hub.drop(a, ["room"])
    assert await hub.presence("room") == []


async def test_oversized_publication_is_too_large() -> None:
    hub = Hub(MemoryBroker(), max_message_size=10)
    with pytest.raises(RealtimeError) as info:
        await hub.publish("c", b"x" * 11)
    assert info.value.code is ErrorCode.TOO_LARGE


async def test_double_subscribe_and_unknown_unsubscribe_are_bad_requests() -> None:
    hub = Hub(MemoryBroker())
    s = FakeSession("s")
    await hub.subscribe(s, "c")
    with pytest.raises(RealtimeError):
        await hub.subscribe(s, "c")
    with pytest.raises(RealtimeError):
        await hub.unsubscribe(s, "other")


async def test_history_newest_and_since() -> None:
    hub = Hub(MemoryBroker())
    pubs = await publish(hub, "c", 6)
    newest = await hub.history("c", limit=2)
    assert [p.offset for p in newest.publications] == [5, 6]
    after = await hub.history("c", since=Position(pubs[0].epoch, 2), limit=3)
    assert [p.offset for p in after.publications] == [3, 4, 5]


async def test_history_expires_by_age() -> None:
    now = [1000.0]
    def clock() -> float:
        return now[0]

    hub = Hub(MemoryBroker(history_ttl=10, clock=clock), clock=clock)
    await publish(hub, "c", 2)
    now[0] += 11
    await publish(hub, "c", 1)
    assert [p.offset for p in (await hub.history("c")).publications] == [3]


async def test_a_gap_reported_by_the_broker_reaches_subscribers() -> None:
    hub = Hub(MemoryBroker())
    s = FakeSession("s")
    await hub.subscribe(s, "c")
    hub.on_gap("c", Position("e2", 7))
    assert s.events == [{"event": "gap", "channel": "c", "epoch": "e2", "offset": 7}]


class FailingHistoryBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.followed: list[str] = []

    async def subscribe(self, channel: str) -> None:
        self.followed.append(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.followed.remove(channel)

    async def history(self, channel: str, **kwargs: Any) -> HistoryResult:
        raise RealtimeError(ErrorCode.UNAVAILABLE, "store is down")


async def test_a_failed_subscribe_releases_the_broker_subscription() -> None:
    broker = FailingHistoryBroker()
    hub = Hub(broker)
    with pytest.raises(RealtimeError):
        await hub.subscribe(FakeSession("s"), "c", since=Position("e", 1))
    assert broker.followed == []
    assert hub.subscriber_count("c") == 0


async def test_resuming_exactly_max_recover_publications_recovers() -> None:
    hub = Hub(MemoryBroker(), max_recover=5)
    pubs = await publish(hub, "c", 8)
    exact, over = FakeSession("exact"), FakeSession("over")
    result = await hub.subscribe(exact, "c", since=Position(pubs[0].epoch, 3))
    assert (result.recovered, exact.offsets) == (True, [4, 5, 6, 7, 8])
    result = await hub.subscribe(over, "c", since=Position(pubs[0].epoch, 2))
    assert result.recovered is False
    assert over.offsets == [4, 5, 6, 7, 8]  # the newest max_recover


class PacedSession(FakeSession):
    """An outbox that takes ``room`` publications, then waits for the test to drain it."""

    def __init__(self, sid: str, room: int) -> None:
        super().__init__(sid)
        self.room = room
        self.drained = asyncio.Event()

    async def wait_writable(self) -> None:
        if len(self.pubs) % self.room == 0:
            self.drained.clear()
            await self.drained.wait()


async def paced_replay(hub: Hub) -> tuple[PacedSession, asyncio.Future[Any]]:
    """250 publications replayed to an outbox of 100, which is now full."""
    pubs = await publish(hub, "c", 250)
    s = PacedSession("s", room=100)
    task = asyncio.ensure_future(hub.subscribe(s, "c", since=Position(pubs[0].epoch, 0)))
    for _ in range(20):
        await asyncio.sleep(0)
    return s, task


async def test_a_replay_waits_for_the_outbox_and_keeps_live_publications() -> None:
    hub = Hub(MemoryBroker())
    s, task = await paced_replay(hub)
    assert s.offsets == list(range(1, 101))  # one outbox full, then it waits
    await publish(hub, "c", 3)  # live meanwhile: kept for after the replay
    s.drained.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(s.pubs) == 200
    s.drained.set()
    result = await task
    assert s.offsets == list(range(1, 254))
    assert (result.recovered, result.position.offset) == (True, 253)


async def test_closing_during_a_paced_replay_stops_it() -> None:
    hub = Hub(MemoryBroker())
    s, task = await paced_replay(hub)
    await hub.drop(s, ["c"])
    s.drained.set()
    with pytest.raises(RealtimeError, match="cancelled"):
        await task
    assert len(s.pubs) == 100 and hub.subscriber_count("c") == 0


async def test_history_is_paged_by_bytes() -> None:
    hub = Hub(MemoryBroker(), page_bytes=10_000)
    for i in range(10):
        await hub.publish("c", b'"%s"' % (b"x" * 3000))
    first = await hub.history("c", since=Position((await hub.position("c")).epoch, 0), limit=10)
    assert [p.offset for p in first.publications] == [1, 2, 3] and first.more is True
    rest = await hub.history("c", since=first.publications[-1].position, limit=10)
    assert [p.offset for p in rest.publications] == [4, 5, 6] and rest.more is True
    whole = await hub.history("c", since=Position(first.position.epoch, 9), limit=10)
    assert [p.offset for p in whole.publications] == [10] and whole.more is False
    big = Hub(MemoryBroker(), page_bytes=100)
    await big.publish("c", b'"%s"' % (b"x" * 3000))
    one = await big.history("c")
    assert len(one.publications) == 1 and one.more is False  # never an empty page


class FailingPresenceBroker(MemoryBroker):
    """add_presence fails the first time, as a store that is briefly unreachable does."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise RealtimeError(ErrorCode.UNAVAILABLE, "store is down")
        await super().add_presence(channel, client, info)


async def test_a_subscribe_whose_presence_fails_leaves_nothing() -> None:
    hub = Hub(FailingPresenceBroker())
    s = FakeSession("s")
    with pytest.raises(RealtimeError, match="store is down"):
        await hub.subscribe(s, "room", presence={"client": "s", "user": "alice"})
    assert not hub.is_subscribed(s, "room")
    await publish(hub, "room", 1)
    assert s.offsets == []  # not live behind the client's back
    await hub.subscribe(s, "room", presence={"client": "s", "user": "alice"})  # a retry works
    assert [c["user"] for c in await hub.presence("room")] == ["alice"]
    await publish(hub, "room", 1)
    assert s.offsets == [2]


async def test_closing_while_the_last_page_drains_cancels_cleanly() -> None:
    hub = Hub(MemoryBroker())
    pubs = await publish(hub, "c", 100)
    s = PacedSession("s", room=100)  # full exactly at the end of the replay
    task = asyncio.ensure_future(hub.subscribe(s, "c", since=Position(pubs[0].epoch, 0)))
    for _ in range(20):
        await asyncio.sleep(0)
    await hub.drop(s, ["c"])
    s.drained.set()
    with pytest.raises(RealtimeError, match="cancelled"):
        await task


async def test_publish_listeners_see_each_stored_publication_once() -> None:
    hub = Hub(MemoryBroker())
    seen: list[tuple[str, int]] = []

    def broken(pub: Publication) -> None:
        raise RuntimeError("a listener's bug")

    hub.on_published(broken)  # logged; neither the publish nor the next listener suffers
    hub.on_published(lambda pub: seen.append((pub.channel, pub.offset)))
    first = await hub.publish("c", b"1", idempotency_key="k")
    again = await hub.publish("c", b"1", idempotency_key="k")  # a duplicate: nothing stored
    await hub.publish("d", b"2")
    assert (first.offset, again.offset) == (1, 1)
    assert seen == [("c", 1), ("d", 1)]
