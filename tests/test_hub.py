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
