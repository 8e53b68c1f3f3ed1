"""Limits without a server: the token bucket, counters and the outbox budget."""

from __future__ import annotations

import pytest

from jupyter_realtime.errors import RealtimeError
from jupyter_realtime.limits import Limits, TokenBucket, over_budget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 3, clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.05  # half a token
    assert not bucket.take()
    clock.now = 0.1
    assert bucket.take() and not bucket.take()
    clock.now = 100.0  # never more than the burst saved up
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_token_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_publish_rate_error_names_the_limit() -> None:
    limits = Limits(publish_rate=2, publish_burst=1, clock=Clock())
    bucket = limits.publish_bucket()
    limits.take_publish(bucket)
    with pytest.raises(RealtimeError) as info:
        limits.take_publish(bucket)
    assert info.value.code.value == "rate_limited"
    assert "2 publications a second" in info.value.message
    assert Limits().publish_bucket() is None


def test_user_buckets_are_per_user_and_forgotten_when_idle() -> None:
    clock = Clock()
    limits = Limits(publish_rate=1, publish_burst=1, clock=clock)
    limits.take_publish(limits.user_bucket("alice"))
    with pytest.raises(RealtimeError):
        limits.take_publish(limits.user_bucket("alice"))
    limits.take_publish(limits.user_bucket("bob"))  # alice's limit is not bob's
    clock.now = 10
    for i in range(10_001):
        limits.user_bucket(f"u{i}")
    assert len(limits._user_buckets) < 10_001


def test_connections_per_user() -> None:
    limits = Limits(max_connections_per_user=2)
    limits.connect("alice", 1)
    limits.connect("alice", 2)
    with pytest.raises(RealtimeError, match="'alice' has 2 connections"):
        limits.connect("alice", 3)
    limits.connect("bob", 4)
    limits.disconnect("alice", 1)
    limits.connect("alice", 3)
    assert limits.open_connections() == 3
    for conn in (2, 3):
        limits.disconnect("alice", conn)
    limits.disconnect("alice", 99)
    assert limits.connections == {"bob": {4}}


def test_subscriptions_and_channels() -> None:
    limits = Limits(max_subscriptions=2, max_channels=2)
    limits.check_subscriptions(1)
    with pytest.raises(RealtimeError, match="2 subscriptions"):
        limits.check_subscriptions(2)
    limits.admit_channel("a", "alice")
    limits.admit_channel("b", "alice")
    limits.admit_channel("a", "bob")
    with pytest.raises(RealtimeError, match="maximum of 2 live channels"):
        limits.admit_channel("c", "alice")
    unlimited = Limits()
    unlimited.check_subscriptions(10**6)
    unlimited.admit_channel("c", "alice")
    assert unlimited.channels == {}


def test_channels_count_while_live_only() -> None:
    live = {"a", "b"}
    clock = Clock()
    limits = Limits(max_channels=2, live=live.__contains__, clock=clock)
    limits.admit_channel("a", "alice")
    limits.admit_channel("b", "alice")
    with pytest.raises(RealtimeError, match="maximum of 2 live channels"):
        limits.admit_channel("c", "alice")
    live.discard("a")  # the broker let "a" go
    clock.now += 2  # a recount that freed nothing is repeated a second later at most
    limits.admit_channel("c", "alice")
    assert limits.channels == {"b": "alice", "c": "alice"}


def test_a_user_that_fills_its_share_does_not_lock_out_another() -> None:
    clock = Clock()
    live: set[str] = set()
    limits = Limits(max_channels=10, max_channels_per_user=3, live=live.__contains__, clock=clock)
    for name in ("m1", "m2", "m3"):
        limits.admit_channel(name, "mallory")
        live.add(name)
    with pytest.raises(RealtimeError, match="'mallory' has opened 3 live channels"):
        limits.admit_channel("m4", "mallory")
    limits.admit_channel("a1", "alice")  # mallory's share is hers alone
    live.add("a1")
    limits.admit_channel("m1", "alice")  # a channel that exists costs nobody more
    live.discard("m1")
    clock.now += 2
    limits.admit_channel("m4", "mallory")
    assert sorted(limits.channels) == ["a1", "m2", "m3", "m4"]


def test_over_budget_drops_the_largest_first() -> None:
    sizes = [("a", 10), ("b", 500), ("c", 300), ("d", 0)]
    assert over_budget(sizes, 1000) == []
    assert over_budget(sizes, 400) == ["b"]
    assert over_budget(sizes, 100) == ["b", "c"]
    assert over_budget(sizes, 0) == ["b", "c", "a"]


async def test_outbox_budget_drops_the_largest_outbox_and_keeps_the_others() -> None:
    from jupyter_realtime.brokers.memory import MemoryBroker
    from jupyter_realtime.errors import SLOW_CONSUMER
    from jupyter_realtime.hub import Hub
    from jupyter_realtime.session import Identity, SessionState
    from jupyter_realtime.transports.context import RealtimeContext
    from jupyter_realtime.transports.polling import QueueTransport

    context = RealtimeContext(hub=Hub(MemoryBroker()), limits=Limits(max_outbox_total=1000))
    small, big = QueueTransport(10**6), QueueTransport(10**6)
    reader = context.new_session(small, Identity("alice"))
    slow = context.new_session(big, Identity("bob"))
    small.write_frame({"x": "a" * 100})
    big.write_frame({"x": "b" * 2000})
    context.check_outboxes()
    assert slow.state is SessionState.CLOSED and big.disconnect is SLOW_CONSUMER
    assert reader.state is SessionState.OPEN and small.disconnect is None
    assert context.limits.connections == {"alice": {reader}}


def test_channels_let_go_are_forgotten_without_reaching_a_limit() -> None:
    live: set[str] = set()
    limits = Limits(max_channels=100_000, live=live.__contains__, clock=Clock())
    for i in range(50_000):  # each is let go at once: the table must not keep them
        limits.admit_channel(f"c{i}", "alice")
    assert len(limits.channels) < 2048
