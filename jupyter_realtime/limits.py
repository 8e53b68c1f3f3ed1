"""Limits that keep one user from starving the others: pure bookkeeping, no I/O.

Public names: :class:`TokenBucket`, :class:`Limits`, :func:`over_budget`.

* publications per second per connection: a :class:`TokenBucket` per session (and one
  per user for REST publishes, which hold no connection);
* subscriptions per connection, connections per user, distinct channels per server;
* total outbox memory: :func:`over_budget` picks the connections to drop (the largest
  outboxes first) when the sum of every outbox is above the budget.

A limit that is reached raises ``RealtimeError(rate_limited)`` saying which limit, and
only for the one who reached it: a session's bucket is its own, the connection count is
per user, and the outbox budget drops the slowest readers, never a publisher.
Every number is a ``RealtimeApp`` trait (units and defaults are in their help); 0 means
no limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorCode, RealtimeError

__all__ = ["Limits", "TokenBucket", "over_budget"]

MAX_USER_BUCKETS = 10_000  # REST buckets kept before idle ones are forgotten


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    __slots__ = ("rate", "burst", "tokens", "stamp", "clock")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if there are that many (True), else take none (False)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    @property
    def full(self) -> bool:
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst


def over_budget(sizes: Iterable[tuple[Any, int]], budget: int) -> list[Any]:
    """The keys to drop, largest first, so that the rest of ``sizes`` fits in ``budget``."""
    pairs = list(sizes)
    total = sum(size for _, size in pairs)
    victims = []
    for key, size in sorted(pairs, key=lambda pair: pair[1], reverse=True):
        if total <= budget or size == 0:
            break
        victims.append(key)
        total -= size
    return victims


def _limited(message: str) -> RealtimeError:
    return RealtimeError(ErrorCode.RATE_LIMITED, message)


@dataclass
class Limits:
    """The limits of one server and the counters they need (see ``RealtimeApp``)."""

    publish_rate: float = 0.0
    publish_burst: int = 0
    max_subscriptions: int = 0
    max_connections_per_user: int = 0
    max_channels: int = 0
    max_outbox_total: int = 0
    clock: Callable[[], float] = time.monotonic
    # username -> open connections (sessions); channel names seen
    connections: dict[str, set[Hashable]] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    _user_buckets: dict[str, TokenBucket] = field(default_factory=dict)

    # -- publications per second --

    def publish_bucket(self) -> TokenBucket | None:
        """A new connection's bucket (None without a rate limit)."""
        if self.publish_rate <= 0:
            return None
        return TokenBucket(self.publish_rate, max(self.publish_burst, 1), self.clock)

    def take_publish(self, bucket: TokenBucket | None) -> None:
        if bucket is not None and not bucket.take():
            raise _limited(
                f"more than {self.publish_rate:g} publications a second "
                f"(burst {bucket.burst:g}) on this connection"
            )

    def user_bucket(self, username: str) -> TokenBucket | None:
        """The bucket of a user's REST publishes (shared by all their requests)."""
        if self.publish_rate <= 0:
            return None
        bucket = self._user_buckets.get(username)
        if bucket is None:
            if len(self._user_buckets) >= MAX_USER_BUCKETS:
                self._user_buckets = {u: b for u, b in self._user_buckets.items() if not b.full}
            bucket = TokenBucket(self.publish_rate, max(self.publish_burst, 1), self.clock)
            self._user_buckets[username] = bucket
        return bucket

    # -- subscriptions per connection, channels per server --

    def check_subscriptions(self, current: int) -> None:
        if self.max_subscriptions and current >= self.max_subscriptions:
            raise _limited(
                f"a connection may hold {self.max_subscriptions} subscriptions at most"
            )

    def admit_channel(self, channel: str) -> None:
        """Count a channel this server uses; refuse a new one above ``max_channels``."""
        if not self.max_channels or channel in self.channels:
            return
        if len(self.channels) >= self.max_channels:
            raise _limited(
                f"the server holds its maximum of {self.max_channels} channels; "
                f"cannot open {channel!r}"
            )
        self.channels.add(channel)

    # -- connections per user --

    def connect(self, username: str, connection: Hashable) -> None:
        """Count a new connection of ``username``; refuse it above the limit."""
        mine = self.connections.setdefault(username, set())
        if self.max_connections_per_user and len(mine) >= self.max_connections_per_user:
            if not mine:
                del self.connections[username]
            raise _limited(
                f"user {username!r} has {len(mine)} connections open, the limit"
            )
        mine.add(connection)

    def disconnect(self, username: str, connection: Hashable) -> None:
        mine = self.connections.get(username)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self.connections[username]

    def open_connections(self) -> int:
        return sum(len(c) for c in self.connections.values())
